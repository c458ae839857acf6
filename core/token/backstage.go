package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/core/keyset"
)

// TypeLimitedUser is the "typ" of Backstage's limited user tokens, which a
// Backstage backend rebuilds from a user token's identity proof when it
// calls another plugin on the user's behalf.
const TypeLimitedUser = "vnd.backstage.limited-user"

var b64 = base64.RawURLEncoding

// userIdentityProof is the "uip" claim of a Backstage user token, as
// Backstage's token factory makes it: the JWS signature, by the key that
// signs the user token, of a limited user token whose protected header is
// {"typ","alg","kid"} and whose payload is {"sub","iat","exp"}, each in
// that order and serialised as JSON.stringify does. A Backstage backend
// forwarding the user's credentials (auth.getPluginRequestToken with
// onBehalfOf) rebuilds that header and payload from the user token and
// appends this signature; the receiving plugin verifies the result
// against the issuer's JWKS. Without it Backstage refuses with "missing
// user identity proof".
func userIdentityProof(key keyset.SigningKey, sub string, iat, exp int64) (string, error) {
	header, err := compactJSON(struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{TypeLimitedUser, string(key.Alg), key.ID})
	if err != nil {
		return "", err
	}
	payload, err := compactJSON(struct {
		Sub string `json:"sub"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{sub, iat, exp})
	if err != nil {
		return "", err
	}
	input := make([]byte, 0, b64.EncodedLen(len(header))+1+b64.EncodedLen(len(payload)))
	input = b64.AppendEncode(input, header)
	input = append(input, '.')
	input = b64.AppendEncode(input, payload)
	sig, err := key.Sign(input)
	if err != nil {
		return "", fmt.Errorf("token: sign user identity proof: %w", err)
	}
	return b64.EncodeToString(sig), nil
}

// compactJSON encodes v as JSON.stringify would for plain strings and
// numbers: no HTML escaping (encoding/json turns < > & into \u003c...,
// which JavaScript does not). U+2028 and U+2029 remain escaped, which
// JavaScript does not do; no entity ref contains them.
func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// AccessProfile is the form of an access token.
type AccessProfile int

const (
	// ProfileJWT is an RFC 9068 JWT access token (typ at+jwt).
	ProfileJWT AccessProfile = iota
	// ProfileBackstage is a Backstage user token (typ vnd.backstage.user,
	// aud backstage, sub an entity ref, ent, uip), which Backstage
	// backends accept as a user's credentials.
	ProfileBackstage
)

// Profile picks an access token's audience and form. The audience is what
// the client asked for with RFC 8707 resource parameters or, when it named
// none, tokens.default_audience (the issuer when that is empty). A user's
// token whose audience is "backstage" alone is a Backstage user token;
// every other token is RFC 9068 for its audience. A client's own token
// (client_credentials) is never a Backstage user token, nor for the
// audience "backstage" in any form, as a Backstage backend would take its
// subject (the client id) for a user: it is for the issuer.
func (i *Issuer) Profile(req AccessRequest) ([]string, AccessProfile) {
	if len(req.Audience) > 0 {
		return req.Audience, ProfileJWT
	}
	def := i.cfg.Tokens.DefaultAudience
	switch {
	case def == "":
		return i.issAud, ProfileJWT
	case def == BackstageAudience && req.ForClient:
		return i.issAud, ProfileJWT
	case def == BackstageAudience:
		return backstageAud, ProfileBackstage
	}
	return []string{def}, ProfileJWT
}

var backstageAud = []string{BackstageAudience}
