package ciba

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/client"
	"github.com/gatehouse-auth/gatehouse/core/grant"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// slowDownStep is CIBA Core §11's (and RFC 8628 §3.5's) 5 seconds.
const slowDownStep = 5

// Flow is the token endpoint's CIBA grant (CIBA Core §10.1, §11).
type Flow struct{ s *Service }

var _ grant.Flow = Flow{}

// Flow returns the grant to add to the token endpoint.
func (s *Service) Flow() grant.Flow { return Flow{s: s} }

func (Flow) GrantType() string { return GrantType }

// errRaced reports a request that changed between read and write.
var errRaced = errors.New("ciba: request changed concurrently")

// Handle answers a poll (or a ping client's fetch) for auth_req_id:
// authorization_pending while the user has not answered, slow_down (and
// 5 s more interval) to a client polling faster than the interval,
// access_denied after a denial, expired_token after expiry, and the
// tokens exactly once after approval; anything else is invalid_grant.
func (f Flow) Handle(ctx context.Context, req *grant.Request) (*grant.Response, error) {
	s := f.s
	// Parse.
	authReqID := req.Params.Get("auth_req_id")
	if authReqID == "" {
		return nil, oauth.ErrInvalidRequest().WithDescription("auth_req_id is required (CIBA Core §10.1)")
	}

	// Validate.
	id := store.HashID(authReqID)
	rec, err := s.st.Backchannel.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.ErrInvalidGrant().WithDescription("auth_req_id is invalid or has expired")
	}
	if err != nil {
		return nil, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: read request: %w", err))
	}
	if rec.ClientID != req.Client.ID {
		return nil, oauth.ErrInvalidGrant().WithDescription("auth_req_id is invalid or has expired")
	}
	if rec.DeliveryMode == client.DeliveryPush {
		return nil, oauth.ErrUnauthorizedClient().WithDescription("a client in push mode receives its tokens at its notification endpoint (CIBA Core §11)")
	}
	if rec.Status == store.BackchannelRedeemed {
		return nil, oauth.ErrInvalidGrant().WithDescription("auth_req_id was already redeemed")
	}
	now := s.now()
	if !now.Before(rec.ExpiresAt) {
		return nil, oauth.ErrExpiredToken().WithDescription("auth_req_id has expired; start a new request")
	}

	// RFC 8707 §2.2: resources named here narrow those of the request,
	// and every one must still be on the allow-list.
	audience, err := s.mint.Audience(&req.Client, req.Resources, rec.Resource)
	if err != nil {
		return nil, err
	}

	// Act.
	switch rec.Status {
	case store.BackchannelDenied:
		return nil, oauth.ErrAccessDenied().WithStatus(http.StatusBadRequest).WithDescription("the user denied the request")
	case store.BackchannelPending:
		return nil, s.pollPending(ctx, id, now)
	case store.BackchannelApproved:
	default:
		return nil, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: request in unknown status %q", rec.Status))
	}
	// Single redemption: the compare-and-swap from approved to redeemed
	// decides which of two concurrent requests gets the tokens, and it
	// commits with them, so a failed mint leaves the request approved.
	redeem := s.st.Backchannel.UpdateWrite(id, func(old store.BackchannelRequest) (store.BackchannelRequest, error) {
		if old.Status != store.BackchannelApproved {
			return old, errRaced
		}
		old.Status = store.BackchannelRedeemed
		old.NotificationToken, old.NotificationTokenSealed = "", false
		return old, nil
	})
	resp, err := s.issue(ctx, id, &rec, &req.Client, "", audience, req.Confirmation, redeem)
	if errors.Is(err, errRaced) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return nil, oauth.ErrInvalidGrant().WithDescription("auth_req_id was already redeemed")
	}
	if err != nil {
		return nil, err
	}

	// Respond.
	slog.InfoContext(ctx, "ciba tokens issued", "client_id", rec.ClientID, "sub", rec.Subject, "request", id[:12])
	return resp, nil
}

// pollPending records a poll of a pending request: authorization_pending,
// or slow_down when it came sooner than the interval after the last one
// (the interval then grows by 5 s, CIBA Core §11).
func (s *Service) pollPending(ctx context.Context, id string, now time.Time) error {
	tooSoon := false
	_, err := s.st.Backchannel.Update(ctx, id, func(old store.BackchannelRequest) (store.BackchannelRequest, error) {
		if old.Status != store.BackchannelPending {
			return old, errRaced
		}
		tooSoon = !old.LastPoll.IsZero() && now.Sub(old.LastPoll) < time.Duration(old.Interval)*time.Second
		if tooSoon {
			old.Interval += slowDownStep
		}
		old.LastPoll = now
		return old, nil
	})
	switch {
	case errors.Is(err, errRaced):
		// Decided in the meantime: the next poll gets the answer.
		return oauth.ErrAuthorizationPending()
	case errors.Is(err, store.ErrNotFound):
		return oauth.ErrExpiredToken().WithDescription("auth_req_id has expired; start a new request")
	case err != nil:
		return oauth.ErrServerError().WithParent(fmt.Errorf("ciba: record poll: %w", err))
	case tooSoon:
		return oauth.ErrSlowDown()
	}
	return oauth.ErrAuthorizationPending()
}

