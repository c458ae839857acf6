package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// upstreamTimeout bounds one call to an upstream provider (discovery,
// token exchange, userinfo).
const upstreamTimeout = 10 * time.Second

// maxUserinfo bounds a userinfo answer we read.
const maxUserinfo = 1 << 20

// Upstream is one environment of a sign-in provider: how to send the
// browser there and how to turn its answer into a profile.
type Upstream interface {
	// AuthCodeURL is the upstream authorization request (RFC 6749 §4.1.1)
	// with state, PKCE (RFC 7636 §4.3, S256) and, for OIDC, the nonce.
	// scope, when not empty, replaces the configured scopes (the caller
	// adds to them, see askScopes).
	AuthCodeURL(ctx context.Context, state, nonce, verifier string, scope []string) (string, error)
	// Exchange redeems the code (RFC 6749 §4.1.3) with the PKCE verifier
	// and returns who signed in; nonce is checked in the OIDC ID token.
	Exchange(ctx context.Context, code, verifier, nonce string) (*Result, error)
}

// Refresher is the capability of an upstream whose grants can be renewed
// with a refresh token (RFC 6749 §6). Found by type assertion. scope, when
// not empty, is sent as the refresh request's scope parameter.
type Refresher interface {
	Refresh(ctx context.Context, tok *oauth2.Token, scope []string) (*Result, error)
}

// Result is what an upstream says about the person who signed in.
type Result struct {
	Token *oauth2.Token
	// IDToken is the raw OIDC ID token, when there is one.
	IDToken string
	// Claims are the upstream's claims: the verified ID token's, merged
	// with userinfo's (oauth2: userinfo's alone).
	Claims  map[string]any
	Profile store.Profile
}

// newUpstream builds the upstream of one provider environment. callback is
// the redirect URI registered at the upstream.
func newUpstream(p config.Provider, callback string, client *http.Client) (Upstream, error) {
	base := oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		RedirectURL:  callback,
		Scopes:       configuredScopes(p),
	}
	switch p.Type {
	case config.ProviderOIDC:
		return &oidcUpstream{issuer: p.Issuer, base: base, client: client}, nil
	case config.ProviderOAuth2:
		base.Endpoint = oauth2.Endpoint{AuthURL: p.AuthorizeURL, TokenURL: p.TokenURL}
		return &oauth2Upstream{conf: base, userinfo: p.UserinfoURL, emails: p.EmailsURL, client: client}, nil
	case config.ProviderGuest:
		return &guestUpstream{callback: callback}, nil
	}
	return nil, fmt.Errorf("upstream: unknown provider type %q", p.Type)
}

// configuredScopes are the scopes environment p always asks for: its
// scopes, after openid for OIDC.
func configuredScopes(p config.Provider) []string {
	scopes := slices.Clone(p.Scopes)
	if p.Type == config.ProviderOIDC && !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	return scopes
}

// splitScope reads a scope parameter as Backstage's CookieScopeManager
// does: scopes separated by white space, commas or bars (GitHub answers
// its granted scopes comma-separated).
func splitScope(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || unicode.IsSpace(r) })
}

// mergeScopes is every scope of lists, each once, in first-seen order.
func mergeScopes(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// withClient makes golang.org/x/oauth2 and go-oidc use client.
func withClient(ctx context.Context, client *http.Client) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, client), client)
}

