package ciba_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// quiet keeps per-request info logs out of benchmark output.
func quiet(b *testing.B) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError})))
	b.Cleanup(func() { slog.SetDefault(prev) })
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// noWebhook: notify answers a log delivery only, so that the benchmark
// measures the endpoint and not the webhook receiver.
func noWebhook(c *config.Config) {
	c.Plugins.Settings["notify-default"] = config.PluginSettings{Config: map[string]any{}}
}

// BenchmarkBackchannelAuthorize: backchannel authentication requests per
// second on loopback (client authentication, validation, resolve_user and
// notify plugin calls, one store write), from parallel clients.
func BenchmarkBackchannelAuthorize(b *testing.B) {
	quiet(b)
	e := start(b, options{edit: noWebhook})
	cl := e.client(b, "poll", "", nil)
	body := url.Values{"scope": {"openid profile"}, "login_hint": {"guest"}, "binding_message": {"BENCH"}}.Encode()
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, e.issuer+"/v1/backchannel/authorize", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(cl.ID), url.QueryEscape(cl.Secret))
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkApprovalToDelivery: latency from the user's approval (the
// complete call starts) to the client's notification endpoint receiving
// the ping or the push, on loopback; p50 and p99 reported.
func BenchmarkApprovalToDelivery(b *testing.B) {
	for _, mode := range []string{"ping", "push"} {
		b.Run(mode, func(b *testing.B) {
			quiet(b)
			e := start(b, options{edit: noWebhook})
			rcv := newReceiver(b)
			cl := e.client(b, mode, rcv.URL, nil)
			guest := testclient.Must(testclient.GuestToken(e.issuer))(b)
			latencies := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				id := e.startRequest(b, cl, loginHint("guest", "client_notification_token", "bench-token"))
				b.StartTimer()
				t0 := time.Now()
				if status, body := e.complete(b, guest, id, "approve"); status != 200 {
					b.Fatalf("complete: %d %v", status, body)
				}
				got := rcv.next(b)
				latencies = append(latencies, got.At.Sub(t0))
			}
			b.StopTimer()
			slices.Sort(latencies)
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[(len(latencies)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}
