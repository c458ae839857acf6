// Package server assembles Gatehouse: the Fiber app, its middleware, every
// endpoint package under the base path, health and metrics, and graceful
// shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/admin"
	"github.com/gatehouse-auth/gatehouse/core/authorize"
	"github.com/gatehouse-auth/gatehouse/core/ciba"
	"github.com/gatehouse-auth/gatehouse/core/client"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/discovery"
	"github.com/gatehouse-auth/gatehouse/core/grant"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/logout"
	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/mtls"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
	"github.com/gatehouse-auth/gatehouse/core/upstream"
)

// Server is a running Gatehouse.
type Server struct {
	cfg    *config.Config
	st     *store.Store
	keys   *keyset.Keyset
	issuer *token.Issuer
	app    *fiber.App
	// admin is /admin, guarded by the admin token: mount operator routes on it.
	admin   fiber.Router
	plugins *plugin.Host
	ciba    *ciba.Service
	// out is the one client of everything the server fetches or posts.
	out *outbound.Client
	// langs are the catalogues of the pages and the approval e-mail.
	langs *locale.Bundle
	// ready is written by Serve and read by /readyz's handlers.
	ready atomic.Bool
	// conns are the connections Serve has accepted.
	conns atomic.Pointer[connTracker]
}

// New builds the server on an open store. It generates the first signing
// key if the store has none.
func New(ctx context.Context, cfg *config.Config, st *store.Store) (*Server, error) {
	keys, err := keyset.Open(ctx, cfg, st)
	if err != nil {
		return nil, fmt.Errorf("server: signing keys: %w", err)
	}
	// Missing or broken plugins are logged, not fatal: their hooks fail
	// closed. The first-party plugins come with the binary.
	pluginCfg := cfg.Plugins
	pluginCfg.CacheDir = cfg.PluginCacheDir()
	out := outbound.New(outbound.FromConfig(cfg.Outbound))
	if cfg.Outbound.AllowPrivate && !localIssuer(cfg) {
		// The embedded configuration turns it on; a production layer
		// that forgets to turn it off is worth a line at every start.
		slog.Warn("outbound.allow_private is on with a public issuer: the server will connect to loopback and private addresses; set it to false outside development",
			"issuer", cfg.Issuer())
	}
	if !localIssuer(cfg) && slices.ContainsFunc(cfg.Tokens.Resources, loopbackResource) {
		// The embedded configuration's development list; a production
		// layer lists its own resource servers instead.
		slog.Warn("tokens.resources admits loopback resources with a public issuer: clients may get tokens for any local server; list your resource servers instead",
			"issuer", cfg.Issuer(), "resources", cfg.Tokens.Resources)
	}
	plugins, err := plugin.NewHost(ctx, pluginCfg, st.KV, slog.Default(), plugin.WithEmbedded(gatehouse.Plugins()), plugin.WithOutbound(out))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{cfg: cfg, st: st, keys: keys, issuer: token.NewIssuer(cfg, keys, st), plugins: plugins, out: out}
	s.app = fiber.New(fiber.Config{
		AppName:               "gatehouse",
		BodyLimit:             cfg.Server.BodyLimit,
		ReadBufferSize:        16 << 10,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		DisableStartupMessage: true,
		ErrorHandler:          func(c *fiber.Ctx, err error) error { return oauth.WriteError(c, err) },
	})
	if err := s.routes(); err != nil {
		_ = plugins.Close(ctx)
		return nil, err
	}
	return s, nil
}

// localIssuer tells an issuer on a loopback host (local development).
func localIssuer(cfg *config.Config) bool {
	u, err := url.Parse(cfg.Issuer())
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(u.Hostname())
	return err == nil && ip.IsLoopback()
}

// loopbackResource reports whether a tokens.resources entry names a
// loopback host (the embedded development list).
func loopbackResource(r string) bool {
	u, err := url.Parse(r)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(u.Hostname())
	return err == nil && ip.IsLoopback()
}

// App exposes the Fiber app, for tests that call it in process.
func (s *Server) App() *fiber.App { return s.app }

// Keys exposes the keyset (for `gatehouse keys` and tests).
func (s *Server) Keys() *keyset.Keyset { return s.keys }

// Issuer exposes the token issuer (for tests and later endpoint packages).
func (s *Server) Issuer() *token.Issuer { return s.issuer }

// Plugins exposes the plugin host (SIGHUP reloads it; endpoints call hooks).
func (s *Server) Plugins() *plugin.Host { return s.plugins }