// oidcUpstream is a generic OpenID Connect provider. Discovery runs on
// first use (and again after a failure), so that a provider that is down
// when Gatehouse starts does not stop it.
type oidcUpstream struct {
	issuer string
	base   oauth2.Config
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

var (
	_ Upstream  = (*oidcUpstream)(nil)
	_ Refresher = (*oidcUpstream)(nil)
	_ Upstream  = (*oauth2Upstream)(nil)
	_ Refresher = (*oauth2Upstream)(nil)
)

// discover runs OIDC Discovery 1.0 §4 once it succeeds.
func (u *oidcUpstream) discover(ctx context.Context) (*oidc.Provider, oauth2.Config, *oidc.IDTokenVerifier, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.provider != nil {
		return u.provider, u.conf, u.verifier, nil
	}
	ctx, cancel := context.WithTimeout(withClient(ctx, u.client), upstreamTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, u.issuer)
	if err != nil {
		return nil, oauth2.Config{}, nil, fmt.Errorf("upstream: discovery at %s: %w", u.issuer, err)
	}
	u.provider = p
	u.conf = u.base
	u.conf.Endpoint = p.Endpoint()
	u.verifier = p.Verifier(&oidc.Config{ClientID: u.base.ClientID})
	return u.provider, u.conf, u.verifier, nil
}

func (u *oidcUpstream) AuthCodeURL(ctx context.Context, state, nonce, verifier string, scope []string) (string, error) {
	_, conf, _, err := u.discover(ctx)
	if err != nil {
		return "", err
	}
	if len(scope) > 0 {
		conf.Scopes = scope
	}
	return conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

func (u *oidcUpstream) Exchange(ctx context.Context, code, verifier, nonce string) (*Result, error) {
	p, conf, v, err := u.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(withClient(ctx, u.client), upstreamTimeout)
	defer cancel()
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("upstream: code exchange: %w", err)
	}
	return u.result(ctx, p, v, tok, nonce)
}

// Refresh renews the upstream grant. OIDC Core §12.2: the refreshed ID
// token, if any, must name the same subject; it carries no nonce.
func (u *oidcUpstream) Refresh(ctx context.Context, old *oauth2.Token, scope []string) (*Result, error) {
	p, conf, v, err := u.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(withClient(ctx, u.client), upstreamTimeout)
	defer cancel()
	tok, err := refreshToken(ctx, u.client, conf, old, scope)
	if err != nil {
		return nil, err
	}
	return u.result(ctx, p, v, tok, "")
}

// result verifies the ID token (OIDC Core §3.1.3.7: issuer, audience,
// expiry, signature; the nonce when one was sent) and merges userinfo.
func (u *oidcUpstream) result(ctx context.Context, p *oidc.Provider, v *oidc.IDTokenVerifier, tok *oauth2.Token, nonce string) (*Result, error) {
	claims := map[string]any{}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" && nonce != "" {
		return nil, errors.New("upstream: the token response has no id_token")
	}
	if raw != "" {
		idt, err := v.Verify(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("upstream: ID token: %w", err)
		}
		if nonce != "" && idt.Nonce != nonce {
			return nil, errors.New("upstream: ID token nonce does not match the request")
		}
		if err := idt.Claims(&claims); err != nil {
			return nil, fmt.Errorf("upstream: ID token claims: %w", err)
		}
	}
	// OIDC Core §5.3.2: userinfo's sub must match the ID token's.
	if p.UserInfoEndpoint() != "" {
		info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("upstream: userinfo: %w", err)
		}
		if sub, ok := claims["sub"].(string); ok && sub != info.Subject {
			return nil, errors.New("upstream: userinfo names another subject than the ID token")
		}
		var extra map[string]any
		if err := info.Claims(&extra); err != nil {
			return nil, fmt.Errorf("upstream: userinfo claims: %w", err)
		}
		for k, val := range extra {
			if _, set := claims[k]; !set {
				claims[k] = val
			}
		}
	}
	return &Result{Token: tok, IDToken: raw, Claims: claims, Profile: profileOf(claims)}, nil
}

// oauth2Upstream is a generic OAuth 2.0 provider with a userinfo URL that
// answers the signed-in user as JSON (GitHub's https://api.github.com/user),
// and optionally an emails URL listing the account's addresses (GitHub's
// https://api.github.com/user/emails).
type oauth2Upstream struct {
	conf     oauth2.Config
	userinfo string
	emails   string
	client   *http.Client
}

func (u *oauth2Upstream) AuthCodeURL(_ context.Context, state, _, verifier string, scope []string) (string, error) {
	conf := u.conf
	if len(scope) > 0 {
		conf.Scopes = scope
	}
	return conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

func (u *oauth2Upstream) Exchange(ctx context.Context, code, verifier, _ string) (*Result, error) {
	ctx, cancel := context.WithTimeout(withClient(ctx, u.client), upstreamTimeout)
	defer cancel()
	tok, err := u.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("upstream: code exchange: %w", err)
	}
	return u.result(ctx, tok)
}

func (u *oauth2Upstream) Refresh(ctx context.Context, old *oauth2.Token, scope []string) (*Result, error) {
	ctx, cancel := context.WithTimeout(withClient(ctx, u.client), upstreamTimeout)
	defer cancel()
	tok, err := refreshToken(ctx, u.client, u.conf, old, scope)
	if err != nil {
		return nil, err
	}
	return u.result(ctx, tok)
}

