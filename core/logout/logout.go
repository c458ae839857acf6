// Package logout is the end-session endpoint of OpenID Connect
// RP-Initiated Logout 1.0: a relying party sends the browser here to end
// the user's session at Gatehouse, and gets it back at a URI it
// registered as a post_logout_redirect_uri.
package logout

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

//go:embed templates/logout.html
var templates embed.FS

// Path is the end-session endpoint under the base path; the confirmation
// page is at Path + "/confirm".
const Path = "/v1/logout"

// maxState bounds the state echoed back to the relying party.
const maxState = 2048

// Ender ends what a sign-in left on the server besides the login session
// (the provider session it started): *upstream.Providers.
type Ender interface {
	EndSignIn(c *fiber.Ctx, rec store.LoginSession) error
}

// Handler serves the end-session endpoint and its confirmation page.
type Handler struct {
	cfg      *config.Config
	clients  oauth.ClientGetter
	issuer   *token.Issuer
	sessions *identity.Sessions
	csrf     fiber.Handler
	ender    Ender
	page     *identity.Page
}

// New returns the handler. clients finds the relying parties (registered,
// or by client ID metadata document); csrf protects the confirmation form
// (identity.CSRF); ender may be nil.
func New(cfg *config.Config, clients oauth.ClientGetter, issuer *token.Issuer, sessions *identity.Sessions, csrf fiber.Handler, ender Ender) (*Handler, error) {
	page, err := identity.ParsePage(cfg, templates, "templates/logout.html")
	if err != nil {
		return nil, fmt.Errorf("logout: page: %w", err)
	}
	return &Handler{cfg: cfg, clients: clients, issuer: issuer, sessions: sessions, csrf: csrf, ender: ender, page: page}, nil
}

// Register mounts the endpoint on r (already under the base path).
func (h *Handler) Register(r fiber.Router) {
	r.Get(Path, h.endSession)
	r.Post(Path, h.endSession)
	r.Get(Path+"/confirm", h.csrf, h.showConfirm)
	r.Post(Path+"/confirm", h.csrf, h.confirm)
}

// request is a validated end-session request.
type request struct {
	client   *store.Client // nil when the request names none
	redirect string        // a registered post_logout_redirect_uri, or ""
	state    string
	hint     *token.IDTokenHint
}

// refusal is a request the endpoint cannot accept: shown as a page,
// never redirected (§3: only to a registered URI of a known client).
type refusal struct {
	code, description string
}

func refuse(description string, args ...any) *refusal {
	return &refusal{code: oauth.ErrInvalidRequest().Code, description: fmt.Sprintf(description, args...)}
}

// endSession answers GET and POST of the end-session endpoint (RP-Initiated
// Logout 1.0 §2). A POST (whose cross-site form carries no SameSite=Lax
// cookie) comes back as a GET, which does. A request verifiably from the
// relying party (a valid id_token_hint for the user signed in here, or
// with nobody signed in) ends the session at once; any other asks the
// user first (§2: the OP MUST ask when there is no id_token_hint or it is
// not the current user's), on a page protected against CSRF.
func (h *Handler) endSession(c *fiber.Ctx) error {
	p, err := oauth.Parse(c)
	if err != nil {
		return h.refusal(c, refuse("the request's parameters are malformed: %s", oauthDescription(err)))
	}
	req, bad := h.parse(c, p)
	if bad != nil {
		return h.refusal(c, bad)
	}
	if c.Method() == fiber.MethodPost {
		oauth.NoStore(c)
		return c.Redirect(h.cfg.Server.BasePath+Path+"?"+paramsOf(p).Encode(), fiber.StatusSeeOther)
	}
	user, signedIn, err := h.sessions.Current(c)
	if err != nil {
		return identity.ServerErrorPage(h.cfg, c, "logout", err)
	}
	if req.hint == nil || (signedIn && user.Subject != req.hint.Subject) {
		q := url.Values{}
		if req.client != nil {
			q.Set("client_id", req.client.ID)
		}
		if req.redirect != "" {
			q.Set("post_logout_redirect_uri", req.redirect)
		}
		if req.state != "" {
			q.Set("state", req.state)
		}
		oauth.NoStore(c)
		return c.Redirect(h.cfg.Server.BasePath+Path+"/confirm?"+q.Encode(), fiber.StatusFound)
	}
	return h.finish(c, req, fiber.StatusFound)
}

// showConfirm asks the user whether to sign out (the CSRF middleware has
// issued the form's token).
func (h *Handler) showConfirm(c *fiber.Ctx) error {
	p, err := oauth.ParseQuery(c)
	if err != nil {
		return h.refusal(c, refuse("the request's parameters are malformed: %s", oauthDescription(err)))
	}
	req, bad := h.parse(c, p)
	if bad != nil {
		return h.refusal(c, bad)
	}
	user, signedIn, err := h.sessions.Current(c)
	if err != nil {
		return identity.ServerErrorPage(h.cfg, c, "logout", err)
	}
	v := view{Step: "confirm", Action: h.cfg.Server.BasePath + Path + "/confirm"}
	if signedIn {
		v.User = user.Name()
	}
	if req.client != nil {
		v.ClientName = clientName(req.client)
		v.Fields = append(v.Fields, identity.Field{Name: "client_id", Value: req.client.ID})
	}
	var formActions []string
	if req.redirect != "" {
		v.RedirectTarget = req.redirect
		v.Fields = append(v.Fields, identity.Field{Name: "post_logout_redirect_uri", Value: req.redirect})
		if src, ok := identity.FormActionSource(req.redirect); ok {
			formActions = append(formActions, src)
		}
	}
	if req.state != "" {
		v.Fields = append(v.Fields, identity.Field{Name: "state", Value: req.state})
	}
	return h.page.Render(c, fiber.StatusOK, v, formActions...)
}

