package token_test

import (
	"context"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// TestAccessTokenDiesWithItsClient: deleting a client (RFC 7592 §2.3) is
// the revocation of its access tokens, those outside any grant
// (client_credentials) included: verification refuses them invalid_token.
func TestAccessTokenDiesWithItsClient(t *testing.T) {
	t.Parallel()
	iss, _, st := newIssuer(t, "ES256")
	ctx := context.Background()
	at, err := iss.AccessToken(ctx, token.AccessRequest{ClientID: "machine", Subject: "machine", ForClient: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.VerifyAccessToken(ctx, at.Token); err != nil {
		t.Fatalf("before the delete: %v", err)
	}
	if err := st.Clients.Delete(ctx, "machine"); err != nil {
		t.Fatal(err)
	}
	_, err = iss.VerifyAccessToken(ctx, at.Token)
	if oe := oauth.AsError(err); err == nil || oe.Code != "invalid_token" {
		t.Fatalf("after the delete: %v, want invalid_token", err)
	}
}
