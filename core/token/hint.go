package token

import (
	"context"
	"errors"
	"slices"
)

// IDTokenHint is what an id_token_hint this server issued says.
type IDTokenHint struct {
	Subject  string
	Audience []string
}

// ErrNotOurIDToken is a hint that is not an ID token signed by this
// server's keys for its issuer.
var ErrNotOurIDToken = errors.New("not an ID token issued by this server")

// VerifyIDTokenHint checks an id_token_hint (OIDC Core §3.1.2.1, OpenID
// Connect RP-Initiated Logout 1.0 §2): the signature with this server's
// keys, the JWT type of an ID token and the issuer. Its expiry is not
// checked: a hint names who the token was about, and a relying party may
// well send one that has expired.
func (i *Issuer) VerifyIDTokenHint(ctx context.Context, raw string) (IDTokenHint, error) {
	jws, err := i.keys.Verify(ctx, raw)
	if err != nil || !equalFold(jws.Type, TypeID) {
		return IDTokenHint{}, ErrNotOurIDToken
	}
	var c struct {
		Issuer   string   `json:"iss"`
		Subject  string   `json:"sub"`
		Audience audience `json:"aud"`
	}
	if err := unmarshalClaims(jws.Payload, &c); err != nil || c.Issuer != i.iss || c.Subject == "" || len(c.Audience) == 0 {
		return IDTokenHint{}, ErrNotOurIDToken
	}
	return IDTokenHint{Subject: c.Subject, Audience: slices.Clone([]string(c.Audience))}, nil
}

// IssuedTo reports whether the hint was issued to clientID.
func (h IDTokenHint) IssuedTo(clientID string) bool { return slices.Contains(h.Audience, clientID) }
