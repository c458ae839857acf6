package plugin

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/core/metrics"
)

// Outcomes of a hook call, as counted.
const (
	outcomeOK          = "ok"
	outcomeRefused     = "refused"     // the plugin said no: a decision, not an error
	outcomeFailed      = "failed"      // trap, timeout, malformed response...
	outcomeUnavailable = "unavailable" // no such plugin loaded
)

var (
	callsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_plugin_calls_total",
		Help: "Plugin hook calls by plugin, hook and outcome (ok, refused, failed, unavailable).",
	}, []string{"plugin", "hook", "outcome"})
	callDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_plugin_call_duration_seconds",
		Help:    "Plugin hook call latency by plugin and hook.",
		Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, .001, .0025, .01, .05, .25, 1, 2.5},
	}, []string{"plugin", "hook"})
	reloadsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_plugin_reloads_total",
		Help: "Plugin loads by plugin and outcome (loaded, reloaded, removed, error).",
	}, []string{"plugin", "outcome"})
)

func init() {
	metrics.Registry.MustRegister(callsTotal, callDuration, reloadsTotal)
}

func outcomeOf(err error) string {
	if err == nil {
		return outcomeOK
	}
	return outcomeOfError(err)
}

// outcomeOfError is apart so that the successful path does not allocate
// the errors.As target.
func outcomeOfError(err error) string {
	if r := (*Refusal)(nil); errors.As(err, &r) {
		return outcomeRefused
	}
	return outcomeFailed
}

// hostStats keeps per-plugin figures for GET /admin/plugins across
// reloads (a plugin's counts survive its new versions).
type hostStats struct {
	mu      sync.RWMutex
	plugins map[string]*pluginStats
	// series caches the Prometheus children: WithLabelValues hashes its
	// labels on every call. A plain map, as a sync.Map key would escape
	// to the heap on every lookup.
	seriesMu sync.RWMutex
	series   map[seriesKey]*callSeries
}

type seriesKey struct{ plugin, hook, outcome string }

type callSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// pluginStats are one plugin's call figures. Latency is a histogram of
// exponential buckets (×√2 from 1 µs), precise enough for p50/p99 on an
// operator's page.
type pluginStats struct {
	calls, refusals, errors atomic.Uint64
	buckets                 [latencyBuckets]atomic.Uint64
}

const (
	latencyBuckets = 48 // 1 µs · √2^47 ≈ 95 s
	latencyBase    = float64(time.Microsecond)
)

func newHostStats() *hostStats {
	return &hostStats{plugins: map[string]*pluginStats{}, series: map[seriesKey]*callSeries{}}
}

func (s *hostStats) plugin(name string) *pluginStats {
	s.mu.RLock()
	p, ok := s.plugins[name]
	s.mu.RUnlock()
	if ok {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok = s.plugins[name]; !ok {
		p = &pluginStats{}
		s.plugins[name] = p
	}
	return p
}

// observe counts one call.
func (s *hostStats) observe(plugin, hook, outcome string, d time.Duration) {
	p := s.plugin(plugin)
	p.calls.Add(1)
	switch outcome {
	case outcomeRefused:
		p.refusals.Add(1)
	case outcomeFailed, outcomeUnavailable:
		p.errors.Add(1)
	}
	p.buckets[bucketOf(d)].Add(1)

	k := seriesKey{plugin, hook, outcome}
	s.seriesMu.RLock()
	cs, ok := s.series[k]
	s.seriesMu.RUnlock()
	if !ok {
		s.seriesMu.Lock()
		if cs, ok = s.series[k]; !ok {
			cs = &callSeries{
				count:    callsTotal.WithLabelValues(plugin, hook, outcome),
				duration: callDuration.WithLabelValues(plugin, hook),
			}
			s.series[k] = cs
		}
		s.seriesMu.Unlock()
	}
	cs.count.Inc()
	cs.duration.Observe(d.Seconds())
}

func bucketOf(d time.Duration) int {
	if d <= time.Microsecond {
		return 0
	}
	i := int(math.Ceil(2 * math.Log2(float64(d)/latencyBase)))
	return min(i, latencyBuckets-1)
}

// bucketUpper is the upper bound of bucket i.
func bucketUpper(i int) time.Duration {
	return time.Duration(latencyBase * math.Pow(math.Sqrt2, float64(i)))
}

// CallStats are one plugin's call figures since the server started.
type CallStats struct {
	Calls    uint64 `json:"calls"`
	Refusals uint64 `json:"refusals"`
	Errors   uint64 `json:"errors"`
	// P50 and P99 are upper bounds of the latency buckets (within √2).
	P50 latency `json:"p50"`
	P99 latency `json:"p99"`
}

// latency marshals as a Go duration string ("12.5µs").
type latency time.Duration

func (d latency) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

func (s *hostStats) snapshot(name string) CallStats {
	s.mu.RLock()
	p, ok := s.plugins[name]
	s.mu.RUnlock()
	if !ok {
		return CallStats{}
	}
	var counts [latencyBuckets]uint64
	var total uint64
	for i := range counts {
		counts[i] = p.buckets[i].Load()
		total += counts[i]
	}
	return CallStats{
		Calls:    p.calls.Load(),
		Refusals: p.refusals.Load(),
		Errors:   p.errors.Load(),
		P50:      latency(quantile(counts[:], total, 0.50)),
		P99:      latency(quantile(counts[:], total, 0.99)),
	}
}

func quantile(counts []uint64, total uint64, q float64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(len(counts) - 1)
}