// confirm answers the confirmation form (CSRF already checked): sign out
// and go back to the relying party, or stay.
func (h *Handler) confirm(c *fiber.Ctx) error {
	p, err := oauth.ParseBody(c)
	if err != nil {
		return h.refusal(c, refuse("the form is malformed: %s", oauthDescription(err)))
	}
	if p.Get("decision") != "logout" {
		slog.InfoContext(c.UserContext(), "logout declined by the user", "client_id", clean(p.Get("client_id")),
			"request_id", c.Locals("request_id"))
		return h.page.Render(c, fiber.StatusOK, view{Step: "stayed"})
	}
	// The form names no id_token_hint: the user's click is the consent.
	delete(p, "id_token_hint")
	req, bad := h.parse(c, p)
	if bad != nil {
		return h.refusal(c, bad)
	}
	return h.finish(c, req, fiber.StatusSeeOther)
}

// parse validates the parameters of §2 (logout_hint and ui_locales are
// accepted and not used): an id_token_hint must be an ID token of this
// server (expired or not), for the client_id when both are sent; a
// post_logout_redirect_uri needs a client, by client_id or the hint's
// audience, and must be one it registered, exactly.
func (h *Handler) parse(c *fiber.Ctx, p oauth.Params) (request, *refusal) {
	ctx := c.UserContext()
	var req request
	req.state = p.Get("state")
	if len(req.state) > maxState || !utf8.ValidString(req.state) {
		return req, refuse("state must be at most %d bytes of UTF-8", maxState)
	}
	clientID := p.Get("client_id")
	if raw := p.Get("id_token_hint"); raw != "" {
		hint, err := h.issuer.VerifyIDTokenHint(ctx, raw)
		if err != nil {
			return req, refuse("id_token_hint is not an ID token issued by this server")
		}
		if clientID != "" && !hint.IssuedTo(clientID) {
			return req, refuse("id_token_hint was not issued to client_id")
		}
		if clientID == "" && len(hint.Audience) == 1 {
			clientID = hint.Audience[0]
		}
		req.hint = &hint
	}
	if clientID != "" {
		cl, err := h.clients.Get(ctx, clientID)
		var oe *oauth.Error
		switch {
		case errors.Is(err, store.ErrNotFound):
			return req, refuse("client_id names no registered client")
		case errors.As(err, &oe):
			return req, refuse("client_id names no usable client: %s", oe.Description)
		case err != nil:
			return req, &refusal{code: oauth.ErrServerError().Code, description: "the server could not read the client"}
		}
		req.client = &cl
	}
	if uri := p.Get("post_logout_redirect_uri"); uri != "" {
		switch {
		case req.client == nil:
			return req, refuse("post_logout_redirect_uri needs client_id or id_token_hint, to know whose URI it is")
		case !slices.Contains(req.client.PostLogoutRedirectURIs, uri):
			return req, refuse("post_logout_redirect_uri is not one the client registered")
		}
		req.redirect = uri
	}
	return req, nil
}

// finish ends the user's sessions here (the login session, and the
// provider session its sign-in started) and sends the browser to the
// registered URI with state (§3), or shows that the user is signed out.
func (h *Handler) finish(c *fiber.Ctx, req request, status int) error {
	rec, had, err := h.sessions.Logout(c)
	if err != nil {
		return identity.ServerErrorPage(h.cfg, c, "logout", err)
	}
	if h.ender != nil {
		if err := h.ender.EndSignIn(c, rec); err != nil {
			return identity.ServerErrorPage(h.cfg, c, "logout", err)
		}
	}
	var clientID string
	if req.client != nil {
		clientID = req.client.ID
	}
	slog.LogAttrs(c.UserContext(), slog.LevelInfo, "signed out by logout request",
		slog.String("client_id", clientID), slog.String("sub", rec.Subject), slog.Bool("had_session", had),
		slog.Bool("id_token_hint", req.hint != nil), slog.Any("request_id", c.Locals("request_id")))
	if req.redirect == "" {
		return h.page.Render(c, fiber.StatusOK, view{Step: "done"})
	}
	target := req.redirect
	if req.state != "" {
		u, err := url.Parse(target)
		if err != nil {
			return identity.ServerErrorPage(h.cfg, c, "logout", err)
		}
		q := u.Query()
		q.Set("state", req.state)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	oauth.NoStore(c)
	return c.Redirect(target, status)
}

// view is what the page template sees.
type view struct {
	Step             string // error, confirm, stayed, done
	ErrorCode        string
	ErrorDescription string
	ClientName       string
	User             string
	RedirectTarget   string
	Action           string
	Fields           []identity.Field
}

// refusal answers a request that cannot be accepted with the error page:
// 400, nothing changed, no redirect.
func (h *Handler) refusal(c *fiber.Ctx, r *refusal) error {
	slog.InfoContext(c.UserContext(), "logout request refused", "reason", r.description,
		"request_id", c.Locals("request_id"))
	status := fiber.StatusBadRequest
	if r.code == oauth.ErrServerError().Code {
		status = fiber.StatusInternalServerError
	}
	return h.page.Render(c, status, view{Step: "error", ErrorCode: r.code, ErrorDescription: r.description})
}

// paramsOf is p as url.Values, for the GET a POST is answered with.
func paramsOf(p oauth.Params) url.Values {
	q := make(url.Values, len(p))
	for k, v := range p {
		q.Set(k, v)
	}
	return q
}

func oauthDescription(err error) string {
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Description != "" {
		return oe.Description
	}
	return "unreadable"
}

func clientName(c *store.Client) string {
	if c.ClientName != "" {
		return c.ClientName
	}
	return c.ID
}

// clean bounds a value from the request for the log.
func clean(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "")
}
