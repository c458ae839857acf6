package authorize

import (
	"errors"
	"html/template"
	"log/slog"
	"math"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Bounds on an authorization request. Everything in it ends up in a URL
// (the consent session is small, but state comes back on the redirect), so
// a request larger than these is refused rather than stored.
const (
	maxRequest     = 8 << 10 // bytes of query string or form body
	maxState       = 1024
	maxNonce       = 512
	maxMaxAge      = 1 << 30 // seconds; max_age beyond this is nonsense
	sessionIDBytes = 24
)

// pagePath is where the consent page lives under the app URL (Backstage's
// frontend has it there too) and under the base path of this server.
const pagePath = "/oauth2/authorize/"

// Prompt values of OIDC Core §3.1.2.1.
var prompts = []string{"none", "login", "consent", "select_account"}

// authorize is the authorization endpoint: RFC 6749 §4.1.1, OIDC Core
// §3.1.2.1 (GET and form POST), PKCE (RFC 7636 §4.3) and resource
// indicators (RFC 8707 §2). It validates the request, stores it as a
// consent session and sends the browser to the consent page. Until the
// client and its redirect URI are known, errors are answered here as JSON
// (RFC 6749 §4.1.2.1: never redirect to an unverified URI); after, they go
// back to the client on its redirect URI if its kind is trusted with that
// (authorization.redirect_errors), and to an error page otherwise
// (RFC 9700 §4.11.2).
func (h *Handler) authorize(c *fiber.Ctx) error {
	ctx := c.UserContext()

	// Parse.
	values, oerr := readRequest(c)
	if oerr != nil {
		return oerr
	}

	// Validate: the client and where to answer it.
	client, redirectURI, given, oerr := h.clientAndRedirect(c, values)
	if oerr != nil {
		slog.LogAttrs(ctx, slog.LevelInfo, "authorization request refused",
			slog.String("client_id", oauth.CleanDescription(values.Get("client_id"), 64)), slog.String("error", oerr.Error()),
			slog.Any("request_id", c.Locals("request_id")))
		return oerr
	}
	state := echoState(values)
	req, oerr := h.validate(values, &client)
	if oerr != nil {
		return h.answerError(c, &client, redirectURI, state, oerr)
	}
	req.ClientID, req.RedirectURI, req.RedirectURIGiven = client.ID, redirectURI, given

	// OIDC Core §3.1.2.6: prompt=none asks for an answer without any page.
	// Consent is never remembered here, so the answer is always an error.
	if slices.Contains(strings.Fields(req.Prompt), "none") {
		_, signedIn, err := h.pages.Sessions.Current(c)
		if err != nil {
			return oauth.ErrServerError().WithParent(err)
		}
		if !signedIn {
			return h.answerError(c, &client, redirectURI, state, oauth.ErrLoginRequired())
		}
		return h.answerError(c, &client, redirectURI, state,
			oauth.ErrConsentRequired().WithDescription("this server asks the user to approve every authorization request"))
	}

	// Act: store the consent session.
	now := h.now().UTC()
	req.ID = oauth.RandomToken(sessionIDBytes)
	req.CreatedAt = now
	req.ExpiresAt = now.Add(h.cfg.Tokens.ConsentSessionTTL)
	// A client, or an address, with authorization.max_open_per_client
	// (_per_address) sessions nobody has decided yet must wait for one to
	// be decided or to expire.
	if which, wait := h.open.add(ctx, req.ID, client.ID, oauth.ClientIP(c, h.cfg.Server.TrustedProxies), now, req.ExpiresAt); which != "" {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return h.answerError(c, &client, redirectURI, state, oauth.ErrTemporarilyUnavailable().WithStatus(fiber.StatusTooManyRequests).
			WithDescription("too many authorization requests of this %s are waiting for a decision; retry later", which))
	}
	if err := h.st.AuthRequests.Create(ctx, req.ID, req); err != nil {
		h.open.done(req.ID)
		return oauth.ErrServerError().WithParent(err)
	}

	// Respond: to the consent page.
	slog.LogAttrs(ctx, slog.LevelInfo, "authorization request accepted",
		slog.String("client_id", client.ID), slog.String("session_id", req.ID),
		slog.String("scope", req.Scope), slog.Any("request_id", c.Locals("request_id")))
	oauth.NoStore(c)
	return c.Redirect(h.cfg.AppURL()+pagePath+req.ID, fiber.StatusFound)
}

// readRequest reads the query (GET) or the form body (POST, OIDC Core
// §3.1.2.1) without yet refusing repeated parameters: resource may repeat
// (RFC 8707 §2), and a repeat of anything else is an error for the client
// once its redirect URI is known.
func readRequest(c *fiber.Ctx) (url.Values, *oauth.Error) {
	var raw []byte
	if c.Method() == fiber.MethodPost {
		mediaType, _, _ := mime.ParseMediaType(string(c.Request().Header.ContentType()))
		if mediaType != "application/x-www-form-urlencoded" {
			return nil, oauth.ErrInvalidRequest().WithStatus(fiber.StatusUnsupportedMediaType).
				WithDescription("an authorization request sent by POST must be application/x-www-form-urlencoded")
		}
		body, oerr := oauth.Body(c)
		if oerr != nil {
			return nil, oerr
		}
		raw = body
	} else {
		raw = c.Request().URI().QueryString()
	}
	if len(raw) > maxRequest {
		return nil, oauth.ErrInvalidRequest().WithDescription("the authorization request is larger than %d bytes", maxRequest)
	}
	values, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, oauth.ErrInvalidRequest().WithDescription("the authorization request is malformed").WithParent(err)
	}
	return values, nil
}

