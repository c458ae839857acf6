package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/token"
)

// TestIdentityTokenClaims: a Backstage identity token carries the
// identity's extra claims, never in place of a registered one, and
// verifying it gives back exactly those extra claims.
func TestIdentityTokenClaims(t *testing.T) {
	iss, cfg, _ := newIssuer(t, "ES256")
	ctx := context.Background()
	tests := []struct {
		name      string
		claims    map[string]any
		wantExtra map[string]any
	}{
		{"none", nil, nil},
		{"extra", map[string]any{"team": "platform", "groups": []any{"a", "b"}},
			map[string]any{"team": "platform", "groups": []any{"a", "b"}}},
		{"registered names dropped", map[string]any{"team": "platform", "sub": "user:default/mallory", "iss": "https://evil.example",
			"aud": "other", "exp": float64(1), "iat": float64(1), "ent": []any{"group:default/admins"}, "nbf": float64(9999999999)},
			map[string]any{"team": "platform"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _, err := iss.IdentityToken(ctx, token.Identity{
				Subject: "user:default/alice", Ownership: []string{"user:default/alice"}, Claims: tt.claims,
			})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			var all map[string]any
			if err := json.Unmarshal(payload, &all); err != nil {
				t.Fatal(err)
			}
			if all["sub"] != "user:default/alice" || all["iss"] != cfg.Issuer() || all["aud"] != token.BackstageAudience ||
				!slices.Equal(all["ent"].([]any), []any{"user:default/alice"}) || all["nbf"] != nil {
				t.Errorf("registered claims %v", all)
			}
			id, err := iss.VerifyIdentityToken(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(id.Claims)
			want, _ := json.Marshal(tt.wantExtra)
			if id.Subject != "user:default/alice" || string(got) != string(want) {
				t.Errorf("verified %s claims %s, want %s", id.Subject, got, want)
			}
		})
	}
}
