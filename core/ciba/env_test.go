package ciba_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

const adminToken = "ciba-admin-token-for-tests"

// aliceUserCode is the user_code directory-static knows for alice.
const aliceUserCode = "7294-alice"

// Shared by every test of the package: the compiled code of the embedded
// first-party plugins, so that each server does not compile them again.
var (
	pluginOnce     sync.Once
	pluginCacheDir string
	pluginErr      error
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Cleanup()
	if pluginCacheDir != "" {
		_ = os.RemoveAll(pluginCacheDir)
	}
	os.Exit(code)
}

// pluginCache is the package's compilation cache directory.
func pluginCache(tb testing.TB) string {
	tb.Helper()
	pluginOnce.Do(func() { pluginCacheDir, pluginErr = os.MkdirTemp("", "ciba-plugin-cache-") })
	if pluginErr != nil {
		tb.Fatalf("plugin cache: %v", pluginErr)
	}
	return pluginCacheDir
}

// receiver is an HTTP endpoint started by the test (a client's
// notification endpoint, or a notify webhook) that records what it gets.
type receiver struct {
	URL  string
	got  chan received
	mu   sync.Mutex
	code int
}

type received struct {
	Auth string
	Body map[string]any
	At   time.Time
}

func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &receiver{URL: "http://" + ln.Addr().String() + "/cb", got: make(chan received, 64), code: http.StatusNoContent}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: r}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return r
}

// answer sets the status the receiver answers with.
func (r *receiver) answer(code int) {
	r.mu.Lock()
	r.code = code
	r.mu.Unlock()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	code := r.code
	r.mu.Unlock()
	raw, _ := io.ReadAll(req.Body)
	if code < 300 {
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		select {
		case r.got <- received{Auth: req.Header.Get("Authorization"), Body: body, At: time.Now()}:
		default:
		}
	}
	w.WriteHeader(code)
}

// next waits for the next delivery.
func (r *receiver) next(tb testing.TB) received {
	tb.Helper()
	select {
	case v := <-r.got:
		return v
	case <-time.After(20 * time.Second):
		tb.Fatal("the receiver got nothing")
	}
	return received{}
}

// env is a running Gatehouse with CIBA, the first-party plugins and a
// notify webhook receiver.
type env struct {
	cfg     *config.Config
	srv     *server.Server
	st      *store.Store
	issuer  string
	origin  string // where the server listens: /metrics and /admin, outside the base path
	webhook *receiver
	stop    func()
}

// options of a test server.
type options struct {
	edit  func(*config.Config)
	store *store.Store // nil: a fresh memory store
	addr  string       // "" picks a port
	hook  *receiver    // nil: a new one
}

func start(tb testing.TB, o options) *env {
	tb.Helper()
	hook := o.hook
	if hook == nil {
		hook = newReceiver(tb)
	}
	cache := pluginCache(tb)
	var opts servertest.Options
	opts.Addr = o.addr
	if o.store != nil {
		opts.Store = func(testing.TB, *config.Config) *store.Store { return o.store }
	}
	l := servertest.StartWith(tb, func(cfg *config.Config) {
		cfg.Admin.Token = adminToken
		cfg.CIBA.Interval = time.Second
		cfg.CIBA.Delivery.InitialBackoff = 20 * time.Millisecond
		cfg.CIBA.Delivery.MaxBackoff = 100 * time.Millisecond
		cfg.CIBA.Delivery.MaxAttempts = 1000
		cfg.CIBA.Delivery.WebhookAllow = []string{hook.URL}
		// The first-party plugins the binary embeds, no plugin directory.
		cfg.Plugins.Dir, cfg.Plugins.CacheDir, cfg.Plugins.Watch = "", cache, false
		cfg.Plugins.Hooks = map[string]any{"resolve_user": "directory-static", "notify": "notify-default"}
		cfg.Plugins.Settings = map[string]config.PluginSettings{
			"directory-static": {Config: map[string]any{"users": []any{
				map[string]any{"sub": "user:development/guest", "username": "guest", "email": "guest@example.com", "displayName": "Guest"},
				map[string]any{"sub": "user:default/alice", "username": "alice", "email": "alice@example.com", "displayName": "Alice", "user_code": aliceUserCode},
			}}},
			"notify-default": {Config: map[string]any{"webhook_url": hook.URL}},
		}
		if o.edit != nil {
			o.edit(cfg)
		}
	}, opts)
	e := &env{cfg: l.Cfg, srv: l.Server, st: l.Store, issuer: l.Issuer, origin: "http://" + l.Addr, webhook: hook, stop: l.Stop}
	e.checkPlugins(tb)
	return e
}

// checkPlugins fails the test unless every plugin the server knows of
// loaded: server.New returns once its plugins have loaded, so a failure
// here is a broken build or configuration, never a slow machine.
func (e *env) checkPlugins(tb testing.TB) {
	tb.Helper()
	list := e.srv.Plugins().Status()
	if len(list) == 0 {
		tb.Fatal("no plugins: the bound first-party plugins did not load")
	}
	for _, p := range list {
		if p.Version == "" || p.LoadError != "" {
			tb.Fatalf("plugin %s did not load: %s", p.Name, p.LoadError)
		}
	}
}

