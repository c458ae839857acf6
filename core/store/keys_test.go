package store_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// keySpaces pins every key space to the name its records have on disk:
// changing one of these strings orphans existing data, so a rename must
// fail here first.
var keySpaces = []struct{ got, want string }{
	{store.ClientsPrefix, "client"},
	{store.AuthRequestsPrefix, "authreq"},
	{store.CodesPrefix, "code"},
	{store.GrantsPrefix, "grant"},
	{store.RefreshTokensPrefix, "refresh"},
	{store.RevocationsPrefix, "revoked"},
	{store.SigningKeysPrefix, "key"},
	{store.LoginSessionsPrefix, "login"},
	{store.BackchannelPrefix, "ciba"},
	{store.DeliveriesPrefix, "delivery"},
	{store.ConsentsPrefix, "consent"},
	{store.BackchannelGrantsPrefix, "cibagrant"},
	{store.BackchannelByUserPrefix, "cibauser"},
	{store.RequestObjectJTIsPrefix, "cibajti"},
	{store.UserCodeFailuresPrefix, "usercode-failures"},
	{store.CSRFPrefix, "csrf"},
	{store.UpstreamStatesPrefix, "upstream-state"},
	{store.UpstreamSessionsPrefix, "upstream-session"},
	{store.BridgeGrantsPrefix, "bridge"},
	{store.PluginKVPrefix, "plugin"},
	{store.ReadyProbePrefix, "readyz"},
	{store.MetaPrefix, "\x00gatehouse"},
}

func TestKeySpacesArePinned(t *testing.T) {
	for _, s := range keySpaces {
		if s.got != s.want {
			t.Errorf("key space %q was renamed to %q: existing records would be lost", s.want, s.got)
		}
	}
	if store.ReadyProbeKey != "readyz/probe" {
		t.Errorf("ReadyProbeKey = %q, want readyz/probe", store.ReadyProbeKey)
	}
	if got := store.PluginKVKey("mail", "last"); got != "plugin/mail/last" {
		t.Errorf("PluginKVKey = %q, want plugin/mail/last", got)
	}
}

// A scan of one space must never see another's records: no space's
// prefix + "/" may start another's.
func TestKeySpacesAreDisjoint(t *testing.T) {
	for i, a := range keySpaces {
		for j, b := range keySpaces {
			if i != j && strings.HasPrefix(b.got+"/", a.got+"/") {
				t.Errorf("a scan of %q sees the records of %q", a.got, b.got)
			}
		}
	}
	// Plugin names never contain "/": one plugin's namespace never holds
	// another's, even when one name starts the other.
	for _, pair := range [][2]string{{"a", "ab"}, {"ab", "a"}, {"mail", "mail-2"}} {
		if strings.HasPrefix(store.PluginKVSpace(pair[1]), store.PluginKVSpace(pair[0])) {
			t.Errorf("plugin %q's namespace holds plugin %q's keys", pair[0], pair[1])
		}
	}
}

// Every collection and space of store.New writes its records at its
// pinned prefix + "/" + id, and no two of them share a prefix.
func TestStoreWritesUnderPinnedPrefixes(t *testing.T) {
	pinned := map[string]bool{}
	for _, s := range keySpaces {
		pinned[s.want] = true
	}
	ctx := context.Background()
	seen := map[string]string{}
	fields := reflect.TypeFor[store.Store]()
	for i := range fields.NumField() {
		f := fields.Field(i)
		if f.Name == "KV" {
			continue
		}
		kv := memory.New()
		st := reflect.ValueOf(store.New(kv)).Elem().Field(i)
		create := st.MethodByName("Create")
		args := []reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf("id")}
		if _, raw := st.Interface().(store.Space); raw {
			args = append(args, reflect.ValueOf([]byte{1}), reflect.ValueOf(time.Time{}))
		} else {
			rec := reflect.New(create.Type().In(2)).Elem()
			if exp := rec.FieldByName("ExpiresAt"); exp.IsValid() {
				exp.Set(reflect.ValueOf(time.Now().Add(time.Hour)))
			}
			args = append(args, rec)
		}
		if err, _ := create.Call(args)[0].Interface().(error); err != nil {
			t.Fatalf("%s.Create: %v", f.Name, err)
		}
		var keys []string
		if err := kv.Scan(ctx, "", func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || !strings.HasSuffix(keys[0], "/id") {
			t.Fatalf("%s wrote %q, want one key ending in /id", f.Name, keys)
		}
		prefix := strings.TrimSuffix(keys[0], "/id")
		if !pinned[prefix] {
			t.Errorf("%s writes under %q, which is not a pinned key space", f.Name, prefix)
		}
		if other, dup := seen[prefix]; dup {
			t.Errorf("%s and %s both write under %q", other, f.Name, prefix)
		}
		seen[prefix] = f.Name
		if got := st.MethodByName("Prefix").Call(nil)[0].String(); got != prefix+"/" {
			t.Errorf("%s.Prefix() = %q, want %q", f.Name, got, prefix+"/")
		}
		_ = kv.Close()
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"a", "b"}, {"user/", "user0"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"a\xfe\xff", "a\xff"},
	} {
		if got := string(store.PrefixEnd([]byte(tc.in))); got != tc.want {
			t.Errorf("store.PrefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
