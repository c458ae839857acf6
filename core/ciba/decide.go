package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/client"
	"github.com/gatehouse-auth/gatehouse/core/identity"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Channels a decision comes through, recorded in the consent history.
const (
	viaPage = "page"
	viaAPI  = "api"
)

// errDecided reports a request that is no longer pending.
var errDecided = errors.New("ciba: request already decided")

// StatusExpired is the status authinfo reports for a request that expired
// without an answer (stored requests stay pending; nothing is sent to a
// ping or push client then, as CIBA Core §10.2 and §10.3 allow).
const StatusExpired = "expired"

// pending loads a request that can still be decided, for user u when u is
// not the zero User. Errors are *oauth.Error: 404 unknown (or expired so
// long ago that it is gone), 403 another user's request, 409 already
// decided, 400 expired_token expired without an answer.
func (s *Service) pending(ctx context.Context, authReqID string, u *identity.User) (string, store.BackchannelRequest, error) {
	id := store.HashID(authReqID)
	if authReqID == "" || len(authReqID) > 128 {
		return id, store.BackchannelRequest{}, oauth.ErrNotFound().WithDescription("no such authentication request")
	}
	rec, err := s.st.Backchannel.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return id, rec, oauth.ErrNotFound().WithDescription("the authentication request is unknown or has expired")
	}
	if err != nil {
		return id, rec, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: read request: %w", err))
	}
	if err := s.clientExists(ctx, rec.ClientID); err != nil {
		return id, rec, err
	}
	if u != nil && u.Subject != rec.Subject {
		return id, rec, oauth.ErrAccessDenied().WithDescription("this authentication request is for another user")
	}
	if rec.Status != store.BackchannelPending {
		return id, rec, oauth.ErrInvalidRequest().WithStatus(http.StatusConflict).WithDescription("the authentication request was already answered")
	}
	if !s.now().Before(rec.ExpiresAt) {
		return id, rec, errExpired(rec.ExpiresAt)
	}
	return id, rec, nil
}

// clientExists answers 404, as for an unknown request, when the request's
// client has been deleted (RFC 7592 §2.3): its requests die with it, and
// nobody is asked to approve them.
func (s *Service) clientExists(ctx context.Context, clientID string) error {
	_, err := s.st.Clients.Get(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return oauth.ErrNotFound().WithDescription("the authentication request is unknown or has expired")
	case err != nil:
		return oauth.ErrServerError().WithParent(fmt.Errorf("ciba: read client: %w", err))
	}
	return nil
}

// errExpired: the request expired at at without an answer.
func errExpired(at time.Time) *oauth.Error {
	return oauth.ErrExpiredToken().WithDescription("the authentication request expired at %s without an answer",
		at.UTC().Format(time.RFC3339))
}

// errExpiredNow reports a request that expired between read and write.
var errExpiredNow = errors.New("ciba: request expired")

