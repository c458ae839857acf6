package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/mtls"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Client authentication methods (RFC 7591 §2, OIDC Core §9).
const (
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
	AuthNone  = "none"
	// RFC 8705 §2.1 and §2.2: mutual TLS, with a certificate of the
	// configured CAs or one the client registered in its JWK Set.
	AuthTLS           = config.MethodTLSClientAuth
	AuthSelfSignedTLS = config.MethodSelfSignedTLSClientAuth
)

// Credentials are what a request presented to authenticate its client.
type Credentials struct {
	ClientID string
	Secret   string
	Method   string
	// Certificate is the request's client certificate (RFC 8705), nil
	// when it came without one.
	Certificate *mtls.Certificate
}

// ReadCredentials extracts client credentials from the Authorization header
// (RFC 6749 §2.3.1, form-encoded id and secret) or the parameters. A
// request may carry the same id and secret both ways (clients such as
// Python's requests with auth= and a body do): that is one method, Basic;
// credentials that differ between the two are refused.
func ReadCredentials(c *fiber.Ctx, p Params) (Credentials, error) {
	cred, err := readCredentials(c, p)
	if err != nil {
		return cred, err
	}
	cert, err := mtls.Peer(c)
	if err != nil {
		return Credentials{}, ErrInvalidRequest().WithDescription("the client certificate forwarded by the proxy is malformed").WithParent(err)
	}
	cred.Certificate = cert
	return cred, nil
}

func readCredentials(c *fiber.Ctx, p Params) (Credentials, error) {
	header := c.Get(fiber.HeaderAuthorization)
	if scheme, value, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "Basic") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil {
			return Credentials{}, basicFailure().WithParent(err)
		}
		rawID, rawSecret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return Credentials{}, basicFailure()
		}
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		if err := errors.Join(err1, err2); err != nil || id == "" {
			return Credentials{}, basicFailure().WithParent(err)
		}
		if pid := p.Get("client_id"); pid != "" && pid != id {
			return Credentials{}, ErrInvalidRequest().WithDescription("client_id does not match the Authorization header")
		}
		if ps := p.Get("client_secret"); ps != "" && subtle.ConstantTimeCompare([]byte(ps), []byte(secret)) != 1 {
			return Credentials{}, ErrInvalidRequest().WithDescription("use one client authentication method, not several")
		}
		return Credentials{ClientID: id, Secret: secret, Method: AuthBasic}, nil
	}
	id := p.Get("client_id")
	if id == "" {
		return Credentials{}, ErrInvalidClient().WithDescription("client authentication is required")
	}
	if secret := p.Get("client_secret"); secret != "" {
		return Credentials{ClientID: id, Secret: secret, Method: AuthPost}, nil
	}
	return Credentials{ClientID: id, Method: AuthNone}, nil
}

func basicFailure() *Error {
	return ErrInvalidClient().WithDescription("malformed Basic credentials")
}

// ClientGetter finds a client by id.
type ClientGetter interface {
	Get(ctx context.Context, id string) (store.Client, error)
}

// KeyGetter is a ClientGetter that also finds a client's registered
// public keys, by value or at its jwks_uri (client.Clients). With a
// getter that cannot, only keys registered by value are known.
type KeyGetter interface {
	Keys(ctx context.Context, cl *store.Client) ([]jose.JSONWebKey, error)
}

// AuthenticateRequest reads the client credentials of a request to a
// client-authenticated endpoint (token, revocation, introspection, CIBA)
// from its header or body p, and authenticates them (Authenticate).
func AuthenticateRequest(c *fiber.Ctx, p Params, clients ClientGetter) (store.Client, Credentials, error) {
	cred, err := ReadCredentials(c, p)
	if err != nil {
		return store.Client{}, cred, err
	}
	return AuthenticateCredentials(c.UserContext(), c, cred, clients)
}

// AuthenticateCredentials is AuthenticateRequest with the credentials
// already read (ReadCredentials) and the client read under ctx, for an
// endpoint that looks at them first (the token endpoint reads the client
// with the records it names).
func AuthenticateCredentials(ctx context.Context, c *fiber.Ctx, cred Credentials, clients ClientGetter) (store.Client, Credentials, error) {
	client, err := Authenticate(ctx, clients, cred)
	if err != nil {
		return client, cred, err
	}
	if m := client.TokenEndpointAuthMethod; m == AuthTLS || m == AuthSelfSignedTLS {
		cred.Method = m // client_id alone was sent; the certificate authenticated it
	}
	c.Locals(authenticatedKey{}, client.ID)
	return client, cred, nil
}

type authenticatedKey struct{}

// AuthenticatedClient is the client AuthenticateRequest authenticated
// for this request, if it did: the rate limiter charges its bucket only
// then, so that naming a client costs that client nothing.
func AuthenticatedClient(c *fiber.Ctx) (string, bool) {
	id, _ := c.Locals(authenticatedKey{}).(string)
	return id, id != ""
}

