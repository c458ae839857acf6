package upstream

import (
	"reflect"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

func ptr(b bool) *bool { return &b }

// TestProfileOf: the upstream's email_verified (a boolean, or the string
// some providers send) goes with its email; preferred_username (GitHub's
// login) is the user name.
func TestProfileOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   store.Profile
	}{
		{"oidc", map[string]any{"email": "a@example.com", "email_verified": true, "name": "A", "preferred_username": "a"},
			store.Profile{Email: "a@example.com", EmailVerified: ptr(true), DisplayName: "A", Username: "a"}},
		{"string false", map[string]any{"email": "a@example.com", "email_verified": "false"},
			store.Profile{Email: "a@example.com", EmailVerified: ptr(false)}},
		{"not said", map[string]any{"email": "a@example.com", "email_verified": "yes"}, store.Profile{Email: "a@example.com"}},
		{"no email", map[string]any{"email_verified": true}, store.Profile{}},
		{"github", map[string]any{"login": "octo", "avatar_url": "https://img/o"},
			store.Profile{DisplayName: "octo", Username: "octo", Picture: "https://img/o"}},
	} {
		if got := profileOf(tc.claims); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestLiftProfile: a sign_in plugin's profile claims override the
// profile and leave the extra claims; a changed email without
// email_verified is unverified; a claim of the wrong type is refused.
func TestLiftProfile(t *testing.T) {
	upstream := store.Profile{Email: "a@example.com", EmailVerified: ptr(true), DisplayName: "A"}
	for _, tc := range []struct {
		name      string
		claims    map[string]any
		want      store.Profile
		wantRest  map[string]any
		wantError bool
	}{
		{"none", map[string]any{"team": "x"}, upstream, map[string]any{"team": "x"}, false},
		{"all", map[string]any{"email": "b@example.com", "email_verified": false, "name": "B", "preferred_username": "b", "picture": "p", "team": "x"},
			store.Profile{Email: "b@example.com", EmailVerified: ptr(false), DisplayName: "B", Username: "b", Picture: "p"}, map[string]any{"team": "x"}, false},
		{"new email unverified", map[string]any{"email": "c@example.com"},
			store.Profile{Email: "c@example.com", DisplayName: "A"}, nil, false},
		{"same email stays verified", map[string]any{"email": "A@example.com"},
			store.Profile{Email: "A@example.com", EmailVerified: ptr(true), DisplayName: "A"}, nil, false},
		{"email not a string", map[string]any{"email": 42}, store.Profile{}, nil, true},
		{"email_verified a string", map[string]any{"email_verified": "true"}, store.Profile{}, nil, true},
		{"name null", map[string]any{"name": nil}, store.Profile{}, nil, true},
	} {
		got, rest, err := liftProfile(upstream, tc.claims)
		if tc.wantError {
			if err == nil {
				t.Errorf("%s: accepted: %+v", tc.name, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(rest, tc.wantRest) {
			t.Errorf("%s: %+v %v %v, want %+v %v", tc.name, got, rest, err, tc.want, tc.wantRest)
		}
	}
}

// TestShapedProfile: an auth_handler's profile replaces the upstream's;
// the fields it does not answer carry over, email_verified only for the
// same address.
func TestShapedProfile(t *testing.T) {
	upstream := store.Profile{Email: "a@example.com", EmailVerified: ptr(true), Username: "a", DisplayName: "A"}
	if got := shapedProfile(upstream, store.Profile{Email: "a@example.com", DisplayName: "Alice"}); !reflect.DeepEqual(got,
		store.Profile{Email: "a@example.com", EmailVerified: ptr(true), Username: "a", DisplayName: "Alice"}) {
		t.Errorf("same email: %+v", got)
	}
	if got := shapedProfile(upstream, store.Profile{Email: "b@example.com"}); got.EmailVerified != nil || got.Username != "a" {
		t.Errorf("other email: %+v", got)
	}
}