// clientAndRedirect finds the client and the redirect URI to answer on
// (RFC 6749 §3.1.2.3: exact match with a registered URI, or a registered
// loopback URI on another port, RFC 8252 §7.3; when the client registered
// exactly one, it may be left out). given records whether the request
// named it, so that the token request must repeat it (§4.1.3): the code
// keeps the URI as given, port included.
func (h *Handler) clientAndRedirect(c *fiber.Ctx, values url.Values) (client store.Client, redirectURI string, given bool, oerr *oauth.Error) {
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(values[name]) > 1 {
			return client, "", false, oauth.ErrInvalidRequest().WithDescription("parameter '%s' is repeated", name)
		}
	}
	id := values.Get("client_id")
	if id == "" {
		return client, "", false, oauth.ErrInvalidRequest().WithDescription("client_id is required")
	}
	client, err := h.clients.Get(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return client, "", false, oauth.ErrInvalidRequest().WithDescription("client_id is not a registered client")
	}
	var refused *oauth.Error
	if errors.As(err, &refused) {
		// A refused client ID metadata document (draft §5.1: abort).
		return client, "", false, oauth.ErrInvalidRequest().WithDescription("%s", refused.Description).WithParent(err)
	}
	if err != nil {
		return client, "", false, oauth.ErrServerError().WithParent(err)
	}
	redirectURI, given = values.Get("redirect_uri"), values.Has("redirect_uri")
	switch {
	case given && slices.Contains(client.RedirectURIs, redirectURI):
		return client, redirectURI, true, nil
	case given && !client.MetadataDocument && slices.ContainsFunc(client.RedirectURIs, func(r string) bool { return loopbackMatch(r, redirectURI) }):
		// A metadata document's redirect URIs are matched exactly (draft §4.2).
		return client, redirectURI, true, nil
	case given:
		return client, "", false, oauth.ErrInvalidRequest().WithDescription("redirect_uri is not registered for this client")
	case len(client.RedirectURIs) == 1:
		return client, client.RedirectURIs[0], false, nil
	case len(client.RedirectURIs) == 0:
		return client, "", false, oauth.ErrUnauthorizedClient().WithDescription("the client has no redirect URI registered")
	default:
		return client, "", false, oauth.ErrInvalidRequest().WithDescription("redirect_uri is required: the client registered more than one")
	}
}

// loopbackHosts are the hosts of RFC 8252 §7.3 loopback redirect URIs, as
// registration accepts them over http.
var loopbackHosts = []string{"127.0.0.1", "[::1]", "localhost"}

// loopbackMatch reports whether given is the loopback redirect URI
// registered on any port: RFC 8252 §7.3 ("MUST allow any port to be
// specified at the time of the request"), as a native app listens on
// whatever port is free. Only the port may differ: scheme (http), host,
// path and query are compared exactly, as strings, and given has no user
// information or fragment.
func loopbackMatch(registered, given string) bool {
	r, ok := withoutPort(registered)
	if !ok {
		return false
	}
	g, ok := withoutPort(given)
	return ok && r == g
}

// withoutPort returns an http loopback URI without its port: ok is false
// for any other URI, and for one whose authority is more than a loopback
// host and a port from 1 to 65535.
func withoutPort(uri string) (string, bool) {
	const prefix = "http://"
	if !strings.HasPrefix(uri, prefix) || strings.ContainsAny(uri, "#\\") {
		return "", false
	}
	rest := uri[len(prefix):]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	host, port := rest[:end], ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host, port = host[:i], host[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] < '1' || port[0] > '9' {
			return "", false
		}
	}
	if !slices.Contains(loopbackHosts, host) {
		return "", false
	}
	return prefix + host + rest[end:], true
}

// echoState is the state to send back with an error: the client's own,
// unless it is repeated or too long to be one.
func echoState(values url.Values) string {
	if vs := values["state"]; len(vs) == 1 && len(vs[0]) <= maxState {
		return vs[0]
	}
	return ""
}

