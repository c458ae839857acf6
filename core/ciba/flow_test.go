package ciba_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// halfHash is at_hash / rt_hash for ES256 (OIDC Core §3.1.3.6).
func halfHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// TestPollMode: pending → slow_down (interval + 5 s) → approve → tokens
// → a second redemption refused (CIBA Core §11).
func TestPollMode(t *testing.T) {
	// An interval no loaded machine takes between two polls "at once".
	e := start(t, options{edit: func(c *config.Config) { c.CIBA.Interval = time.Minute }})
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("guest", "scope", "openid profile offline_access"))

	if status, body := e.poll(t, cl, id); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v", status, body)
	}
	if status, body := e.poll(t, cl, id); status != 400 || body["error"] != "slow_down" {
		t.Fatalf("second poll at once: %d %v", status, body)
	}
	rec, err := e.st.Backchannel.Get(context.Background(), store.HashID(id))
	if err != nil || rec.Interval != 65 {
		t.Fatalf("interval after slow_down: %d (%v), want 60+5", rec.Interval, err)
	}
	// Another client cannot redeem it, nor learn anything about it.
	other := e.client(t, "poll", "", nil)
	if status, body := e.poll(t, other, id); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("other client: %d %v", status, body)
	}

	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 || body["status"] != "approved" {
		t.Fatalf("complete: %d %v", status, body)
	}
	status, body := e.poll(t, cl, id)
	if status != 200 {
		t.Fatalf("poll after approval: %d %v", status, body)
	}
	access, _ := body["access_token"].(string)
	rawID, _ := body["id_token"].(string)
	if access == "" || rawID == "" || body["refresh_token"] == nil || body["token_type"] != "Bearer" ||
		body["scope"] != "openid profile offline_access" {
		t.Fatalf("token response %v", body)
	}
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: cl.ID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if tok.Subject != "user:development/guest" {
		t.Errorf("ID token sub %q", tok.Subject)
	}
	if err := tok.VerifyAccessToken(access); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if status, body := e.poll(t, cl, id); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", status, body)
	}
	// The access token works at userinfo.
	if status, body := e.get(t, "/v1/userinfo", access); status != 200 || body["sub"] != "user:development/guest" {
		t.Errorf("userinfo: %d %v", status, body)
	}
}

// TestResources: a CIBA request names RFC 8707 resources on the server's
// allow-list (tokens.resources), and its access token is for them; the
// token request may narrow them, never name another (invalid_target,
// and the request stays redeemable).
func TestResources(t *testing.T) {
	const api, other = "https://api.example.com/", "https://other.example.com/"
	e := start(t, options{edit: func(c *config.Config) { c.Tokens.Resources = []string{api, other} }})
	cl := e.client(t, "poll", "", nil)
	form := loginHint("guest")
	form["resource"] = []string{api, other}
	id := e.startRequest(t, cl, form)
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	poll := func(resource string) (int, map[string]any) {
		status, body, err := testclient.PostForm(e.issuer+"/v1/token", cl.ID, cl.Secret, url.Values{
			"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}, "resource": {resource},
		})
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	if status, body := poll("https://payments.example.net/"); status != 400 || body["error"] != "invalid_target" {
		t.Fatalf("poll naming another resource: %d %v, want invalid_target", status, body)
	}
	status, body := poll(api)
	if status != 200 {
		t.Fatalf("poll naming an authorized resource: %d %v", status, body)
	}
	access, _ := body["access_token"].(string)
	claims, err := e.srv.Issuer().VerifyAccessToken(context.Background(), access)
	if err != nil || !slices.Equal(claims.Audience, []string{api}) {
		t.Errorf("access token audience %v (%v), want [%s]", claims.Audience, err, api)
	}
}

// TestDenial: a denied request answers access_denied, and the decision is
// in the consent history (admin endpoint).
func TestDenial(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("guest", "binding_message", "deny me"))
	if status, body := e.complete(t, e.guest(t), id, "deny"); status != 200 || body["status"] != "denied" {
		t.Fatalf("complete: %d %v", status, body)
	}
	if status, body := e.poll(t, cl, id); status != 400 || body["error"] != "access_denied" {
		t.Fatalf("poll: %d %v", status, body)
	}
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != http.StatusConflict {
		t.Fatalf("approve after deny: %d %v", status, body)
	}
	status, body := e.admin(t, "/admin/ciba/history?sub="+url.QueryEscape("user:development/guest"), adminToken)
	hist, _ := body["history"].([]any)
	if status != 200 || len(hist) != 1 {
		t.Fatalf("history: %d %v", status, body)
	}
	h, _ := hist[0].(map[string]any)
	if h["decision"] != "denied" || h["client_id"] != cl.ID || h["scope"] != "openid profile" || h["via"] != "api" ||
		h["binding_message"] != "deny me" || h["at"] == nil {
		t.Errorf("history entry %v", h)
	}
	if status, _ := e.admin(t, "/admin/ciba/history", ""); status != 401 {
		t.Errorf("history without the admin token: %d", status)
	}
}