// decide records user u's answer to a pending request in one atomic
// batch: the request's status, the consent history and, in ping and push
// modes, the callback to the client (CIBA Core §10.2, §10.3), queued
// durably. In push mode an approval mints the tokens in the same batch,
// and the request is redeemed by the push: a failure or a crash at any
// point leaves the request pending and nothing else recorded.
func (s *Service) decide(ctx context.Context, authReqID string, approve bool, u identity.User, via string) error {
	id, rec, err := s.pending(ctx, authReqID, &u)
	if err != nil {
		return err
	}
	now := s.now()
	status := store.BackchannelDenied
	if approve {
		status = store.BackchannelApproved
	}
	authTime := u.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	cl, cerr := s.st.Clients.Get(ctx, rec.ClientID)
	// The client is gone (between the check and now): nobody to call back,
	// nothing to mint for; the decision is recorded all the same.
	mode := rec.DeliveryMode
	if cerr != nil {
		slog.WarnContext(ctx, "ciba: the client of a decided request is gone", "client_id", rec.ClientID, "error", cerr)
		mode = client.DeliveryPoll
	}
	pushTokens := approve && mode == client.DeliveryPush
	var grantID string
	if approve {
		grantID = oauth.RandomToken(16)
	}
	record := s.st.Backchannel.UpdateWrite(id, func(old store.BackchannelRequest) (store.BackchannelRequest, error) {
		if old.Status != store.BackchannelPending {
			return old, errDecided
		}
		if !now.Before(old.ExpiresAt) {
			return old, errExpiredNow
		}
		old.Status = status
		old.DecidedAt = now
		old.GrantID = grantID
		// Only pending requests are listed with their handle.
		old.AuthReqID, old.AuthReqIDSealed = "", false
		old.AuthTime = authTime.UTC().Truncate(time.Second)
		if approve {
			// The approving user's sign-in claims, for the grant's
			// tokens (core/token drops registered names).
			old.Claims = u.Claims
		}
		if pushTokens {
			old.Status = store.BackchannelRedeemed
			old.NotificationToken, old.NotificationTokenSealed = "", false
		}
		return old, nil
	})
	decision := store.ConsentDenied
	if approve {
		decision = store.ConsentApproved
	}
	consent, err := s.consentWrite(id, &rec, cl.ClientName, decision, via, grantID, now)
	if err != nil {
		return err
	}
	writes := []store.Write{record, consent}
	switch {
	case pushTokens:
		decided := rec
		decided.Claims = u.Claims
		decided.AuthTime = authTime.UTC().Truncate(time.Second)
		decided.GrantID = grantID
		_, err = s.issue(ctx, id, &decided, &cl, authReqID, nil, rec.Confirmation, writes...)
	case mode == client.DeliveryPing || mode == client.DeliveryPush:
		body := any(map[string]string{"auth_req_id": authReqID})
		if mode == client.DeliveryPush { // a denial (§12)
			body = map[string]string{"auth_req_id": authReqID, "error": "access_denied", "error_description": "the user denied the request"}
		}
		kind := store.DeliveryPing
		if mode == client.DeliveryPush {
			kind = store.DeliveryPush
		}
		var callback store.Write
		if callback, err = s.callbackWrite(id, &rec, kind, body); err != nil {
			return err
		}
		if err = s.st.Apply(ctx, append(writes, callback)...); err == nil {
			s.queue.Poke()
		}
	default:
		err = s.st.Apply(ctx, writes...)
	}
	switch {
	case errors.Is(err, errExpiredNow):
		return errExpired(rec.ExpiresAt)
	case errors.Is(err, errDecided):
		return oauth.ErrInvalidRequest().WithStatus(http.StatusConflict).WithDescription("the authentication request was already answered")
	case errors.Is(err, store.ErrNotFound):
		return oauth.ErrNotFound().WithDescription("the authentication request is unknown or has expired")
	case err != nil:
		if _, ok := errors.AsType[*oauth.Error](err); ok {
			return err
		}
		return oauth.ErrServerError().WithParent(fmt.Errorf("ciba: record decision: %w", err))
	}
	decisionsTotal.WithLabelValues(decision, via).Inc()
	slog.InfoContext(ctx, "ciba request decided", "decision", decision, "via", via, "client_id", rec.ClientID,
		"sub", rec.Subject, "request", id[:12])
	return nil
}

// callbackWrite is the write that queues a POST of body to the client's
// notification endpoint with its client_notification_token as bearer
// (CIBA Core §10.2). The token is unsealed from the request id names, and
// the queue seals it again with the body.
func (s *Service) callbackWrite(id string, rec *store.BackchannelRequest, kind string, body any) (store.Write, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return store.Write{}, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: encode %s body: %w", kind, err))
	}
	bearer, err := s.secrets.openString(notificationTokenAD(id), rec.NotificationToken, rec.NotificationTokenSealed)
	if err != nil {
		return store.Write{}, oauth.ErrServerError().WithParent(fmt.Errorf("ciba: %s callback: %w", kind, err))
	}
	w, err := s.queue.Prepare(store.Delivery{
		Kind:     kind,
		ClientID: rec.ClientID,
		URL:      rec.NotificationEndpoint,
		Bearer:   bearer,
		Body:     raw,
	})
	if err != nil {
		return store.Write{}, oauth.ErrServerError().WithParent(err)
	}
	return w, nil
}

// consentWrite is the write that appends the decision to the consent
// history.
func (s *Service) consentWrite(id string, rec *store.BackchannelRequest, clientName, decision, via, grantID string, at time.Time) (store.Write, error) {
	key := fmt.Sprintf("%020d-%s", at.UnixNano(), oauth.RandomToken(6))
	w, err := s.st.Consents.CreateWrite(key, store.ConsentRecord{
		ID:             key,
		Subject:        rec.Subject,
		ClientID:       rec.ClientID,
		ClientName:     clientName,
		Scope:          rec.Scope,
		BindingMessage: rec.BindingMessage,
		Decision:       decision,
		Via:            via,
		At:             at.UTC(),
		Request:        id[:12],
		GrantID:        grantID,
	})
	if err != nil {
		return store.Write{}, oauth.ErrServerError().WithParent(err)
	}
	return w, nil
}
