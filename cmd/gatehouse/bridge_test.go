package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestBridgePurge: `gatehouse bridge purge --within` drops the grants that
// expire within the window from a stopped server's data directory.
func TestBridgePurge(t *testing.T) {
	now := time.Now()
	stoppedDataDir(t, func(st *store.Store) {
		for id, exp := range map[string]time.Time{"bridge-idle": now.Add(time.Hour), "bridge-busy": now.Add(48 * time.Hour)} {
			if err := st.BridgeGrants.Put(context.Background(), id, store.BridgeGrant{ClientID: id, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"purge"}, "purged 0 bridged grants"},
		{[]string{"purge", "--within", "24h"}, "purged 1 bridged grants"},
		{[]string{"purge", "--within", "24h"}, "purged 0 bridged grants"},
	} {
		var out bytes.Buffer
		if err := runBridge(context.Background(), tc.args, &out); err != nil || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: %q %v, want %q", tc.args, out.String(), err, tc.want)
		}
	}
	for _, bad := range [][]string{nil, {"list"}, {"purge", "--within", "-1h"}} {
		if err := runBridge(context.Background(), bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