// issue mints the tokens of an approved request: a grant, an access token,
// an ID token, and a refresh token when the client registered the
// refresh_token grant or asked for offline_access, and commits them with
// writes in one batch. In push mode (authReqID set) the ID token carries
// auth_req_id, at_hash and rt_hash (CIBA Core §10.3.1), and the push
// delivery that carries the tokens commits with them too. bind is the
// x5t#S256 the access token is bound to (RFC 8705 §3), or "".
func (s *Service) issue(ctx context.Context, id string, rec *store.BackchannelRequest, cl *store.Client, authReqID string, audience []string, bind string, writes ...store.Write) (*grant.Response, error) {
	grantID := rec.GrantID
	if grantID == "" { // approved before approvals drew it
		grantID = oauth.RandomToken(16)
	}
	g := s.mint.NewGrant(store.Grant{
		ID:                 grantID,
		BackchannelRequest: id,
		ClientID:           rec.ClientID,
		Subject:            rec.Subject,
		Ownership:          rec.Ownership,
		Profile:            rec.Profile,
		Claims:             rec.Claims,
		Scope:              rec.Scope,
		Resource:           rec.Resource,
		AuthTime:           rec.AuthTime,
	})
	createGrant, err := s.mint.GrantWrite(g)
	if err != nil {
		return nil, oauth.ErrServerError().WithParent(err)
	}
	// The link from the request to its grant outlives the request record.
	link, err := s.st.BackchannelGrants.CreateWrite(id, store.BackchannelGrant{GrantID: g.ID, ClientID: g.ClientID, ExpiresAt: g.ExpiresAt})
	if err != nil {
		return nil, oauth.ErrServerError().WithParent(err)
	}
	refresh := token.HasScope(rec.Scope, "offline_access") || slices.Contains(cl.GrantTypes, "refresh_token")
	is := grant.Issue{
		GrantType:  GrantType,
		Grant:      g,
		Audience:   audience,
		Scope:      rec.Scope,
		IDToken:    authReqID == "",
		IDTokenAlg: cl.IDTokenAlg(),
		Refresh:    refresh,

		Confirmation: bind,
		// The caller's writes first: a lost compare-and-swap reports
		// itself, not the grant (whose id the approval drew) as existing.
		Writes: append(append(slices.Clip(writes), createGrant), link),
	}
	if authReqID != "" {
		is.Finish = func(ctx context.Context, resp *grant.Response) ([]store.Write, error) {
			return s.finishPush(ctx, rec, cl, &g, authReqID, resp)
		}
	}
	resp, err := s.mint.Mint(ctx, is)
	if err != nil {
		return nil, err
	}
	if authReqID != "" {
		s.queue.Poke()
	}
	return resp, nil
}

// finishPush completes a push-mode token response: the ID token that binds
// the tokens it travels with (§10.3.1), and the delivery that carries them
// to the client's notification endpoint (§10.3), for the same batch.
func (s *Service) finishPush(ctx context.Context, rec *store.BackchannelRequest, cl *store.Client, g *store.Grant, authReqID string, resp *grant.Response) ([]store.Write, error) {
	alg := jose.SignatureAlgorithm(cl.IDTokenAlg())
	// The user's sign-in claims, as the minter's ID token has them; the
	// §10.3.1 claims win.
	extra := make(map[string]any, len(g.Claims)+2)
	maps.Copy(extra, g.Claims)
	extra["urn:openid:params:jwt:claim:auth_req_id"] = authReqID
	if resp.RefreshToken != "" {
		extra["urn:openid:params:jwt:claim:rt_hash"] = token.AccessTokenHash(alg, resp.RefreshToken)
	}
	var err error
	resp.IDToken, err = s.issuer.IDToken(ctx, token.IDRequest{
		ClientID:    g.ClientID,
		Subject:     g.Subject,
		Ownership:   g.Ownership,
		AuthTime:    g.AuthTime,
		AccessToken: resp.AccessToken,
		Profile:     g.Profile,
		Scope:       rec.Scope,
		Algorithm:   alg,
		Extra:       extra,
	})
	if err != nil {
		return nil, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: sign push ID token: %w", err))
	}
	body := struct {
		AuthReqID string `json:"auth_req_id"`
		*responseJSON
	}{authReqID, (*responseJSON)(resp)}
	w, err := s.callbackWrite(store.HashID(authReqID), rec, store.DeliveryPush, body)
	if err != nil {
		return nil, err
	}
	return []store.Write{w}, nil
}
