package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/ciba"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

const cibaUsage = "usage: gatehouse ciba history [--config FILE] [--server URL --admin-token TOKEN] [--sub REF] [--client ID] [--limit N] [--cursor C] [--json]"

// runCIBA lists the CIBA consent history: from a running server's admin
// endpoint (--server, --admin-token or GATEHOUSE_ADMIN__TOKEN), or from
// the data directory of a stopped one.
func runCIBA(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "history" {
		return errors.New(cibaUsage)
	}
	var server, token, sub, clientID, cursor string
	var limit int
	var asJSON bool
	cfg, _, err := loadConfig("ciba history", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&server, "server", "", "URL of a running gatehouse (its issuer without the base path's trailing slash)")
		fs.StringVar(&token, "admin-token", "", "admin token of the running server (default: admin.token of the configuration)")
		fs.StringVar(&sub, "sub", "", "only decisions of this user (entity ref)")
		fs.StringVar(&clientID, "client", "", "only decisions for this client_id")
		fs.IntVar(&limit, "limit", 100, "at most this many decisions, newest first (1-1000)")
		fs.StringVar(&cursor, "cursor", "", "continue after the page that printed this cursor")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if limit < 1 || limit > 1000 {
		return errors.New("ciba history: --limit must be between 1 and 1000")
	}
	var records []store.ConsentRecord
	var next string
	q := ciba.HistoryQuery{Subject: sub, ClientID: clientID, Cursor: cursor, Limit: limit}
	if server != "" {
		if token == "" {
			token = cfg.Admin.Token
		}
		records, next, err = historyFromServer(ctx, server, token, q)
	} else {
		if cfg.Storage.Backend == "memory" {
			return errors.New("ciba history: the memory backend lives only inside a running server: use --server and --admin-token")
		}
		var st *store.Store
		if st, err = openKeyStore(ctx, cfg); err != nil {
			return err
		}
		defer st.Close()
		records, next, err = ciba.History(ctx, st, q)
	}
	if err != nil {
		return err
	}
	if next != "" {
		// On stderr, so that --json prints the records alone.
		defer fmt.Fprintf(os.Stderr, "more: the next page is --cursor %s\n", next)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(records)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tDECISION\tUSER\tCLIENT\tSCOPE\tVIA\tBINDING MESSAGE")
	for _, r := range records {
		client := r.ClientID
		if r.ClientName != "" {
			client += " (" + r.ClientName + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%q\n", r.At.Local().Format(time.DateTime), r.Decision, r.Subject,
			client, r.Scope, r.Via, r.BindingMessage)
	}
	return tw.Flush()
}

// historyFromServer reads GET /admin/ciba/history.
func historyFromServer(ctx context.Context, server, token string, hq ciba.HistoryQuery) ([]store.ConsentRecord, string, error) {
	q := url.Values{"limit": {fmt.Sprint(hq.Limit)}}
	for name, v := range map[string]string{"sub": hq.Subject, "client_id": hq.ClientID, "cursor": hq.Cursor} {
		if v != "" {
			q.Set(name, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+"/admin"+ciba.HistoryPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("ciba history: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("ciba history: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		History          []store.ConsentRecord `json:"history"`
		NextCursor       string                `json:"next_cursor"`
		Error            string                `json:"error"`
		ErrorDescription string                `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body); err != nil && resp.StatusCode == http.StatusOK {
		return nil, "", fmt.Errorf("ciba history: decode answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("ciba history: the server answered %s: %s %s", resp.Status, body.Error, body.ErrorDescription)
	}
	return body.History, body.NextCursor, nil
}
