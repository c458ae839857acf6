package identity

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

//go:embed templates/layout.html templates/login.html templates/error.html static/gatehouse.css
var files embed.FS

// StylesheetPath is where the pages' stylesheet is served, under the base
// path. The pages are styled only by it: the CSP allows no inline style.
const StylesheetPath = "/oauth2/static/gatehouse.css"

var (
	stylesheet     = mustRead("static/gatehouse.css")
	stylesheetHash = shortHash(stylesheet)
	layout         = template.Must(template.New("layout.html").Funcs(locale.Markup).ParseFS(files, "templates/layout.html", "templates/login.html"))
	errorPage      = template.Must(template.Must(layout.Clone()).ParseFS(files, "templates/error.html"))
)

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("identity: embedded %s: %v", name, err))
	}
	return b
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// AllowOpener is the middleware of the pages a popup flow passes through
// (the authorization request and its redirects, the consent page, the
// login step, the sign-in round trip). The server's default
// Cross-Origin-Opener-Policy: same-origin would put such a page in a new
// browsing context group when a window of another origin opened it
// (HTML, "cross-origin opener policies"), and the opener would lose the
// popup for good: the app at the end of the flow could not postMessage
// its result back, the way OAuth popup sign-ins (Backstage's among them)
// work. The pages keep frame-ancestors 'none' against framing.
func AllowOpener(c *fiber.Ctx) error {
	c.Set("Cross-Origin-Opener-Policy", "unsafe-none")
	return c.Next()
}

// RegisterAssets serves the stylesheet at StylesheetPath under r.
func RegisterAssets(r fiber.Router) {
	r.Get(StylesheetPath, func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
		// The link carries the content hash, so the file can be cached for long.
		if c.Query("v") == stylesheetHash {
			c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		} else {
			c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		}
		return c.Send(stylesheet)
	})
}

// Page is a page template rendered inside the shared layout. Its template
// file defines "title" and "content"; data reaches them as .Data.
// A page that offers sign-in calls the shared parts of
// templates/login.html ("login-methods", "signed-in-user", "scope-list")
// with the view, $, and embeds SignIn in its data.
type Page struct {
	t          *template.Template
	stylesheet string
}

// ParsePage parses the page template at name in fsys inside the layout,
// for the server configured by cfg.
func ParsePage(cfg *config.Config, fsys fs.FS, name string) (*Page, error) {
	t, err := layout.Clone()
	if err != nil {
		return nil, fmt.Errorf("identity: clone layout: %w", err)
	}
	if _, err := t.ParseFS(fsys, name); err != nil {
		return nil, fmt.Errorf("identity: parse page %s: %w", name, err)
	}
	return &Page{t: t, stylesheet: stylesheetHref(cfg)}, nil
}

func stylesheetHref(cfg *config.Config) string {
	return cfg.Server.BasePath + StylesheetPath + "?v=" + stylesheetHash
}

// view is what the layout sees. L speaks the request's language: the
// templates write every text through it, {{$.L.T "key" "name" value}}.
type view struct {
	Stylesheet string
	CSRF       string
	L          *locale.Localizer
	Data       any
}

const localeLocal = "identity.locale"

// Languages is the middleware of the routes that render pages: it gives
// them the bundle whose language Localizer picks per request. Without it
// the pages speak the shipped catalogues, English first.
func Languages(b *locale.Bundle) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(localeLocal, b)
		return c.Next()
	}
}

// Localizer speaks the language of the request: the best match of its
// Accept-Language among the bundle's languages, else the default.
func Localizer(c *fiber.Ctx) *locale.Localizer {
	switch v := c.Locals(localeLocal).(type) {
	case *locale.Localizer:
		return v
	case *locale.Bundle:
		l := v.Negotiate(c.Get(fiber.HeaderAcceptLanguage))
		c.Locals(localeLocal, l)
		return l
	}
	return locale.Default.Negotiate(c.Get(fiber.HeaderAcceptLanguage))
}