// Authenticate checks credentials against the registered client: the
// method must be the one the client registered (either secret method for a
// client with a secret, see methodAccepted), and the secret must match
// its stored hash (compared in constant time); for a mutual-TLS client
// (RFC 8705), the request's certificate must be the client's and no
// secret may be sent. Every failure answers the
// same invalid_client so that nothing is learned about which part failed.
func Authenticate(ctx context.Context, clients ClientGetter, cred Credentials) (store.Client, error) {
	client, err := clients.Get(ctx, cred.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, ErrInvalidClient().WithParent(err)
	}
	var refused *Error
	if errors.As(err, &refused) {
		return store.Client{}, refused // a client the getter refused, saying why
	}
	if err != nil {
		return store.Client{}, ErrServerError().WithParent(err)
	}
	method := client.TokenEndpointAuthMethod
	if method == "" {
		method = AuthBasic
	}
	if method == AuthTLS || method == AuthSelfSignedTLS {
		// RFC 8705 §2: client_id identifies the client, the certificate
		// authenticates it; a secret is another method.
		if cred.Secret != "" {
			return store.Client{}, ErrInvalidClient().WithDescription("client authentication failed: the client must use %s", method)
		}
		if err := authenticateCertificate(ctx, clients, &client, cred.Certificate); err != nil {
			return store.Client{}, err
		}
		return client, nil
	}
	if !methodAccepted(method, cred.Method) {
		return store.Client{}, ErrInvalidClient().WithDescription("client authentication failed: the client must use %s", method)
	}
	if method == AuthNone {
		return client, nil
	}
	if !SecretMatches(cred.Secret, client.SecretHash) {
		return store.Client{}, ErrInvalidClient()
	}
	if !client.SecretExpiresAt.IsZero() && timeNow().After(client.SecretExpiresAt) {
		return store.Client{}, ErrInvalidClient().WithDescription("client authentication failed: the secret has expired")
	}
	return client, nil
}

// authenticateCertificate is RFC 8705 §2: the request came with a client
// certificate, and it is the client's: issued by a configured CA to the
// registered subject (§2.1), or one of its registered keys' (§2.2).
func authenticateCertificate(ctx context.Context, clients ClientGetter, client *store.Client, cert *mtls.Certificate) *Error {
	method := client.TokenEndpointAuthMethod
	if cert == nil {
		return ErrInvalidClient().WithDescription("client authentication failed: the client must use %s, and no client certificate came with the request", method)
	}
	if method == AuthTLS {
		if err := cert.VerifyPKI(&client.ClientMetadata); err != nil {
			return ErrInvalidClient().WithDescription("client authentication failed: the client certificate is not the client's").WithParent(err)
		}
		return nil
	}
	var (
		keys []jose.JSONWebKey
		err  error
	)
	if kg, ok := clients.(KeyGetter); ok {
		keys, err = kg.Keys(ctx, client)
	} else {
		keys, err = KeysByValue(client)
	}
	if err != nil {
		return ErrInvalidClient().WithDescription("client authentication failed: the client's registered keys could not be read").WithParent(err)
	}
	if !cert.MatchesKeys(keys) {
		return ErrInvalidClient().WithDescription("client authentication failed: the client certificate is not the client's").
			WithParent(fmt.Errorf("oauth: certificate %s is in none of client %s's keys", cert.Thumbprint(), client.ID))
	}
	return nil
}

// KeysByValue reads the JWK Set a client registered by value (jwks).
func KeysByValue(cl *store.Client) ([]jose.JSONWebKey, error) {
	if cl.JWKS == nil {
		return nil, nil
	}
	raw, err := json.Marshal(cl.JWKS)
	if err != nil {
		return nil, fmt.Errorf("oauth: jwks of client %s: %w", cl.ID, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("oauth: jwks of client %s: %w", cl.ID, err)
	}
	return set.Keys, nil
}

// UsesSecret reports whether a client registered for method
// authenticates with a client secret (the default method does): such a
// client is issued one; a public or mutual-TLS client is not.
func UsesSecret(method string) bool {
	return method == "" || method == AuthBasic || method == AuthPost
}

// methodAccepted reports whether a client registered for method may
// authenticate with presented. A client with a secret may send it in the
// header or in the body, whichever it registered, as Backstage, Keycloak
// and Dex accept (RFC 6749 §2.3.1 allows both; the registered method only
// says which the client prefers). Any other method must be used exactly:
// a public client has no secret to send, and a client registered for a
// stronger method is never let in with a secret.
func methodAccepted(registered, presented string) bool {
	if registered == presented {
		return true
	}
	secret := func(m string) bool { return m == AuthBasic || m == AuthPost }
	return secret(registered) && secret(presented)
}

// HashSecret returns the stored form of a client secret.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// SecretMatches compares secret with a stored hash in constant time.
func SecretMatches(secret string, hash []byte) bool {
	sum := sha256.Sum256([]byte(secret))
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(sum[:], hash) == 1
}
