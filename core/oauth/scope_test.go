package oauth_test

import (
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in     string
		values []string
		bad    string
	}{
		{"", nil, ""},
		{"openid", []string{"openid"}, ""},
		{"openid  profile openid ", []string{"openid", "profile"}, ""},
		{"catalog:read a!#[]^~", []string{"catalog:read", "a!#[]^~"}, ""},
		{"openid\tprofile", nil, "openid\tprofile"},
		{"openid profile\n", nil, "profile\n"},
		{`a "quoted"`, nil, `"quoted"`},
		{`back\slash`, nil, `back\slash`},
		{"caf\u00e9", nil, "caf\u00e9"},
	} {
		values, bad := oauth.ParseScope(tc.in)
		if !slices.Equal(values, tc.values) || bad != tc.bad {
			t.Errorf("ParseScope(%q) = %q, %q; want %q, %q", tc.in, values, bad, tc.values, tc.bad)
		}
	}
}