func (s *Server) routes() error {
	limiter := newRateLimiter(s.cfg.RateLimit, s.cfg.Server.TrustedProxies)
	s.app.Use(recoverPanics, requestID, accessLog(s.cfg.Server.TrustedProxies), securityHeaders, refuseContentCoding)
	certs, err := mtls.New(s.cfg.Server.MTLS)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if certs != nil {
		// Before every route: client authentication and the resource
		// endpoints read the certificate it records (mtls.Peer).
		s.app.Use(certs.Middleware)
	}

	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", s.metricsGuard(), adaptor.HTTPHandler(promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})))

	s.admin = s.app.Group("/admin", admin.Guard(s.cfg))
	s.keys.RegisterAdmin(s.admin)
	s.plugins.Register(s.admin)
	if b, ok := s.st.KV.(store.Backuper); ok {
		s.admin.Get(BackupPath, s.backup(b))
	}

	base := s.app.Group(s.cfg.Server.BasePath)
	base.Use(cors(s.cfg))
	// The pages speak the language of the request's Accept-Language.
	langs, err := locale.New(s.cfg.UI.Locale())
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.langs = langs
	base.Use(identity.Languages(langs))
	if limiter != nil {
		base.Use("/v1/token", limiter.middleware("token"))
		base.Use("/v1/register", limiter.middleware("register"))
		// Per address only: the client_id of an authorization request is
		// not authenticated, so it must not cost that client anything.
		base.Use("/v1/authorize", limiter.addressOnly("authorize"))
		// The token endpoint's limits: each request asks a plugin, and
		// may carry a user_code guess.
		base.Use(ciba.AuthorizePath, limiter.middleware("backchannel"))
	}
	client.New(s.cfg, s.st).Register(base)
	clients := client.NewClients(s.cfg, s.st, s.out)
	s.issuer.WithClients(clients)
	identity.RegisterAssets(base)
	providers, err := upstream.New(s.cfg, s.st, s.issuer, s.plugins, s.out)
	if err != nil {
		return fmt.Errorf("server: sign-in providers: %w", err)
	}
	providers.Register(base)
	authz, err := authorize.New(s.cfg, s.st, s.issuer, providers.Pages)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	authz.WithDirectory(identity.NewDirectory(s.plugins)).WithClients(clients).Register(base)
	endSession, err := logout.New(s.cfg, clients, s.issuer, providers.Sessions, providers.CSRF, providers)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	endSession.Register(base)
	tokens := grant.New(s.cfg, s.st, s.issuer).WithClaims(s.plugins).WithClients(clients)
	if err := s.mountCIBA(base, tokens, providers); err != nil {
		return err
	}
	tokens.Register(base)
	token.NewHandler(s.cfg, s.st, s.issuer).WithClients(clients).Register(base)
	// Discovery lists what is registered above (the token endpoint's grant types).
	disco := discovery.New(s.cfg, s.keys, tokens.GrantTypes())
	disco.Register(base)
	disco.RegisterRoot(s.app, cors(s.cfg))
	s.app.Use(notFound(s.app))
	return nil
}

// metricsGuard puts /metrics behind the admin token when one is set (the
// counters name routes, clients' traffic and plugin failures); without
// one, /metrics stays open as before, for a scraper on a private network.
func (s *Server) metricsGuard() fiber.Handler {
	if s.cfg.Admin.Token == "" {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return admin.Guard(s.cfg)
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if _, err := s.st.KV.Get(ctx, store.ReadyProbeKey); err != nil && !errors.Is(err, store.ErrNotFound) {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "storage unavailable"})
	}
	if !s.ready.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "starting"})
	}
	// Started while the database did not answer: ready once the signing
	// keys have been read from it.
	if !s.keys.Signing() {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(oauth.StorageRetryAfter))
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "signing keys not loaded"})
	}
	// A full disk makes the server refuse writes, so most flows: not
	// ready, though reads (discovery, JWKS, introspection) are served.
	if wc, ok := s.st.KV.(store.WriteChecker); ok {
		if err := wc.CheckWrite(); err != nil {
			status := "storage unavailable"
			if errors.Is(err, store.ErrFull) {
				status = "storage full"
			}
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(oauth.StorageRetryAfter))
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": status, "reads": "served", "writes": "refused"})
		}
	}
	// Plugins still compiling do not make the server unready: it serves,
	// and only their hooks fail closed until they have loaded.
	if loading := s.plugins.Loading(); len(loading) > 0 {
		return c.JSON(fiber.Map{"status": "ready", "plugins_loading": loading})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// drainShare is the part of server.shutdown_grace that requests in flight
// get to finish; the rest is for closing plugins and the store.
func drainShare(grace time.Duration) time.Duration { return grace * 3 / 4 }

// Serve accepts connections on ln until ctx is cancelled, then shuts down
// gracefully: it stops accepting, closes connections that carry no request
// (idle keep-alive ones, and new ones whose client has sent nothing yet),
// and lets in-flight requests finish for three quarters of
// server.shutdown_grace before closing the rest.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer func() {
		// After the last request: plugins wait for their calls in flight.
		if err := s.plugins.Close(context.WithoutCancel(ctx)); err != nil {
			slog.Warn("closing plugins", "error", err)
		}
	}()
	defer s.ciba.Start(ctx)() // the delivery queue, stopped once requests are done
	// Keys rotated by another process on the same database.
	kctx, stopKeys := context.WithCancel(ctx)
	keysDone := make(chan struct{})
	go func() { defer close(keysDone); s.keys.Run(kctx, s.cfg.Keys.RefreshInterval) }()
	defer func() { stopKeys(); <-keysDone }()
	if s.cfg.Server.TLS.Enabled() {
		tlsCfg, err := s.cfg.Server.TLS.Config()
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		ln = tls.NewListener(ln, tlsCfg)
	}
	conns := trackConns(ln)
	s.conns.Store(conns)
	s.app.Server().ConnState = conns.connState
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(conns) }()
	s.ready.Store(true)
	slog.Info("gatehouse listening", "addr", ln.Addr().String(), "issuer", s.cfg.Issuer())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.ready.Store(false)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainShare(s.cfg.Server.ShutdownGrace))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.app.ShutdownWithContext(sctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// fasthttp closes idle keep-alive connections itself; the ones
		// that never started a request are ours to close (see connTracker).
		conns.closeUnstarted()
		select {
		case err := <-done:
			if err == nil {
				return nil
			}
			n := conns.closeAll()
			return fmt.Errorf("server: shutdown: closed %d connections with requests still in flight: %w", n, err)
		case <-tick.C:
		}
	}
}
