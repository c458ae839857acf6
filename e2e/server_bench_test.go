package e2e_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"

	"github.com/valyala/fasthttp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// inProcess sends requests straight to the server's Fiber handler, with
// every middleware (request id, access log, metrics, headers) but no
// network, so that the benchmarks measure Gatehouse and not the loopback.
type inProcess struct {
	handler fasthttp.RequestHandler
	base    string // the base path the routes are under
	addr    net.Addr
	ctx     fasthttp.RequestCtx
	req     fasthttp.Request
}

func newInProcess(l *live) *inProcess {
	return &inProcess{handler: l.srv.App().Handler(), base: l.cfg.Server.BasePath, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
}

// post sends a form to path and returns the status and the response body,
// valid until the next call.
func (p *inProcess) post(path, authorization, body string) (int, []byte) {
	p.req.Reset()
	p.req.Header.SetMethod(fasthttp.MethodPost)
	p.req.SetRequestURI(p.base + path)
	p.req.Header.SetContentType("application/x-www-form-urlencoded")
	if authorization != "" {
		p.req.Header.Set("Authorization", authorization)
	}
	p.req.SetBodyString(body)
	p.ctx.Init(&p.req, p.addr, nil)
	p.handler(&p.ctx)
	return p.ctx.Response.StatusCode(), p.ctx.Response.Body()
}

// benchServer is a server as the binary runs it (logging at info), on the
// memory store, with rate limiting off so that the limiter is not what is
// measured.
// Log lines are formatted as in production but discarded, so that the
// benchmark output stays readable.
func benchServer(b *testing.B, backend string) *live {
	b.Helper()
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
	b.Cleanup(func() { slog.SetDefault(prev) })
	return startLive(b, func(c *config.Config) {
		c.Log.Level = "info"
		c.Registration.CustomScopes = []string{"catalog.read"}
		c.Storage.Backend = backend
		c.Storage.SyncWrites = true
	})
}

// backends are the stores the stateful benchmarks run on: memory, Badger
// with sync writes as the embedded configuration has it, and PostgreSQL
// (a throw-away server on a unix socket, sharing the machine).
var backends = []string{"memory", "badger", "postgres"}

// BenchmarkClientCredentialsRequest is a whole client_credentials token
// request through the Fiber app: parse, authenticate, sign, answer.
func BenchmarkClientCredentialsRequest(b *testing.B) {
	l := benchServer(b, "badger")
	l.client(b, "machine", store.ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: "catalog.read"})
	p := newInProcess(l)
	auth := basicAuth("machine", liveSecret)
	b.ReportAllocs()
	for b.Loop() {
		if status, body := p.post("/v1/token", auth, "grant_type=client_credentials"); status != 200 {
			b.Fatalf("%d %s", status, body)
		}
	}
}

// BenchmarkAuthorizationCodeExchange redeems a fresh code per iteration
// (created in the store as /v1/authorize would): access and ID tokens
// signed, then the code spent and the grant and refresh token recorded in
// one atomic write.
func BenchmarkAuthorizationCodeExchange(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) { benchmarkAuthorizationCodeExchange(b, backend) })
	}
}

func benchmarkAuthorizationCodeExchange(b *testing.B, backend string) {
	l := benchServer(b, backend)
	l.client(b, "web", store.ClientMetadata{Scope: "openid profile offline_access"})
	p := newInProcess(l)
	auth := basicAuth("web", liveSecret)
	verifier := oauth2.GenerateVerifier()
	codes := make([]string, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if len(codes) == 0 {
			b.StopTimer()
			for range cap(codes) {
				codes = append(codes, l.code(b, "web", "openid offline_access", verifier, nil))
			}
			b.StartTimer()
		}
		code := codes[len(codes)-1]
		codes = codes[:len(codes)-1]
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {liveRedirect}, "code_verifier": {verifier}}
		if status, body := p.post("/v1/token", auth, form.Encode()); status != 200 {
			b.Fatalf("%d %s", status, body)
		}
	}
}

// BenchmarkRefreshRotation rotates one refresh token family over and over:
// tokens signed, then the old token marked used and the new one recorded
// in one atomic write.
func BenchmarkRefreshRotation(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) { benchmarkRefreshRotation(b, backend) })
	}
}

func benchmarkRefreshRotation(b *testing.B, backend string) {
	l := benchServer(b, backend)
	l.client(b, "web", store.ClientMetadata{Scope: "openid offline_access"})
	p := newInProcess(l)
	auth := basicAuth("web", liveSecret)
	verifier := oauth2.GenerateVerifier()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {l.code(b, "web", "openid offline_access", verifier, nil)},
		"redirect_uri": {liveRedirect}, "code_verifier": {verifier}}
	status, body := p.post("/v1/token", auth, form.Encode())
	var tokens struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &tokens); status != 200 || err != nil {
		b.Fatalf("%d %s", status, body)
	}
	b.ReportAllocs()
	for b.Loop() {
		status, body := p.post("/v1/token", auth, "grant_type=refresh_token&refresh_token="+tokens.RefreshToken)
		if status != 200 {
			b.Fatalf("%d %s", status, body)
		}
		tokens.RefreshToken = ""
		if err := json.Unmarshal(body, &tokens); err != nil || tokens.RefreshToken == "" {
			b.Fatalf("%s: %v", body, err)
		}
	}
}
