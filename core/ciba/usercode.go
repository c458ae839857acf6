package ciba

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// The user_code is what keeps clients from pushing requests at a user
// unasked (CIBA Core §7.1), and a short code falls to a few thousand
// guesses. So wrong codes are counted per hint, whatever the client (open
// registration makes clients cheap): after maxUserCodeFailures within
// userCodeWindow, requests for that hint are refused until the window
// ends. The price is that a stranger can lock a user's hint out of CIBA
// for the window; the approval page and every other flow stay open.
const (
	maxUserCodeFailures = 5
	userCodeWindow      = 15 * time.Minute
)

// userCodeKey names the counter of the hint a request carries.
func userCodeKey(req *authRequest) string {
	return store.HashID(req.hintKind + "\x00" + strings.ToLower(req.hint))
}

// userCodeAttemptsLeft refuses a request with a user_code for a hint
// whose codes were guessed wrong too often lately. The count is in the
// store, so every replica on the database refuses alike.
func (s *Service) userCodeAttemptsLeft(ctx context.Context, req *authRequest) error {
	if req.userCode == "" {
		return nil
	}
	locked, err := s.userCodes.Locked(ctx, userCodeKey(req))
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	if locked {
		return oauth.ErrTooManyRequests().WithDescription("too many wrong user codes for this user; try again in %d minutes", int(userCodeWindow/time.Minute))
	}
	return nil
}

// countUserCodeFailure counts a wrong user_code against the request's
// hint, in a window that starts with the first failure.
func (s *Service) countUserCodeFailure(ctx context.Context, req *authRequest) {
	if err := s.userCodes.Add(ctx, userCodeKey(req)); err != nil {
		slog.WarnContext(ctx, "ciba: a wrong user_code was not counted", "error", err)
	}
}
