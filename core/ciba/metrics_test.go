package ciba_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// metrics GETs /metrics with the admin token, which guards it.
func (e *env) metrics() (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, e.origin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	return http.DefaultClient.Do(req)
}

// tokensIssued reads gatehouse_tokens_issued_total for the CIBA grant and
// kind from /metrics (0 when the series does not exist yet).
func (e *env) tokensIssued(tb testing.TB, kind string) float64 {
	tb.Helper()
	resp, err := e.metrics()
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		tb.Fatalf("/metrics: %s %s", resp.Status, raw)
	}
	prefix := `gatehouse_tokens_issued_total{grant_type="urn:openid:params:grant-type:ciba",kind="` + kind + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("/metrics: %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	return 0
}

// TestTokensIssuedCounted: the tokens of the CIBA grant, polled or
// pushed, are counted in gatehouse_tokens_issued_total like every other
// grant's, the push-mode ID token included.
func TestTokensIssuedCounted(t *testing.T) {
	e := start(t, options{})
	kinds := []string{"access", "id", "refresh"}
	counts := func() map[string]float64 {
		m := map[string]float64{}
		for _, k := range kinds {
			m[k] = e.tokensIssued(t, k)
		}
		return m
	}
	expectOneMore := func(what string, before map[string]float64) {
		t.Helper()
		after := counts()
		for _, k := range kinds {
			if after[k] != before[k]+1 {
				t.Errorf("%s: %s tokens counted %v → %v, want one more", what, k, before[k], after[k])
			}
		}
	}

	poll := e.client(t, "poll", "", nil)
	id := e.startRequest(t, poll, loginHint("guest"))
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	before := counts()
	if status, body := e.poll(t, poll, id); status != 200 || body["id_token"] == nil || body["refresh_token"] == nil {
		t.Fatalf("poll: %d %v", status, body)
	}
	expectOneMore("poll", before)

	rcv := newReceiver(t)
	push := e.client(t, "push", rcv.URL, nil)
	id = e.startRequest(t, push, loginHint("guest", "client_notification_token", "count-me"))
	before = counts()
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	if got := rcv.next(t); got.Body["id_token"] == nil || got.Body["refresh_token"] == nil {
		t.Fatalf("push body %v", got.Body)
	}
	expectOneMore("push", before)
}
