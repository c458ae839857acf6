package ciba_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestHistoryPages: GET /admin/ciba/history pages through the consent
// history newest first with limit and cursor, every decision once; a
// filter that matches little reads a bounded number of records per page,
// answering a short page with a cursor to go on, so that no request reads
// the whole history.
func TestHistoryPages(t *testing.T) {
	e := start(t, options{})
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(i int, sub string) {
		at := base.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("%020d-x", at.UnixNano())
		if err := e.st.Consents.Create(ctx, id, store.ConsentRecord{ID: id, Subject: sub, ClientID: "app", Decision: "approved", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	// Alice's three decisions are the oldest, under 6,000 of bob's.
	const bobs = 6000
	for i := range 3 {
		put(i, "user:default/alice")
	}
	for i := range bobs {
		put(3+i, "user:default/bob")
	}

	page := func(query string) ([]any, string) {
		t.Helper()
		status, body := e.admin(t, "/admin/ciba/history?"+query, adminToken)
		if status != 200 {
			t.Fatalf("history?%s = %d %v", query, status, body)
		}
		hist, _ := body["history"].([]any)
		next, _ := body["next_cursor"].(string)
		return hist, next
	}
	// Unfiltered: pages of 1000 (the maximum), newest first, every one once.
	var last time.Time
	seen, pages, cursor := 0, 0, ""
	for {
		hist, next := page("limit=1000&cursor=" + url.QueryEscape(cursor))
		pages++
		for _, h := range hist {
			at, err := time.Parse(time.RFC3339Nano, h.(map[string]any)["at"].(string))
			if err != nil || (!last.IsZero() && !at.Before(last)) {
				t.Fatalf("page %d: %v after %v (%v): not newest first", pages, at, last, err)
			}
			last = at
			seen++
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if seen != bobs+3 || pages != 7 {
		t.Fatalf("paged %d decisions in %d pages, want %d in 7", seen, pages, bobs+3)
	}
	// The default page is 100.
	if hist, next := page(""); len(hist) != 100 || next == "" {
		t.Fatalf("default page: %d decisions, next %q; want 100 and a cursor", len(hist), next)
	}

	// Filtered: the first page reads its budget of bob's decisions and
	// comes back empty with a cursor; the next finds alice's.
	sub := "sub=" + url.QueryEscape("user:default/alice")
	hist, next := page(sub + "&limit=2")
	if len(hist) != 0 || next == "" {
		t.Fatalf("first filtered page: %d decisions, next %q; want none and a cursor", len(hist), next)
	}
	hist, next = page(sub + "&limit=2&cursor=" + url.QueryEscape(next))
	if len(hist) != 2 || next == "" {
		t.Fatalf("second filtered page: %d decisions, next %q; want 2 and a cursor", len(hist), next)
	}
	hist, next = page(sub + "&limit=2&cursor=" + url.QueryEscape(next))
	if len(hist) != 1 || next != "" {
		t.Fatalf("last filtered page: %d decisions, next %q; want 1 and no cursor", len(hist), next)
	}

	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "cursor=" + url.QueryEscape(fmt.Sprintf("%0200d", 1))} {
		if status, body := e.admin(t, "/admin/ciba/history?"+bad, adminToken); status != 400 || body["error"] != "invalid_request" {
			t.Errorf("history?%s = %d %v, want 400 invalid_request", bad, status, body)
		}
	}
}
