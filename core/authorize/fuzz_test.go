package authorize

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// FuzzAuthorizeParams feeds arbitrary query strings to the authorization
// request checks: they must never panic, and what they accept or echo
// must keep the wire rules (scope characters, RFC 6749 error_description
// characters, resources absolute without fragment).
func FuzzAuthorizeParams(f *testing.F) {
	for _, seed := range []string{
		"scope=openid+profile&prompt=login&max_age=0&resource=https%3A%2F%2Fapi.example.com%2F",
		"scope=%22x%22&prompt=none+login&max_age=-1&resource=%2Frel",
		"resource=a%3Ab&resource=urn%3Ax%23f&prompt=&max_age=99999999999999999999",
		"scope=%00%ff&prompt=%e2%80%8b",
	} {
		f.Add(seed, "openid profile")
	}
	f.Fuzz(func(t *testing.T, query, registered string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		if scope, oerr := checkScope(values.Get("scope"), registered, (&config.Config{}).RegistrableScopes()); oerr == nil && scope != registered {
			for i := 0; i < len(scope); i++ {
				if b := scope[i]; b < 0x20 || b == '"' || b == '\\' || b > 0x7e {
					t.Fatalf("accepted scope %q has byte %#x", scope, b)
				}
			}
		} else if oerr != nil {
			checkDescription(t, oerr.Description)
		}
		if _, _, oerr := checkPrompt(values); oerr != nil {
			checkDescription(t, oerr.Description)
		}
		if rs, oerr := oauth.CheckResources(values["resource"]); oerr == nil {
			for _, r := range rs {
				if u, err := url.Parse(r); err != nil || !u.IsAbs() || strings.Contains(r, "#") {
					t.Fatalf("accepted resource %q", r)
				}
			}
		}
		checkDescription(t, oauth.CleanDescription(query, 64))
		if got := withQuery("http://127.0.0.1/cb?a=1", values); !strings.HasPrefix(got, "http://127.0.0.1/cb?a=1") {
			t.Fatalf("withQuery lost the registered query: %q", got)
		}
	})
}

func checkDescription(t *testing.T, d string) {
	t.Helper()
	for i := 0; i < len(d); i++ {
		if b := d[i]; b < 0x20 || b == '"' || b == '\\' || b > 0x7e {
			t.Fatalf("description %q has byte %#x outside RFC 6749 section 4.1.2.1", d, b)
		}
	}
}