// Render writes the page with status. formActions are extra CSP
// form-action sources beyond 'self' (see FormActionSource): where the
// page's forms, or the redirects that answer them, may send the browser.
func (p *Page) Render(c *fiber.Ctx, status int, data any, formActions ...string) error {
	return render(c, p.t, p.stylesheet, status, data, formActions)
}

func render(c *fiber.Ctx, t *template.Template, stylesheet string, status int, data any, formActions []string) error {
	var buf bytes.Buffer
	v := view{
		Stylesheet: stylesheet,
		CSRF:       CSRFToken(c),
		L:          Localizer(c),
		Data:       data,
	}
	// Render fully before answering, so that a template error never
	// produces half a page.
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("identity: render page: %w", err)
	}
	setPageHeaders(c, formActions)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	// The page speaks the language Accept-Language chose.
	c.Set(fiber.HeaderContentLanguage, v.L.Lang())
	c.Vary(fiber.HeaderAcceptLanguage)
	return c.Status(status).Send(buf.Bytes())
}

// setPageHeaders replaces the server's API-wide CSP (default-src 'none')
// with one that lets the page use its stylesheet and post its forms.
func setPageHeaders(c *fiber.Ctx, formActions []string) {
	csp := "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	for _, src := range formActions {
		csp += " " + src
	}
	c.Set("Content-Security-Policy", csp)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	// Same-origin posts carry a Referer, which Fiber's CSRF check requires
	// over https; other origins still get none.
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
}

// ErrorPage answers with a small HTML error page in the request's
// language: title and detail are message keys (locale).
func ErrorPage(cfg *config.Config, c *fiber.Ctx, status int, title, detail string) error {
	return ErrorPageText(cfg, c, status, title, Localizer(c).Text(detail))
}

// ErrorPageText is ErrorPage with a detail given as text, for a message
// that is not the server's own (a plugin's, an upstream provider's).
func ErrorPageText(cfg *config.Config, c *fiber.Ctx, status int, title, detail string) error {
	t := Localizer(c).Text(title)
	err := render(c, errorPage, stylesheetHref(cfg), status, struct{ Title, Detail string }{t, detail}, nil)
	if err != nil {
		slog.ErrorContext(c.UserContext(), "rendering the error page failed", "error", err)
		return c.Status(status).SendString(t)
	}
	return nil
}

// ServerErrorPage answers a page request that failed on the server: it
// logs err as a failure of the page named page and shows the 500 error
// page, which tells the user nothing of the cause; a store that cannot
// serve now (store.ErrUnavailable, a full disk) is 503 with Retry-After.
func ServerErrorPage(cfg *config.Config, c *fiber.Ctx, page string, err error) error {
	slog.ErrorContext(c.UserContext(), page+" failed", "path", c.Path(), "error", err,
		"request_id", c.Locals("request_id"))
	if errors.Is(err, store.ErrUnavailable) {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(oauth.StorageRetryAfter))
		return ErrorPage(cfg, c, fiber.StatusServiceUnavailable, "error.unavailable_title", "error.unavailable")
	}
	return ErrorPage(cfg, c, fiber.StatusInternalServerError, "error.server_title", "error.server")
}

var (
	cspHost   = regexp.MustCompile(`^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
	cspScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
)

// FormActionSource returns the CSP source expression that admits the
// browser being sent to rawURL by a form or by the redirect answering it
// (CSP Level 3 §6.3.1 form-action applies to redirects too, and Chromium
// enforces it there): the origin for http(s), the scheme for a private-use
// scheme (RFC 8252 §7.1). ok is false for a URL that cannot be expressed
// safely in a CSP header.
func FormActionSource(rawURL string) (src string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if !cspScheme.MatchString(scheme) {
		return "", false
	}
	if scheme != "http" && scheme != "https" {
		return scheme + ":", true
	}
	if !cspHost.MatchString(u.Host) {
		return "", false
	}
	return scheme + "://" + u.Host, true
}