// validate checks everything else in the request for client and returns
// the consent session it describes (without id, times and redirect URI).
func (h *Handler) validate(values url.Values, client *store.Client) (store.AuthRequest, *oauth.Error) {
	var req store.AuthRequest
	invalid := oauth.ErrInvalidRequest
	for name, vs := range values {
		if len(vs) > 1 && name != "resource" {
			return req, invalid().WithDescription("parameter '%s' is repeated", oauth.CleanDescription(name, 64))
		}
	}
	// OIDC Core §6: request objects are not supported (discovery says so).
	if values.Has("request") || values.Has("request_uri") {
		return req, invalid().WithDescription("request and request_uri are not supported; send the parameters directly")
	}

	// RFC 6749 §3.1.1: only the code flow.
	switch rt := values.Get("response_type"); {
	case rt == "":
		return req, invalid().WithDescription("response_type is required")
	case rt != "code":
		return req, oauth.ErrUnsupportedResponseType().WithDescription("response_type must be code")
	case !slices.Contains(client.ResponseTypes, "code"):
		return req, oauth.ErrUnauthorizedClient().WithDescription("the client is not registered for the code response type")
	}
	req.ResponseType = "code"
	// OAuth 2.0 Multiple Response Type Encoding Practices: code answers in
	// the query; nothing else is offered.
	if mode := values.Get("response_mode"); mode != "" && mode != "query" {
		return req, invalid().WithDescription("response_mode '%s' is not supported; use query", oauth.CleanDescription(mode, 64))
	}

	scope, oerr := checkScope(values.Get("scope"), client.Scope, h.scopes)
	if oerr != nil {
		return req, oerr
	}
	req.Scope = scope

	req.State = values.Get("state")
	if len(req.State) > maxState {
		return req, invalid().WithDescription("state is longer than %d bytes", maxState)
	}
	req.Nonce = values.Get("nonce")
	if len(req.Nonce) > maxNonce {
		return req, invalid().WithDescription("nonce is longer than %d bytes", maxNonce)
	}

	challenge, method, oerr := h.checkPKCE(values, client)
	if oerr != nil {
		return req, oerr
	}
	req.CodeChallenge, req.CodeChallengeMethod = challenge, method

	prompt, maxAge, oerr := checkPrompt(values)
	if oerr != nil {
		return req, oerr
	}
	req.Prompt, req.MaxAge = prompt, maxAge

	// RFC 8707 §2: only resources the allow-list gives this client.
	resources, oerr := h.resources.Check(client, values["resource"])
	if oerr != nil {
		return req, oerr
	}
	req.Resource = resources
	return req, nil
}

// checkScope is RFC 6749 §3.3: space-delimited scope tokens of printable
// ASCII without quote or backslash, each one the client may ask for
// (config.Scopes.Allowed: its registered scope, or every scope the server
// offers when it registered none). An empty scope means the registered
// values the server still offers.
func checkScope(requested, registered string, offered config.Scopes) (string, *oauth.Error) {
	allowed := offered.Allowed(registered)
	values, bad := oauth.ParseScope(requested)
	if bad != "" {
		return "", oauth.ErrInvalidScope().WithDescription("scope values must be printable ASCII without quotes or backslashes (RFC 6749 section 3.3)")
	}
	for _, v := range values {
		if !slices.Contains(allowed, v) {
			return "", oauth.ErrInvalidScope().WithDescription("scope '%s' is not registered for this client or not offered by this server", oauth.CleanDescription(v, 64))
		}
	}
	if len(values) == 0 && registered != "" {
		return strings.Join(allowed, " "), nil
	}
	return strings.Join(values, " "), nil
}

// checkPKCE is RFC 7636 §4.3 with S256 only (RFC 9700 §2.1.1: plain is
// refused, and a challenge without a method would mean plain, §4.3). A
// challenge is required from public clients, and from every client when
// authorization.require_pkce is on.
func (h *Handler) checkPKCE(values url.Values, client *store.Client) (challenge, method string, oerr *oauth.Error) {
	invalid := oauth.ErrInvalidRequest
	challenge, method = values.Get("code_challenge"), values.Get("code_challenge_method")
	if challenge == "" {
		if method != "" {
			return "", "", invalid().WithDescription("code_challenge_method was sent without code_challenge")
		}
		if client.Public() {
			return "", "", invalid().WithDescription("code_challenge is required: public clients must use PKCE (RFC 7636) with S256")
		}
		if h.cfg.Authorization.RequirePKCE {
			return "", "", invalid().WithDescription("code_challenge is required: this server requires PKCE (RFC 7636) with S256")
		}
		return "", "", nil
	}
	switch method {
	case "S256":
	case "", "plain":
		return "", "", invalid().WithDescription("code_challenge_method must be S256; plain is not supported")
	default:
		return "", "", invalid().WithDescription("code_challenge_method '%s' is not supported; use S256", oauth.CleanDescription(method, 64))
	}
	// An S256 challenge is the unpadded base64url of a SHA-256: 43 characters.
	if len(challenge) != 43 || strings.IndexFunc(challenge, notBase64URL) >= 0 {
		return "", "", invalid().WithDescription("code_challenge must be the 43-character base64url SHA-256 of the verifier (RFC 7636 section 4.2)")
	}
	return challenge, method, nil
}

