package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Signed authentication requests (CIBA Core §7.1.1).
const (
	// maxRequestLifetime bounds exp - nbf, so that a captured request
	// object cannot be replayed for long (as FAPI-CIBA §5.2.2 requires).
	maxRequestLifetime = 60 * time.Minute
	clockLeeway        = 30 * time.Second
)

// registered claims of the request object, not request parameters.
var registeredClaims = map[string]bool{"iss": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true}

// outsideParams may stand outside the request object: client
// authentication and the object itself.
var outsideParams = map[string]bool{"request": true, "client_id": true, "client_secret": true}

// verifyRequestObject checks the request parameter of a client registered
// with backchannel_authentication_request_signing_alg (CIBA Core §7.1.1):
// signed with that alg by one of the client's registered keys, iss the
// client, aud this issuer, exp/iat/nbf/jti present and current, jti never
// seen before. It returns the authentication request parameters, taken
// from the object only.
func (s *Service) verifyRequestObject(ctx context.Context, outer oauth.Params, cl *store.Client) (oauth.Params, error) {
	bad := func(format string, args ...any) error {
		return oauth.ErrInvalidRequest().WithDescription("request: "+format, args...)
	}
	raw := outer.Get("request")
	if raw == "" {
		return nil, bad("this client must send a signed authentication request (CIBA Core §7.1.1)")
	}
	for name := range outer {
		if !outsideParams[name] {
			return nil, bad("parameter %s must be inside the signed request, not beside it", name)
		}
	}
	alg := jose.SignatureAlgorithm(cl.BackchannelAuthenticationRequestSigningAlg)
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return nil, bad("not a JWS signed with %s", alg)
	}
	keys, err := s.clientKeys(ctx, cl, false)
	if err != nil {
		return nil, oauth.ErrInvalidClient().WithDescription("the client's registered keys are unusable").WithParent(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	payload := verifyWith(jws, keys, kid)
	if payload == nil && cl.JWKSURI != "" && kid != "" && !hasKID(keys, kid) {
		// A kid the cached set lacks: the client may have rotated its
		// keys. Fetch once more, whatever the cache's age.
		if keys, err = s.clientKeys(ctx, cl, true); err != nil {
			return nil, oauth.ErrInvalidClient().WithDescription("the client's registered keys are unusable").WithParent(err)
		}
		payload = verifyWith(jws, keys, kid)
	}
	if payload == nil {
		return nil, bad("the signature does not verify with the client's registered keys")
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, bad("the payload is not a JSON object")
	}
	var iss, jti string
	var exp, iat, nbf float64
	for _, c := range []struct {
		name string
		dst  any
	}{{"iss", &iss}, {"jti", &jti}, {"exp", &exp}, {"iat", &iat}, {"nbf", &nbf}} {
		v, ok := claims[c.name]
		if !ok || json.Unmarshal(v, c.dst) != nil {
			return nil, bad("claim %s is missing or malformed (CIBA Core §7.1.1)", c.name)
		}
	}
	if iss != cl.ID {
		return nil, bad("iss must be the client_id")
	}
	if !audienceHas(claims["aud"], s.cfg.Issuer()) {
		return nil, bad("aud must be this server's issuer identifier %s", s.cfg.Issuer())
	}
	now := s.now()
	expAt, nbfAt := time.Unix(int64(exp), 0), time.Unix(int64(nbf), 0)
	switch {
	case !now.Before(expAt.Add(clockLeeway)):
		return nil, bad("the request has expired")
	case now.Add(clockLeeway).Before(nbfAt):
		return nil, bad("the request is not valid yet (nbf)")
	case expAt.Sub(nbfAt) > maxRequestLifetime:
		return nil, bad("exp must be at most %s after nbf", maxRequestLifetime)
	case jti == "" || len(jti) > 256:
		return nil, bad("jti must be 1 to 256 characters")
	}
	if err := s.spendJTI(ctx, cl.ID, jti, expAt.Add(clockLeeway)); err != nil {
		return nil, err
	}
	params := oauth.Params{}
	for name, v := range claims {
		if registeredClaims[name] {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) == nil {
			params[name] = str
			continue
		}
		var num json.Number
		if name == "requested_expiry" && json.Unmarshal(v, &num) == nil {
			if _, err := strconv.ParseInt(num.String(), 10, 64); err == nil {
				params[name] = num.String()
				continue
			}
		}
		return nil, bad("claim %s must be a string", name)
	}
	return params, nil
}

// spendJTI records a request object's jti until it expires: a replay is
// refused.
func (s *Service) spendJTI(ctx context.Context, clientID, jti string, until time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.st.RequestObjectJTIs.Create(ctx, store.HashID(clientID+"\x00"+jti), []byte{1}, until)
	if errors.Is(err, store.ErrConflict) {
		return oauth.ErrInvalidRequest().WithDescription("request: this jti was already used")
	}
	if err != nil {
		return oauth.ErrServerError().WithParent(fmt.Errorf("ciba: record jti: %w", err))
	}
	return nil
}

// verifyWith returns the payload of jws if one of keys (those with kid,
// when both name one) verifies it, else nil.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) []byte {
	for _, k := range keys {
		if kid != "" && k.KeyID != "" && k.KeyID != kid {
			continue
		}
		if p, err := jws.Verify(k.Key); err == nil {
			return p
		}
	}
	return nil
}

func hasKID(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

// storeClients are the store's clients with their public keys
// (oauth.KeyGetter), for self-signed certificate authentication (RFC
// 8705 §2.2) at the backchannel endpoint.
type storeClients struct {
	oauth.ClientGetter
	s *Service
}

func (c storeClients) Keys(ctx context.Context, cl *store.Client) ([]jose.JSONWebKey, error) {
	return c.s.clientKeys(ctx, cl, false)
}

// clientKeys are the client's public keys: fetched from its jwks_uri
// (cached, refetched when refresh is set), or registered by value.
func (s *Service) clientKeys(ctx context.Context, cl *store.Client, refresh bool) ([]jose.JSONWebKey, error) {
	if cl.JWKSURI != "" {
		return s.jwks.Keys(ctx, cl.JWKSURI, refresh)
	}
	raw, err := json.Marshal(cl.JWKS)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	return set.Keys, nil
}
