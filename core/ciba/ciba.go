// Package ciba implements OpenID Connect Client-Initiated Backchannel
// Authentication Flow — Core 1.0: the backchannel authentication endpoint
// (§7), the token endpoint grant urn:openid:params:grant-type:ciba (§10.1,
// §11) in poll, ping and push modes (§5), and the authorization device the
// spec leaves open: an approval page, an API to read and answer a request,
// and a consent history. The user behind a hint is found by the
// resolve_user plugin hook and told by the notify hook; callbacks to
// clients go through a durable delivery queue (queue.go).
package ciba

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/core/client"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/grant"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/mail"
	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/ratelimit"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// GrantType is the CIBA grant type at the token endpoint (CIBA Core §10.1).
const GrantType = client.GrantTypeCIBA

// Paths, under the base path.
const (
	AuthorizePath = "/v1/backchannel/authorize"
	AuthInfoPath  = "/v1/backchannel/authinfo"
	CompletePath  = "/v1/backchannel/complete"
	// The same, where doorkeeper-ciba mounts them (ciba.doorkeeper_routes).
	DoorkeeperAuthorizePath = "/backchannel/authorize"
	DoorkeeperAuthInfoPath  = "/backchannel/authinfo"
	DoorkeeperCompletePath  = "/backchannel/complete"
	// PagePath + auth_req_id is the approval page the notification links to.
	PagePath = "/oauth2/backchannel/"
	// HistoryPath is the consent history, under /admin.
	HistoryPath = "/ciba/history"
)

// Deps are the server parts the service uses.
type Deps struct {
	Config *config.Config
	Store  *store.Store
	Issuer *token.Issuer
	// Keys verifies id_token_hint and tells the signing algorithm for the
	// push-mode ID token's rt_hash.
	Keys *keyset.Keyset
	// Minter mints tokens exactly as the token endpoint does.
	Minter *grant.Minter
	Hooks  plugin.Hooks
	Pages  identity.Pages
	// Languages are the catalogues of the approval e-mail; nil: the
	// shipped ones, English first.
	Languages *locale.Bundle
	// Outbound sends the callbacks and fetches jwks_uri; nil: a client of
	// Config's outbound section.
	Outbound *outbound.Client
}

// Service is CIBA: its endpoints, its grant and its delivery queue.
type Service struct {
	cfg    *config.Config
	st     *store.Store
	issuer *token.Issuer
	keys   *keyset.Keyset
	mint   *grant.Minter
	hooks  plugin.Hooks
	pages  identity.Pages
	page   *identity.Page
	queue  *Queue
	// emails render the approval e-mail of email deliveries, in a
	// language of langs.
	emails *emailTemplates
	langs  *locale.Bundle
	// secrets seals the client_notification_token at rest.
	secrets secrets
	// jwks caches the keys of clients registered with jwks_uri.
	jwks *client.KeySets
	// userCodes counts wrong user_codes per hint, in the store.
	userCodes *ratelimit.Failures
	now       func() time.Time
}

// New returns the service. The delivery queue runs once Start is called.
func New(d Deps) (*Service, error) {
	if d.Config == nil || d.Store == nil || d.Issuer == nil || d.Keys == nil || d.Minter == nil {
		return nil, errors.New("ciba: config, store, issuer, keys and minter are required")
	}
	page, err := identity.ParsePage(d.Config, templates, "templates/approve.html")
	if err != nil {
		return nil, fmt.Errorf("ciba: approval page: %w", err)
	}
	sec, err := newSecrets(d.Config.Keys.Secret, slog.Default())
	if err != nil {
		return nil, err
	}
	out := d.Outbound
	if out == nil {
		out = outbound.New(outbound.FromConfig(d.Config.Outbound))
	}
	s := &Service{
		cfg: d.Config, st: d.Store, issuer: d.Issuer, keys: d.Keys, mint: d.Minter,
		hooks: d.Hooks, pages: d.Pages, page: page, secrets: sec, jwks: client.NewKeySets(out), now: time.Now,
		userCodes: ratelimit.NewFailures(d.Store.UserCodeFailures, maxUserCodeFailures, userCodeWindow),
	}
	s.queue = NewQueue(d.Store, d.Config.CIBA.Delivery, out)
	s.queue.secrets = sec
	if s.langs = d.Languages; s.langs == nil {
		s.langs = locale.Default
	}
	if s.emails, err = parseEmailTemplates(d.Config.CIBA.Delivery.Email, s.langs); err != nil {
		return nil, err
	}
	if smtp := d.Config.CIBA.Delivery.SMTP; smtp.Enabled() {
		if s.queue.mailer, err = mail.NewSender(smtp, heloName(d.Config), d.Config.CIBA.Delivery.Timeout); err != nil {
			return nil, fmt.Errorf("ciba: %w", err)
		}
	}
	return s, nil
}

// Queue is the delivery queue (for tests and benchmarks).
func (s *Service) Queue() *Queue { return s.queue }

// Start runs the delivery queue until ctx ends or stop is called; stop
// waits for deliveries in flight.
func (s *Service) Start(ctx context.Context) (stop func()) { return s.queue.Start(ctx) }

// Register mounts the endpoints on r (already under the base path) and
// the consent history on admin (nil when there is none).
func (s *Service) Register(r fiber.Router, admin fiber.Router) {
	r.Post(AuthorizePath, s.backchannelAuthorize)
	r.Get(AuthInfoPath, s.authInfo)
	r.Post(CompletePath, s.complete)
	if s.cfg.CIBA.DoorkeeperRoutes {
		r.Post(DoorkeeperAuthorizePath, s.backchannelAuthorize)
		r.Get(DoorkeeperAuthInfoPath, s.authInfo)
		r.Post(DoorkeeperCompletePath, s.complete)
	}
	if s.pages.CSRF != nil && s.pages.Sessions != nil {
		r.Get(PagePath+":id", s.pages.CSRF, s.showPage)
		r.Post(PagePath+":id", s.pages.CSRF, s.submitPage)
	}
	if admin != nil {
		admin.Get(HistoryPath, s.history)
	}
}

// approvalURL is where the notification sends the user.
func (s *Service) approvalURL(authReqID string) string {
	return s.cfg.Issuer() + PagePath + authReqID
}

// Metrics.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_ciba_requests_total",
		Help: "Backchannel authentication requests by outcome (accepted or the error code).",
	}, []string{"outcome"})
	decisionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_ciba_decisions_total",
		Help: "CIBA decisions by decision (approved, denied) and channel (page, api).",
	}, []string{"decision", "via"})
	notificationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_ciba_notifications_total",
		Help: "Deliveries the notify plugin asked for, by type (log, webhook, email) and outcome.",
	}, []string{"type", "outcome"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, decisionsTotal, notificationsTotal,
		deliveriesTotal, deliveryLatency, queueDepth)
}