// TestExpiry: a request past its requested_expiry answers expired_token,
// and can no longer be approved.
func TestExpiry(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("guest", "requested_expiry", "1"))
	e.waitExpired(t, id)
	if status, body := e.poll(t, cl, id); status != 400 || body["error"] != "expired_token" {
		t.Fatalf("poll: %d %v", status, body)
	}
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 400 || body["error"] != "expired_token" ||
		!strings.Contains(body["error_description"].(string), "expired at") {
		t.Fatalf("approve after expiry: %d %v", status, body)
	}
}

// TestDeviceAPI: authinfo and complete only for the user the request
// names, with an identity token.
func TestDeviceAPI(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	aliceReq := e.startRequest(t, cl, loginHint("alice", "user_code", aliceUserCode, "binding_message", "A1"))
	guestReq := e.startRequest(t, cl, loginHint("guest", "binding_message", "G1"))
	guest := e.guest(t)

	if status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+guestReq, ""); status != 401 || body["error"] != "invalid_token" {
		t.Errorf("authinfo without a token: %d %v", status, body)
	}
	status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+guestReq, guest)
	if status != 200 || body["client_id"] != cl.ID || body["client_name"] != "CIBA test app" || body["binding_message"] != "G1" ||
		body["scope"] != "openid profile" || body["status"] != "pending" || body["sub"] != "user:development/guest" {
		t.Fatalf("authinfo: %d %v", status, body)
	}
	if status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id="+aliceReq, guest); status != 403 {
		t.Errorf("authinfo of another user's request: %d %v", status, body)
	}
	if status, body := e.get(t, "/v1/backchannel/authinfo?auth_req_id=nope", guest); status != 404 {
		t.Errorf("authinfo of an unknown request: %d %v", status, body)
	}
	if status, body := e.complete(t, guest, aliceReq, "approve"); status != 403 || body["error"] != "access_denied" {
		t.Errorf("guest approving alice's request: %d %v", status, body)
	}
	if status, body := e.complete(t, guest, guestReq, "maybe"); status != 400 {
		t.Errorf("bad action: %d %v", status, body)
	}
	if status, body := e.complete(t, "garbage", guestReq, "approve"); status != 401 {
		t.Errorf("bad token: %d %v", status, body)
	}
	// Nothing above changed the requests.
	if status, body := e.poll(t, cl, aliceReq); body["error"] != "authorization_pending" {
		t.Errorf("alice's request: %d %v", status, body)
	}
}

// TestConcurrentRedemption: many polls of one approved request at once
// yield the tokens exactly once.
func TestConcurrentRedemption(t *testing.T) {
	e := start(t, options{})
	cl := e.client(t, "poll", "", nil)
	id := e.startRequest(t, cl, loginHint("guest"))
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	const n = 16
	results := make(chan int, n)
	for range n {
		go func() {
			status, _, err := testclient.PostForm(e.issuer+"/v1/token", cl.ID, cl.Secret, url.Values{
				"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id},
			})
			if err != nil {
				status = -1
			}
			results <- status
		}()
	}
	ok := 0
	for range n {
		switch <-results {
		case 200:
			ok++
		case 400:
		default:
			t.Error("a poll failed otherwise than 400 invalid_grant")
		}
	}
	if ok != 1 {
		t.Fatalf("%d polls got tokens, want exactly 1", ok)
	}
}

// TestMetrics: CIBA requests, decisions and deliveries are counted at
// /metrics.
func TestMetrics(t *testing.T) {
	e := start(t, options{})
	rcv := newReceiver(t)
	cl := e.client(t, "ping", rcv.URL, nil)
	id := e.startRequest(t, cl, loginHint("guest", "client_notification_token", "m"))
	if status, body := e.complete(t, e.guest(t), id, "approve"); status != 200 {
		t.Fatalf("complete: %d %v", status, body)
	}
	rcv.next(t)
	resp, err := e.metrics()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gatehouse_ciba_requests_total{outcome="accepted"}`,
		`gatehouse_ciba_decisions_total{decision="approved",via="api"}`,
		`gatehouse_ciba_notifications_total{outcome="queued",type="webhook"}`,
		`gatehouse_ciba_delivery_queue_depth`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The delivered ping is counted (the receiver answers before the
	// queue records the outcome: wait for it).
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := e.metrics()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(raw), `gatehouse_ciba_deliveries_total{kind="ping",outcome="delivered"}`) &&
			strings.Contains(string(raw), `gatehouse_ciba_delivery_seconds_bucket{kind="ping"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/metrics never counted the delivered ping")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