// refreshToken renews old (RFC 6749 §6). Without scope, x/oauth2's token
// source does it; with scope, which it never sends, the request is made
// here, as Backstage asks for the scopes a refresh adds.
func refreshToken(ctx context.Context, client *http.Client, conf oauth2.Config, old *oauth2.Token, scope []string) (*oauth2.Token, error) {
	if len(scope) == 0 {
		stale := *old
		stale.Expiry = time.Unix(1, 0) // force the refresh
		tok, err := conf.TokenSource(ctx, &stale).Token()
		if err != nil {
			return nil, fmt.Errorf("upstream: refresh: %w", err)
		}
		return tok, nil
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.RefreshToken}, "scope": {strings.Join(scope, " ")}}
	inParams := conf.Endpoint.AuthStyle == oauth2.AuthStyleInParams
	if inParams {
		form.Set("client_id", conf.ClientID)
		if conf.ClientSecret != "" {
			form.Set("client_secret", conf.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, conf.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("upstream: refresh request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !inParams {
		// RFC 6749 §2.3.1: form-encoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(conf.ClientID), url.QueryEscape(conf.ClientSecret))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream: refresh: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserinfo+1))
	if err != nil {
		return nil, fmt.Errorf("upstream: refresh: %w", err)
	}
	if len(body) > maxUserinfo {
		return nil, errors.New("upstream: refresh answer is too large")
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	str := func(k string) string { s, _ := raw[k].(string); return s }
	if resp.StatusCode != http.StatusOK || str("access_token") == "" {
		return nil, fmt.Errorf("upstream: refresh: %w", &oauth2.RetrieveError{Response: resp, Body: body,
			ErrorCode: str("error"), ErrorDescription: str("error_description")})
	}
	tok := &oauth2.Token{AccessToken: str("access_token"), TokenType: str("token_type"), RefreshToken: str("refresh_token")}
	if n, ok := raw["expires_in"].(float64); ok && n > 0 {
		tok.ExpiresIn = int64(n)
		tok.Expiry = time.Now().Add(time.Duration(n) * time.Second)
	}
	return tok.WithExtra(raw), nil
}

// result fetches the profile from the userinfo URL with the access token,
// and the verified primary address from the emails URL when there is one.
func (u *oauth2Upstream) result(ctx context.Context, tok *oauth2.Token) (*Result, error) {
	var claims map[string]any
	if err := u.getJSON(ctx, tok, "userinfo", u.userinfo, &claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errors.New("upstream: userinfo is not a JSON object")
	}
	if u.emails != "" {
		var list []upstreamEmail
		if err := u.getJSON(ctx, tok, "emails", u.emails, &list); err != nil {
			return nil, err
		}
		primaryEmail(claims, list)
	}
	return &Result{Token: tok, Claims: claims, Profile: profileOf(claims)}, nil
}

// upstreamEmail is one entry of GitHub's GET /user/emails.
type upstreamEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// primaryEmail sets the claims' email to the primary address when the
// upstream has verified it, with email_verified true, as Backstage's GitHub
// provider signs in by it. Without a verified primary address the userinfo
// email stays and email_verified is false: nothing vouches for it, and
// the sign-in resolvers refuse to match by an unverified address.
func primaryEmail(claims map[string]any, list []upstreamEmail) {
	for _, e := range list {
		if e.Primary && e.Verified && strings.TrimSpace(e.Email) != "" {
			claims["email"], claims["email_verified"] = e.Email, true
			return
		}
	}
	claims["email_verified"] = false
}

// getJSON GETs url with the access token and decodes its JSON answer
// (at most maxUserinfo bytes, 200 only) into out.
func (u *oauth2Upstream) getJSON(ctx context.Context, tok *oauth2.Token, what, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("upstream: %s request: %w", what, err)
	}
	req.Header.Set("Accept", "application/json")
	tok.SetAuthHeader(req)
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream: %s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserinfo+1))
	if err != nil {
		return fmt.Errorf("upstream: %s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream: %s answered %d", what, resp.StatusCode)
	}
	if len(body) > maxUserinfo {
		return fmt.Errorf("upstream: %s answer is too large", what)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("upstream: %s answer is not the expected JSON: %w", what, err)
	}
	return nil
}

// profileOf reads a profile from upstream claims: OIDC Core §5.1 names
// first, then GitHub's (login, avatar_url).
func profileOf(claims map[string]any) store.Profile {
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := claims[k].(string); ok && strings.TrimSpace(s) != "" {
				return s
			}
		}
		return ""
	}
	p := store.Profile{
		Email:       str("email"),
		DisplayName: str("name", "preferred_username", "login"),
		Picture:     str("picture", "avatar_url"),
		Username:    str("preferred_username", "login"),
	}
	if p.Email != "" {
		p.EmailVerified = boolClaim(claims["email_verified"])
	}
	return p
}

// boolClaim reads a boolean claim, which some providers send as the
// string "true" or "false"; nil when absent or neither.
func boolClaim(v any) *bool {
	var b bool
	switch v := v.(type) {
	case bool:
		b = v
	case string:
		switch v {
		case "true":
			b = true
		case "false":
		default:
			return nil
		}
	default:
		return nil
	}
	return &b
}
