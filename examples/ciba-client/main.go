// Command ciba-client is a CIBA client in poll mode (OpenID Connect CIBA
// Core 1.0): it sends a backchannel authentication request for a user,
// then polls the token endpoint at the interval the server asks for
// (slowing down by 5 s when told slow_down) until the user approves or
// denies on their own device, or the request expires.
//
//	go run ./examples/ciba-client --issuer http://localhost:7007/api/auth \
//	    --client-id ID --client-secret SECRET --login-hint guest --binding-message W4SCT
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
	"os/signal"
	"strings"
	"time"
)

// grantType is CIBA Core §10.1's grant type.
const grantType = "urn:openid:params:grant-type:ciba"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ciba-client:", err)
		os.Exit(1)
	}
}

// Client talks to one authorization server as one registered client.
type Client struct {
	Issuer, ID, Secret string
	HTTP               *http.Client
	// Sleep waits between polls (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives progress lines.
	Log io.Writer
}

// Request is a backchannel authentication request (CIBA Core §7.1).
type Request struct {
	Scope, LoginHint, BindingMessage string
	RequestedExpiry                  int
}

// Tokens is a successful token response.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ciba-client", flag.ContinueOnError)
	issuer := fs.String("issuer", "http://localhost:7007/api/auth", "the authorization server's issuer")
	id := fs.String("client-id", "", "client_id (a client registered for the CIBA grant in poll mode)")
	secret := fs.String("client-secret", os.Getenv("CIBA_CLIENT_SECRET"), "client_secret (default $CIBA_CLIENT_SECRET)")
	hint := fs.String("login-hint", "", "who should approve: a user id, email or username the server's directory knows")
	scope := fs.String("scope", "openid profile", "scope to ask for (openid is required)")
	binding := fs.String("binding-message", "", "short code shown here and on the user's device")
	expiry := fs.Int("requested-expiry", 0, "seconds the request may wait for the user (0: the server's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" || *secret == "" || *hint == "" {
		return errors.New("--client-id, --client-secret and --login-hint are required")
	}
	c := &Client{Issuer: strings.TrimSuffix(*issuer, "/"), ID: *id, Secret: *secret, Log: os.Stderr}
	tokens, err := c.Authenticate(ctx, Request{Scope: *scope, LoginHint: *hint, BindingMessage: *binding, RequestedExpiry: *expiry})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(tokens)
}

// Authenticate starts the request and polls until it ends.
func (c *Client) Authenticate(ctx context.Context, r Request) (*Tokens, error) {
	form := url.Values{"scope": {r.Scope}, "login_hint": {r.LoginHint}}
	if r.BindingMessage != "" {
		form.Set("binding_message", r.BindingMessage)
	}
	if r.RequestedExpiry > 0 {
		form.Set("requested_expiry", fmt.Sprint(r.RequestedExpiry))
	}
	var started struct {
		AuthReqID string `json:"auth_req_id"`
		ExpiresIn int    `json:"expires_in"`
		Interval  int    `json:"interval"`
	}
	if err := c.post(ctx, "/v1/backchannel/authorize", form, &started); err != nil {
		return nil, fmt.Errorf("backchannel authentication request: %w", err)
	}
	c.logf("request sent: the user has %ds to approve%s", started.ExpiresIn, bindingNote(r.BindingMessage))
	interval := time.Duration(max(started.Interval, 5)) * time.Second
	deadline := time.Now().Add(time.Duration(started.ExpiresIn) * time.Second)
	for {
		if err := c.sleep(ctx, interval); err != nil {
			return nil, err
		}
		var tokens Tokens
		err := c.post(ctx, "/v1/token", url.Values{"grant_type": {grantType}, "auth_req_id": {started.AuthReqID}}, &tokens)
		var oe *oauthError
		switch {
		case err == nil:
			c.logf("approved")
			return &tokens, nil
		case errors.As(err, &oe) && oe.Code == "authorization_pending":
			c.logf("waiting for the user...")
		case errors.As(err, &oe) && oe.Code == "slow_down":
			interval += 5 * time.Second // CIBA Core §11
			c.logf("slowing down to one poll every %s", interval)
		default:
			return nil, fmt.Errorf("token request: %w", err)
		}
		if time.Now().After(deadline.Add(interval)) {
			return nil, errors.New("the request expired without an answer")
		}
	}
}

func bindingNote(m string) string {
	if m == "" {
		return ""
	}
	return fmt.Sprintf("; check that their device shows %q", m)
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// post sends form with client_secret_basic (RFC 6749 §2.3.1) and decodes
// the JSON answer into out, or returns the *oauthError.
func (c *Client) post(ctx context.Context, path string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		oe := &oauthError{}
		if json.Unmarshal(body, oe) != nil || oe.Code == "" {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return oe
	}
	return json.Unmarshal(body, out)
}