// client registers a CIBA client in mode (with endpoint for ping/push).
func (e *env) client(tb testing.TB, mode, endpoint string, extra map[string]any) testclient.Client {
	tb.Helper()
	meta := map[string]any{
		"client_name":                     "CIBA test app",
		"grant_types":                     []string{"urn:openid:params:grant-type:ciba", "refresh_token"},
		"backchannel_token_delivery_mode": mode,
		"scope":                           "openid profile email offline_access",
	}
	if endpoint != "" {
		meta["backchannel_client_notification_endpoint"] = endpoint
	}
	for k, v := range extra {
		meta[k] = v
	}
	return testclient.Must(testclient.Register(e.issuer, meta))(tb)
}

// authorize posts a backchannel authentication request.
func (e *env) authorize(tb testing.TB, cl testclient.Client, form url.Values) (int, map[string]any) {
	tb.Helper()
	status, body, err := testclient.PostForm(e.issuer+"/v1/backchannel/authorize", cl.ID, cl.Secret, form)
	if err != nil {
		tb.Fatal(err)
	}
	return status, body
}

// start a request that must be accepted; it returns auth_req_id.
func (e *env) startRequest(tb testing.TB, cl testclient.Client, form url.Values) string {
	tb.Helper()
	status, body := e.authorize(tb, cl, form)
	id, _ := body["auth_req_id"].(string)
	if status != http.StatusOK || id == "" {
		tb.Fatalf("backchannel authorize: %d %v", status, body)
	}
	return id
}

// poll calls the token endpoint with the CIBA grant.
func (e *env) poll(tb testing.TB, cl testclient.Client, authReqID string) (int, map[string]any) {
	tb.Helper()
	status, body, err := testclient.PostForm(e.issuer+"/v1/token", cl.ID, cl.Secret, url.Values{
		"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {authReqID},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return status, body
}

// guest is the guest's identity token (user:development/guest).
func (e *env) guest(tb testing.TB) string {
	tb.Helper()
	return testclient.Must(testclient.GuestToken(e.issuer))(tb)
}

// complete answers a request by API as the user of bearer.
func (e *env) complete(tb testing.TB, bearer, authReqID, action string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+"/v1/backchannel/complete",
		strings.NewReader(url.Values{"auth_req_id": {authReqID}, "action": {action}}.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+bearer)
	status, body, err := testclient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return status, body
}

// get fetches path (under the issuer) with a bearer token.
func (e *env) get(tb testing.TB, path, bearer string) (int, map[string]any) {
	tb.Helper()
	return e.getURL(tb, e.issuer+path, bearer)
}

// admin fetches an operator path (at the server's root) with a bearer token.
func (e *env) admin(tb testing.TB, path, bearer string) (int, map[string]any) {
	tb.Helper()
	return e.getURL(tb, e.origin+path, bearer)
}

func (e *env) getURL(tb testing.TB, u, bearer string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	status, body, err := testclient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return status, body
}

// requests counts stored backchannel requests.
func (e *env) requests(tb testing.TB) int {
	tb.Helper()
	n := 0
	if err := e.st.Backchannel.List(context.Background(), func(string, store.BackchannelRequest) error { n++; return nil }); err != nil {
		tb.Fatal(err)
	}
	return n
}

func loginHint(hint string, extra ...string) url.Values {
	v := url.Values{"scope": {"openid profile"}, "login_hint": {hint}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// refresh redeems a refresh token.
func (e *env) refresh(tb testing.TB, id, secret, refreshToken string) (int, map[string]any) {
	tb.Helper()
	status, body, err := testclient.PostForm(e.issuer+"/v1/token", id, secret, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return status, body
}

// waitExpired waits until the request's stored expiry has passed (it is
// stored as the request is accepted, so this is a bounded wait).
func (e *env) waitExpired(tb testing.TB, authReqID string) {
	tb.Helper()
	rec, err := e.st.Backchannel.Get(context.Background(), store.HashID(authReqID))
	if err != nil {
		tb.Fatal(err)
	}
	if wait := time.Until(rec.ExpiresAt); wait > time.Minute {
		tb.Fatalf("request expires at %v: too far to wait", rec.ExpiresAt)
	}
	for !time.Now().After(rec.ExpiresAt) {
		time.Sleep(time.Until(rec.ExpiresAt) + time.Millisecond)
	}
}

// backdate moves a request's expiry into the past, as if its lifetime had
// run out after whatever the test did with it.
func (e *env) backdate(tb testing.TB, authReqID string) {
	tb.Helper()
	_, err := e.st.Backchannel.Update(context.Background(), store.HashID(authReqID), func(r store.BackchannelRequest) (store.BackchannelRequest, error) {
		r.ExpiresAt = time.Now().Add(-time.Millisecond)
		return r, nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// postgresStore opens the PostgreSQL database dsn with a connection pool
// of its own, as one replica among several on it would.
func postgresStore(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	kv, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = kv.Close() })
	return store.New(kv)
}