func notBase64URL(r rune) bool {
	return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_')
}

// checkPrompt reads prompt and max_age (OIDC Core §3.1.2.1). max_age=0
// asks for a fresh sign-in, as prompt=login does, and is kept as that.
func checkPrompt(values url.Values) (prompt string, maxAge int, oerr *oauth.Error) {
	var list []string
	for p := range strings.FieldsSeq(values.Get("prompt")) {
		if !slices.Contains(prompts, p) {
			return "", 0, oauth.ErrInvalidRequest().WithDescription("prompt '%s' is not supported; use none, login, consent or select_account", oauth.CleanDescription(p, 64))
		}
		if !slices.Contains(list, p) {
			list = append(list, p)
		}
	}
	if slices.Contains(list, "none") && len(list) > 1 {
		return "", 0, oauth.ErrInvalidRequest().WithDescription("prompt none must not be combined with other values")
	}
	if values.Has("max_age") {
		n, err := strconv.Atoi(values.Get("max_age"))
		if err != nil || n < 0 || n > maxMaxAge {
			return "", 0, oauth.ErrInvalidRequest().WithDescription("max_age must be a non-negative number of seconds")
		}
		if n == 0 && !slices.Contains(list, "login") {
			if slices.Contains(list, "none") {
				return "", 0, oauth.ErrInvalidRequest().WithDescription("max_age=0 requires a sign-in, which prompt=none forbids")
			}
			list = append(list, "login")
		}
		maxAge = n
	}
	return strings.Join(list, " "), maxAge, nil
}

// answerError answers a request refused before any user interaction, once
// the client and its redirect URI are verified. A client of a kind listed
// in authorization.redirect_errors gets the error on its redirect URI
// (RFC 6749 §4.1.2.1), as relying parties expect. Any other client could
// have registered any URI, so redirecting would make this server an open
// redirector (RFC 9700 §4.11.2): the user gets an error page that names
// where the application would return, with a link there carrying the
// same error and state, to follow or not.
func (h *Handler) answerError(c *fiber.Ctx, client *store.Client, redirectURI, state string, oerr *oauth.Error) error {
	kind := client.Kind()
	redirect := slices.Contains(h.cfg.Authorization.RedirectErrors, kind)
	slog.LogAttrs(c.UserContext(), slog.LevelInfo, "authorization request refused",
		slog.String("client_id", client.ID), slog.String("kind", kind), slog.Bool("redirected", redirect),
		slog.String("error", oerr.Code), slog.String("description", oerr.Description),
		slog.Any("request_id", c.Locals("request_id")))
	target := h.errorRedirect(redirectURI, state, oerr)
	if redirect {
		oauth.NoStore(c)
		return c.Redirect(target, fiber.StatusFound)
	}
	status := fiber.StatusBadRequest
	if oerr.Status == fiber.StatusTooManyRequests {
		status = oerr.Status
	}
	return h.page.Render(c, status, pageData{
		Step:             stepError,
		ClientID:         client.ID,
		ClientName:       clientName(client),
		RedirectTarget:   redirectTarget(redirectURI),
		RedirectURL:      template.URL(target), // a registered redirect URI, see pageData
		ErrorCode:        oerr.Code,
		ErrorDescription: oerr.Description,
	})
}

// errorRedirect is the error response on the client's redirect URI:
// RFC 6749 §4.1.2.1, with iss (RFC 9207 §2).
func (h *Handler) errorRedirect(redirectURI, state string, oerr *oauth.Error) string {
	q := url.Values{"error": {oerr.Code}, "iss": {h.iss}}
	if oerr.Description != "" {
		q.Set("error_description", oerr.Description)
	}
	if state != "" {
		q.Set("state", state)
	}
	return withQuery(redirectURI, q)
}

// withQuery adds q to a redirect URI, keeping the query it was registered
// with (RFC 6749 §3.1.2: "MUST retain" it). Registered URIs carry no
// fragment.
func withQuery(redirectURI string, q url.Values) string {
	sep := "?"
	if i := strings.IndexByte(redirectURI, '?'); i >= 0 {
		sep = "&"
		if i == len(redirectURI)-1 || strings.HasSuffix(redirectURI, "&") {
			sep = ""
		}
	}
	return redirectURI + sep + q.Encode()
}
