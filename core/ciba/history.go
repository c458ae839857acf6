package ciba

import (
	"context"
	"fmt"
	"slices"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// History lists consent decisions, newest first, for subject and client
// (empty matches all), at most limit of them. The store lists in key order,
// which is time order: the newest limit are kept while listing.
func History(ctx context.Context, st *store.Store, subject, clientID string, limit int) ([]store.ConsentRecord, error) {
	out := []store.ConsentRecord{}
	err := st.Consents.List(ctx, func(_ string, r store.ConsentRecord) error {
		if (subject != "" && r.Subject != subject) || (clientID != "" && r.ClientID != clientID) {
			return nil
		}
		out = append(out, r)
		if len(out) > limit {
			out = out[1:]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ciba: list consent history: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}
