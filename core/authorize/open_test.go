package authorize

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenSessionsHammer: goroutines add and decide sessions of one
// client at once; the cap is never exceeded and every place comes back.
func TestOpenSessionsHammer(t *testing.T) {
	const cap, workers, calls = 5, 8, 200
	o := newOpenSessions(cap, 0)
	now := time.Unix(1_000_000, 0)
	var open, peak atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				id := fmt.Sprintf("%d-%d", w, i)
				if which, _ := o.add(context.Background(), id, "app", fmt.Sprint("10.0.0.", w), now, now.Add(time.Hour)); which != "" {
					continue
				}
				if n := open.Add(1); n > peak.Load() {
					peak.Store(n)
				}
				open.Add(-1)
				o.done(id)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > cap {
		t.Errorf("%d sessions open at once, cap %d", p, cap)
	}
	if len(o.sessions) != 0 || len(o.byClient) != 0 || len(o.byAddress) != 0 {
		t.Errorf("left %d sessions, %v, %v", len(o.sessions), o.byClient, o.byAddress)
	}
	// Expired sessions give their place back without a decision.
	for i := range cap {
		o.add(context.Background(), fmt.Sprint("e", i), "app", "a", now, now.Add(time.Minute))
	}
	if which, wait := o.add(context.Background(), "x", "app", "a", now, now.Add(time.Minute)); which != "client" || wait != time.Minute {
		t.Errorf("over the cap: %q %s, want client and a minute", which, wait)
	}
	if which, _ := o.add(context.Background(), "y", "app", "a", now.Add(2*time.Minute), now.Add(time.Hour)); which != "" {
		t.Errorf("after expiry: refused by %s", which)
	}
}
