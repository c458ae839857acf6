package ciba

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
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
	userCodeFailures    = "usercode-failures/"
)

// userCodeKey names the counter of the hint a request carries.
func userCodeKey(req *authRequest) string {
	return userCodeFailures + store.HashID(req.hintKind+"\x00"+strings.ToLower(req.hint))
}

// userCodeAttemptsLeft refuses a request with a user_code for a hint
// whose codes were guessed wrong too often lately.
func (s *Service) userCodeAttemptsLeft(ctx context.Context, req *authRequest) error {
	if req.userCode == "" {
		return nil
	}
	raw, err := s.st.KV.Get(ctx, userCodeKey(req))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	if n, _ := strconv.Atoi(string(raw)); n >= maxUserCodeFailures {
		return oauth.ErrTooManyRequests().WithDescription("too many wrong user codes for this user; try again in %d minutes", int(userCodeWindow/time.Minute))
	}
	return nil
}

// countUserCodeFailure counts a wrong user_code against the request's
// hint, in a window that starts with the first failure.
func (s *Service) countUserCodeFailure(ctx context.Context, req *authRequest) {
	key := userCodeKey(req)
	err := s.st.KV.Update(ctx, key, func(old []byte) ([]byte, error) {
		n, _ := strconv.Atoi(string(old))
		return []byte(strconv.Itoa(n + 1)), nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = s.st.KV.Create(ctx, key, []byte("1"), s.now().Add(userCodeWindow))
		if errors.Is(err, store.ErrConflict) { // counted concurrently: count again
			s.countUserCodeFailure(ctx, req)
			return
		}
	}
	if err != nil {
		slog.WarnContext(ctx, "ciba: a wrong user_code was not counted", "error", err)
	}
}
