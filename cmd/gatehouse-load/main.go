// Command gatehouse-load measures a running Gatehouse's authorization-code
// exchange on loopback: it mints codes through /v1/authorize and the
// consent-session API, then redeems them as fast as it can, and reports
// requests per second and latency percentiles. wrk covers the stateless
// client_credentials load; this covers the stateful grant wrk cannot drive.
// With -refresh it then redeems each refresh token the exchange issued.
//
// `gatehouse-load seed` fills a stopped server's store with grants and
// refresh tokens first (see seedMain), for measuring cost as data grows.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "seed" {
		if err := seedMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
			os.Exit(1)
		}
		return
	}
	issuer := flag.String("issuer", "http://127.0.0.1:7007", "the server's issuer URL (loopback only)")
	codes := flag.Int("codes", 20000, "authorization codes to mint and redeem")
	concurrency := flag.Int("c", 32, "concurrent requests")
	refresh := flag.Bool("refresh", false, "then redeem each refresh token the exchanges issued")
	flag.Func("cpu-pids", "comma-separated PIDs (the server, the database) whose CPU time, with their children's, each phase reports per operation", func(v string) error {
		for f := range strings.SplitSeq(v, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			cpuPIDs = append(cpuPIDs, pid)
		}
		return nil
	})
	timeout := flag.Duration("timeout", 2*time.Minute, "stop after this long whatever happens")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *issuer, *codes, *concurrency, *refresh); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
		os.Exit(1)
	}
}

type pending struct{ code, verifier string }

func run(ctx context.Context, issuer string, n, concurrency int, refresh bool) error {
	u, err := url.Parse(issuer)
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		return errors.New("the issuer must be on loopback")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = concurrency * 2
	testclient.NoRedirect.Transport = transport

	const redirectURI = "http://127.0.0.1:9/cb"
	client, err := testclient.Register(issuer, map[string]any{
		"client_name": "load", "redirect_uris": []string{redirectURI},
		"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "openid offline_access",
	})
	if err != nil {
		return err
	}

	// Phase 1: authorize + approve (two requests a code).
	minted := make([]pending, n)
	flows, err := measure(ctx, "authorize+approve (per flow, 2 requests)", n, concurrency, func(i int) error {
		verifier := testclient.RandomVerifier()
		sum := sha256.Sum256([]byte(verifier))
		authURL := issuer + "/v1/authorize?" + url.Values{
			"response_type": {"code"}, "client_id": {client.ID}, "redirect_uri": {redirectURI},
			"scope": {"openid offline_access"}, "state": {"s"}, "code_challenge_method": {"S256"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		}.Encode()
		redirect, err := testclient.Approve(issuer, issuer, authURL)
		if err != nil {
			return err
		}
		minted[i] = pending{redirect.Query().Get("code"), verifier}
		return nil
	})
	if err != nil {
		return err
	}
	_ = flows

	// Phase 2: the token exchange alone.
	refreshTokens := make([]string, n)
	_, err = measure(ctx, "authorization_code exchange (POST /v1/token)", n, concurrency, func(i int) error {
		status, body, err := testclient.PostForm(issuer+"/v1/token", client.ID, client.Secret, url.Values{
			"grant_type": {"authorization_code"}, "code": {minted[i].code},
			"redirect_uri": {redirectURI}, "code_verifier": {minted[i].verifier},
		})
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("token: %d %v", status, body)
		}
		refreshTokens[i], _ = body["refresh_token"].(string)
		return nil
	})
	if err != nil || !refresh {
		return err
	}

	// Phase 3: one refresh of each grant (rotation: the old token is spent).
	_, err = measure(ctx, "refresh_token (POST /v1/token)", n, concurrency, func(i int) error {
		if refreshTokens[i] == "" {
			return errors.New("the exchange issued no refresh token")
		}
		status, body, err := testclient.PostForm(issuer+"/v1/token", client.ID, client.Secret, url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {refreshTokens[i]},
		})
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("refresh: %d %v", status, body)
		}
		return nil
	})
	return err
}

// measure runs op(i) for i in [0,n) on concurrency workers and prints the
// rate and latency percentiles.
func measure(ctx context.Context, name string, n, concurrency int, op func(i int) error) (float64, error) {
	var next, failed atomic.Int64
	latencies := make([]time.Duration, n)
	var firstErr error
	var once sync.Once
	cpu0 := cpuTimes()
	self0 := procTicks(os.Getpid())
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	done := min(int(next.Load()), n)
	lat := slices.Clone(latencies[:done])
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	rate := float64(done) / elapsed.Seconds()
	cpu := ""
	if len(cpuPIDs) > 0 && done > 0 {
		perOp := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(done) }
		var total time.Duration
		var each []string
		for i, t := range cpuTimes() {
			total += t - cpu0[i]
			each = append(each, fmt.Sprintf("%.2f", perOp(t-cpu0[i])))
		}
		// The generator's own share of the machine: on one machine, its
		// CPU bounds the rate as much as the server's.
		self := time.Duration(procTicks(os.Getpid())-self0) * (time.Second / 100)
		cpu = fmt.Sprintf("  cpu %.2f ms/op (%s)  generator %.2f ms/op", perOp(total), strings.Join(each, " + "), perOp(self))
	}
	fmt.Printf("%-48s %7d ops in %6.2fs: %8.0f ops/s  p50 %v  p99 %v  failed %d%s\n",
		name, done, elapsed.Seconds(), rate, pct(0.50), pct(0.99), failed.Load(), cpu)
	if failed.Load() > 0 {
		return rate, fmt.Errorf("%s: %d failures, first: %w", name, failed.Load(), firstErr)
	}
	return rate, ctx.Err()
}

// cpuPIDs are the processes whose CPU time measure reports (-cpu-pids).
var cpuPIDs []int

// cpuTimes is the CPU time (user and system) each of cpuPIDs, with its
// children, has used so far, from /proc; CPU time, unlike latency, does
// not depend on what else the machine runs.
func cpuTimes() []time.Duration {
	times := make([]time.Duration, len(cpuPIDs))
	for i, pid := range cpuPIDs {
		ticks := procTicks(pid)
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, f := range strings.Fields(string(children)) {
			if child, err := strconv.Atoi(f); err == nil {
				ticks += procTicks(child)
			}
		}
		// USER_HZ is 100 on every Linux architecture Go supports.
		times[i] = time.Duration(ticks) * (time.Second / 100)
	}
	return times
}

// procTicks is utime+stime of /proc/PID/stat, 0 if it cannot be read.
func procTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}
