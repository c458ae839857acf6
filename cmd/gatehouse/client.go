package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const clientUsage = `usage:
  gatehouse client register [--server URL] [--token INITIAL_ACCESS_TOKEN] --name NAME
                            [--redirect-uri URI]... [--grant-type TYPE]... [--scope SCOPE] [--public]
  gatehouse client show     [--server URL] --client-id ID --token REGISTRATION_ACCESS_TOKEN
  gatehouse client delete   [--server URL] --client-id ID --token REGISTRATION_ACCESS_TOKEN`

// clientHTTP bounds every request the client command makes.
var clientHTTP = &http.Client{Timeout: 30 * time.Second}

// runClient registers and manages clients on a running server through its
// public API (RFC 7591, RFC 7592), exactly as a tool registering itself would:
// the command needs no access to the data directory.
func runClient(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(clientUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("gatehouse client "+sub, flag.ContinueOnError)
	server := fs.String("server", "http://localhost:7007/api/auth", "the server's issuer URL (public URL and base path)")
	token := fs.String("token", "", "initial access token (register) or registration access token (show, delete)")
	clientID := fs.String("client-id", "", "the client to show or delete")
	name := fs.String("name", "", "client_name")
	scope := fs.String("scope", "", "space-separated scope the client may ask for")
	public := fs.Bool("public", false, "a public client (token_endpoint_auth_method none, PKCE required)")
	var redirects, grants stringList
	fs.Var(&redirects, "redirect-uri", "a redirect URI (repeatable)")
	fs.Var(&grants, "grant-type", "a grant type (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	issuer := strings.TrimSuffix(*server, "/")

	var req *http.Request
	var err error
	switch sub {
	case "register":
		if *name == "" {
			return errors.New("client register: --name is required")
		}
		metadata := map[string]any{"client_name": *name}
		if len(redirects) > 0 {
			metadata["redirect_uris"] = []string(redirects)
		}
		if len(grants) > 0 {
			metadata["grant_types"] = []string(grants)
		}
		if *scope != "" {
			metadata["scope"] = *scope
		}
		if *public {
			metadata["token_endpoint_auth_method"] = "none"
		}
		body, _ := json.Marshal(metadata)
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/v1/register", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	case "show", "delete":
		if *clientID == "" || *token == "" {
			return fmt.Errorf("client %s: --client-id and --token are required", sub)
		}
		method := http.MethodGet
		if sub == "delete" {
			method = http.MethodDelete
		}
		req, err = http.NewRequestWithContext(ctx, method, issuer+"/v1/register/"+url.PathEscape(*clientID), nil)
	default:
		return errors.New(clientUsage)
	}
	if err != nil {
		return fmt.Errorf("client %s: %w", sub, err)
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	return sendClientRequest(req, sub, stdout)
}

// sendClientRequest sends req and prints the server's JSON answer, or
// turns an RFC 6749/7591 error body into the command's error.
func sendClientRequest(req *http.Request, sub string, stdout io.Writer) error {
	resp, err := clientHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("client %s: %w", sub, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("client %s: read answer: %w", sub, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("client %s: %s: %s (HTTP %d)", sub, e.Error, e.Description, resp.StatusCode)
		}
		return fmt.Errorf("client %s: HTTP %d", sub, resp.StatusCode)
	}
	if resp.StatusCode == http.StatusNoContent {
		fmt.Fprintln(stdout, "deleted")
		return nil
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		return fmt.Errorf("client %s: answer is not JSON: %w", sub, err)
	}
	pretty.WriteByte('\n')
	_, err = pretty.WriteTo(stdout)
	return err
}
