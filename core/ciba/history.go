package ciba

import (
	"context"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// HistoryQuery selects a page of the consent history.
type HistoryQuery struct {
	// Subject and ClientID filter the decisions (empty matches all).
	Subject, ClientID string
	// Cursor continues after the page that returned it (empty: newest).
	Cursor string
	// Limit is the most decisions returned.
	Limit int
}

// historyReadBudget bounds the records one page reads, so that a filter
// matching few decisions cannot make a request read the whole history:
// such a page comes back short (even empty) with a cursor to go on.
const historyReadBudget = 5000

// historyStorePage is how many records one store read returns while a
// filter is applied.
const historyStorePage = 256

// History returns one page of consent decisions, newest first, matching
// q, and the cursor of the next page ("" once the oldest decision was
// read). The store lists in key order, which is time order, backwards
// from the cursor; it reads at most historyReadBudget records.
func History(ctx context.Context, st *store.Store, q HistoryQuery) ([]store.ConsentRecord, string, error) {
	out := make([]store.ConsentRecord, 0, min(q.Limit, historyStorePage))
	after, read := q.Cursor, 0
	filtered := q.Subject != "" || q.ClientID != ""
	for {
		n := min(historyReadBudget-read, historyStorePage)
		if !filtered {
			n = min(n, q.Limit-len(out))
		}
		page, next, err := st.Consents.ListPage(ctx, store.Page{After: after, Limit: n, Reverse: true})
		if err != nil {
			return nil, "", fmt.Errorf("ciba: list consent history: %w", err)
		}
		for _, r := range page {
			read++
			after = r.ID
			if (q.Subject != "" && r.Value.Subject != q.Subject) || (q.ClientID != "" && r.Value.ClientID != q.ClientID) {
				continue
			}
			out = append(out, r.Value)
			if len(out) == q.Limit {
				return out, r.ID, nil
			}
		}
		if next == "" {
			return out, "", nil
		}
		if read >= historyReadBudget {
			return out, after, nil
		}
	}
}
