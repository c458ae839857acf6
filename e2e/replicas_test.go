package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// replica is one `gatehouse serve` process of a scaled-out installation;
// its Base is where a load balancer would send requests to it.
type replica struct {
	*servertest.Process
	name string
}

// pingReceiver is a CIBA client's notification endpoint on loopback: it
// counts what arrives per auth_req_id, answers 204, and can be told to
// leave the next request unanswered until its sender goes away.
type pingReceiver struct {
	URL string
	mu  sync.Mutex
	// arrived and accepted count POSTs per auth_req_id: accepted are those
	// answered 204.
	arrived, accepted map[string]int
	lastAccepted      map[string]time.Time
	hangNext          chan struct{} // closed when the hung request arrives
}

func newPingReceiver(t *testing.T) *pingReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &pingReceiver{URL: "http://" + ln.Addr().String() + "/ping",
		arrived: map[string]int{}, accepted: map[string]int{}, lastAccepted: map[string]time.Time{}}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *pingReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	var id string
	if _, rest, ok := strings.Cut(string(raw), `"auth_req_id":"`); ok {
		id, _, _ = strings.Cut(rest, `"`)
	}
	r.mu.Lock()
	r.arrived[id]++
	hang := r.hangNext
	r.hangNext = nil
	r.mu.Unlock()
	if hang != nil {
		close(hang)
		select { // unanswered until the sender is gone (bounded)
		case <-req.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	}
	w.WriteHeader(http.StatusNoContent)
	r.mu.Lock()
	r.accepted[id]++
	r.lastAccepted[id] = time.Now()
	r.mu.Unlock()
}

func (r *pingReceiver) counts(id string) (arrived, accepted int, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrived[id], r.accepted[id], r.lastAccepted[id]
}

// waitAccepted waits (bounded) until id has been accepted want times.
func (r *pingReceiver) waitAccepted(t *testing.T, id string, want int, limit time.Duration) time.Time {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		_, n, at := r.counts(id)
		if n >= want {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping for %s accepted %d times within %s, want %d", id, n, limit, want)
		}
	}
}

const (
	replicaRedirect = "http://127.0.0.1:9/cb"
	cibaGrant       = "urn:openid:params:grant-type:ciba"
	// The delivery settings of the test: a lease short enough for a fast
	// handover, longer than the POST timeout as configuration requires.
	replicaDeliveryTimeout = 5 * time.Second
	replicaLease           = 6 * time.Second
)

// TestThreeReplicas runs three gatehouse processes on one PostgreSQL
// database behind one public URL, sending each step of a flow to another
// replica, and then kills one with SIGKILL in the middle of a load.
func TestThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three server processes")
	}
	dsn := pgtest.NewDatabase(t)
	addrs := []string{servertest.FreeAddr(t), servertest.FreeAddr(t), servertest.FreeAddr(t)}
	public := "http://" + addrs[0]
	env := []string{
		"GATEHOUSE_SERVER__PUBLIC_URL=" + public,
		"GATEHOUSE_STORAGE__BACKEND=postgres",
		"GATEHOUSE_STORAGE__POSTGRES__DSN=" + dsn,
		"GATEHOUSE_ADMIN__TOKEN=" + replicaAdminToken,
		"GATEHOUSE_PLUGINS__WATCH=false",
		"GATEHOUSE_PLUGINS__CACHE_DIR=" + t.TempDir(),
		"GATEHOUSE_CIBA__DELIVERY__TIMEOUT=" + replicaDeliveryTimeout.String(),
		"GATEHOUSE_CIBA__DELIVERY__LEASE=" + replicaLease.String(),
		"GATEHOUSE_CIBA__DELIVERY__POLL_INTERVAL=100ms",
		"GATEHOUSE_CIBA__DELIVERY__INITIAL_BACKOFF=100ms",
	}
	// A first, so that the signing keys are created once; then B and C.
	a := &replica{servertest.StartProcess(t, addrs[0], "", env...), "A"}
	issuer := a.Base // on the public URL
	var b, c *replica
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b = &replica{servertest.StartProcess(t, addrs[1], "", env...), "B"} }()
	go func() { defer wg.Done(); c = &replica{servertest.StartProcess(t, addrs[2], "", env...), "C"} }()
	wg.Wait()
	if b == nil || c == nil {
		t.FailNow()
	}
	replicas := []*replica{a, b, c}
	logs := func() string {
		var sb strings.Builder
		for _, r := range replicas {
			fmt.Fprintf(&sb, "--- replica %s:\n%s", r.name, r.Logs())
		}
		return sb.String()
	}

	// codeClient registers a code-flow client with refresh tokens on A.
	codeClient := func(t *testing.T) (testclient.Client, oauth2.Config) {
		app := testclient.Must(testclient.Register(a.Base, map[string]any{
			"redirect_uris": []string{replicaRedirect}, "grant_types": []string{"authorization_code", "refresh_token"},
			"scope": "openid offline_access",
		}))(t)
		return app, oauth2.Config{ClientID: app.ID, RedirectURL: replicaRedirect, Scopes: []string{"openid", "offline_access"},
			Endpoint: oauth2.Endpoint{AuthURL: a.Base + "/v1/authorize"}}
	}

	t.Run("code flow and refresh family", func(t *testing.T) {
		app, conf := codeClient(t)
		verifier := oauth2.GenerateVerifier()
		// Authorize on A, approve on B.
		redirect, err := testclient.Approve(b.Base, issuer, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if err != nil {
			t.Fatalf("authorize on A, approve on B: %v\n%s", err, logs())
		}
		if redirect.Query().Get("iss") != issuer {
			t.Errorf("iss %q, want the shared issuer %q", redirect.Query().Get("iss"), issuer)
		}
		// Exchange on C.
		tok := tokenOK(t, c, app, url.Values{"grant_type": {"authorization_code"}, "code": {redirect.Query().Get("code")},
			"redirect_uri": {replicaRedirect}, "code_verifier": {verifier}})
		// Refresh on A.
		refreshed := tokenOK(t, a, app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
		if status, body := userinfo(t, b, refreshed["access_token"].(string)); status != http.StatusOK {
			t.Fatalf("userinfo on B with the token refreshed on A: %d %v", status, body)
		}
		// The old refresh token again, on B: the family dies everywhere.
		status, body, _ := testclient.PostForm(b.Base+"/v1/token", app.ID, app.Secret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("old refresh token on B: %d %v, want invalid_grant", status, body)
		}
		status, body, _ = testclient.PostForm(c.Base+"/v1/token", app.ID, app.Secret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed["refresh_token"].(string)}})
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("the new refresh token on C after reuse on B: %d %v, want invalid_grant", status, body)
		}
		for _, r := range replicas {
			if status, _ := userinfo(t, r, refreshed["access_token"].(string)); status != http.StatusUnauthorized {
				t.Errorf("the revoked family's access token on %s: userinfo %d, want 401", r.name, status)
			}
		}
	})

	// The same code, then the same refresh token, sent to every replica
	// at once: exactly one redemption wins, and the others, being replays
	// or reuse, revoke what it produced on every replica.
	t.Run("one winner across replicas", func(t *testing.T) {
		app, conf := codeClient(t)
		// race sends form to each replica twice at once and returns the
		// one successful answer.
		race := func(what string, form url.Values) map[string]any {
			t.Helper()
			type answer struct {
				status int
				body   map[string]any
				err    error
			}
			answers := make([]answer, 2*len(replicas))
			var wg sync.WaitGroup
			for i := range answers {
				r := replicas[i%len(replicas)]
				wg.Go(func() {
					status, body, err := testclient.PostForm(r.Base+"/v1/token", app.ID, app.Secret, form)
					answers[i] = answer{status, body, err}
				})
			}
			wg.Wait()
			var won []map[string]any
			for _, ans := range answers {
				switch {
				case ans.err != nil:
					t.Fatalf("%s: %v", what, ans.err)
				case ans.status == http.StatusOK:
					won = append(won, ans.body)
				case ans.status != http.StatusBadRequest || ans.body["error"] != "invalid_grant":
					t.Errorf("%s: %d %v, want 200 or invalid_grant\n%s", what, ans.status, ans.body, logs())
				}
			}
			if len(won) != 1 {
				t.Fatalf("%s: %d of %d requests succeeded, want exactly 1\n%s", what, len(won), len(answers), logs())
			}
			return won[0]
		}
		revokedEverywhere := func(what, accessToken string) {
			t.Helper()
			for _, r := range replicas {
				if status, _ := userinfo(t, r, accessToken); status != http.StatusUnauthorized {
					t.Errorf("%s: the winner's access token on %s: userinfo %d, want 401", what, r.name, status)
				}
			}
		}
		verifier := oauth2.GenerateVerifier()
		redirect, err := testclient.Approve(a.Base, issuer, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if err != nil {
			t.Fatalf("authorize: %v\n%s", err, logs())
		}
		won := race("code", url.Values{"grant_type": {"authorization_code"}, "code": {redirect.Query().Get("code")},
			"redirect_uri": {replicaRedirect}, "code_verifier": {verifier}})
		revokedEverywhere("code", won["access_token"].(string))

		// A fresh family for the refresh token's race.
		redirect, err = testclient.Approve(b.Base, issuer, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if err != nil {
			t.Fatalf("authorize: %v\n%s", err, logs())
		}
		tok := tokenOK(t, c, app, url.Values{"grant_type": {"authorization_code"}, "code": {redirect.Query().Get("code")},
			"redirect_uri": {replicaRedirect}, "code_verifier": {verifier}})
		won = race("refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
		revokedEverywhere("refresh", won["access_token"].(string))
	})

	// Each replica keeps clients in memory, and forgets one when the
	// database notifies it of a write to it: a client deleted through one
	// replica is refused by the others within milliseconds (2 s allowed
	// here; without the notification a replica would serve its copy for
	// up to 10 s).
	t.Run("deleted client refused everywhere", func(t *testing.T) {
		app := testclient.Must(testclient.Register(a.Base, map[string]any{
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
		}))(t)
		cc := url.Values{"grant_type": {"client_credentials"}}
		for _, r := range replicas {
			tokenOK(t, r, app, cc)
		}
		req, err := http.NewRequest(http.MethodDelete, app.RegistrationURI, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+app.RegistrationToken)
		if status, body, err := testclient.Do(req); err != nil || status != http.StatusNoContent {
			t.Fatalf("delete the client: %d %v %v", status, body, err)
		}
		deleted := time.Now()
		for _, r := range replicas {
			for {
				status, body, err := testclient.PostForm(r.Base+"/v1/token", app.ID, app.Secret, cc)
				if err == nil && status == http.StatusUnauthorized && body["error"] == "invalid_client" {
					t.Logf("%s refuses the deleted client %v after its deletion", r.name, time.Since(deleted))
					break
				}
				if time.Since(deleted) > 2*time.Second {
					t.Fatalf("token on %s 2s after the client's deletion: %d %v %v, want 401 invalid_client", r.name, status, body, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	})

	t.Run("ciba poll across replicas", func(t *testing.T) {
		app := cibaClient(t, a, "poll", "")
		id := backchannel(t, a, app, nil)
		approveCIBA(t, b, id)
		tok := tokenOK(t, c, app, url.Values{"grant_type": {cibaGrant}, "auth_req_id": {id}})
		if tok["id_token"] == nil || tok["access_token"] == nil {
			t.Fatalf("poll on C: %v", tok)
		}
	})

	rcv := newPingReceiver(t)
	t.Run("ping delivered once", func(t *testing.T) {
		app := cibaClient(t, a, "ping", rcv.URL)
		id := backchannel(t, a, app, url.Values{"client_notification_token": {"ping-bearer-0123456789"}})
		approveCIBA(t, b, id)
		rcv.waitAccepted(t, id, 1, 20*time.Second)
		tokenOK(t, c, app, url.Values{"grant_type": {cibaGrant}, "auth_req_id": {id}})
		// The item is gone once delivered; every replica reads the queue
		// each 100ms, and after ten rounds the ping has still been posted
		// once.
		waitQueueEmpty(t, dsn)
		time.Sleep(time.Second)
		if arrived, accepted, _ := rcv.counts(id); arrived != 1 || accepted != 1 {
			t.Fatalf("ping posted %d times (%d accepted) by three replicas, want once", arrived, accepted)
		}
	})

	t.Run("a replica killed mid-load", func(t *testing.T) {
		killMidLoad(t, replicas, dsn, rcv, logs)
	})
}

// killMidLoad registers clients and takes tokens on all three replicas,
// and in the middle of it makes one replica lease a ping whose POST the
// receiver leaves unanswered: that replica is killed with SIGKILL. Every
// registration and token acknowledged before is then there and usable on
// the others, and another replica delivers the ping once the lease ran out.
func killMidLoad(t *testing.T, replicas []*replica, dsn string, rcv *pingReceiver, logs func() string) {
	type acked struct {
		client testclient.Client
		token  string
		on     string
	}
	var (
		mu     sync.Mutex
		ackeds []acked
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && ctx.Err() == nil; i++ {
				r := replicas[(w+i)%3]
				cl, err := testclient.Register(r.Base, map[string]any{"client_name": "load", "grant_types": []string{"client_credentials"}})
				if err != nil {
					continue
				}
				// The registration was acknowledged: from here it must last.
				mu.Lock()
				ackeds = append(ackeds, acked{client: cl, on: r.name})
				n := len(ackeds) - 1
				mu.Unlock()
				r = replicas[(w+i+1)%3]
				status, body, err := testclient.PostForm(r.Base+"/v1/token", cl.ID, cl.Secret, url.Values{"grant_type": {"client_credentials"}})
				if err == nil && status == http.StatusOK {
					mu.Lock()
					ackeds[n].token, _ = body["access_token"].(string)
					mu.Unlock()
				}
			}
		}()
	}
	acknowledged := func() int { mu.Lock(); defer mu.Unlock(); return len(ackeds) }
	for deadline := time.Now().Add(30 * time.Second); acknowledged() < 20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d registrations within 30s\n%s", acknowledged(), logs())
		}
	}

	// Opened now: from the moment the ping is posted the victim has only
	// replicaDeliveryTimeout before it gives its POST up.
	st := openStore(t, dsn)
	// A ping whose first POST is left unanswered: its sender is mid-POST.
	hung := make(chan struct{})
	rcv.mu.Lock()
	rcv.hangNext = hung
	rcv.mu.Unlock()
	app := cibaClient(t, replicas[0], "ping", rcv.URL)
	id := backchannel(t, replicas[0], app, url.Values{"client_notification_token": {"ping-bearer-abcdef0123456789"}})
	approveCIBA(t, replicas[1], id)
	select {
	case <-hung:
	case <-time.After(20 * time.Second):
		t.Fatalf("the ping was never posted\n%s", logs())
	}
	// Who holds the lease: its owner names the process (host/pid/random).
	var leased store.Delivery
	_ = st.Deliveries.List(context.Background(), func(_ string, d store.Delivery) error {
		if d.ClientID == app.ID {
			leased = d
		}
		return nil
	})
	parts := strings.Split(leased.LeaseOwner, "/")
	pid := -1
	if len(parts) == 3 {
		pid, _ = strconv.Atoi(parts[1])
	}
	var victim *replica
	var survivors []*replica
	for _, r := range replicas {
		if r.PID() == pid {
			victim = r
		} else {
			survivors = append(survivors, r)
		}
	}
	if victim == nil {
		t.Fatalf("the leased delivery %+v names no replica this test started\n%s", leased, logs())
	}
	before := acknowledged()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-victim.Exited()
	// The load goes on a little on the survivors, then stops.
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	wg.Wait()
	t.Logf("killed replica %s (pid %d) holding the ping's lease until %s, with %d registrations acknowledged",
		victim.name, pid, leased.LeaseUntil.Sub(killed).Round(time.Millisecond), before)

	// Another replica delivers the ping once the lease has run out.
	at := rcv.waitAccepted(t, id, 1, replicaLease+20*time.Second)
	if at.Before(leased.LeaseUntil) {
		t.Errorf("the ping was delivered at %s, before the dead replica's lease ran out at %s", at, leased.LeaseUntil)
	}
	t.Logf("handover: delivered by a survivor %s after the kill, %s after the lease ran out",
		at.Sub(killed).Round(time.Millisecond), at.Sub(leased.LeaseUntil).Round(time.Millisecond))
	tokenOK(t, survivors[0], app, url.Values{"grant_type": {cibaGrant}, "auth_req_id": {id}})
	waitQueueEmpty(t, dsn)
	if arrived, accepted, _ := rcv.counts(id); arrived != 2 || accepted != 1 {
		t.Errorf("ping posted %d times, accepted %d: want the POST the killed replica left open and one delivery", arrived, accepted)
	}

	// Every acknowledged registration and token is there, on the survivors.
	rs := testclient.Must(testclient.RegisterWith(survivors[0].Base, replicaAdminToken, map[string]any{
		"client_name": "resource server", "grant_types": []string{"client_credentials"}, "resource_server": true}))(t)
	mu.Lock()
	defer mu.Unlock()
	tokens := 0
	for i, ack := range ackeds {
		r := survivors[i%2]
		status, body, err := testclient.PostForm(r.Base+"/v1/token", ack.client.ID, ack.client.Secret, url.Values{"grant_type": {"client_credentials"}})
		if err != nil || status != http.StatusOK {
			t.Fatalf("client registered on %s, token on %s after the kill: %d %v %v", ack.on, r.name, status, body, err)
		}
		if ack.token == "" {
			continue
		}
		tokens++
		status, body, err = testclient.PostForm(r.Base+"/v1/introspect", rs.ID, rs.Secret, url.Values{"token": {ack.token}})
		if err != nil || status != http.StatusOK || body["active"] != true {
			t.Fatalf("a token acknowledged before the kill, introspected on %s: %d %v %v", r.name, status, body, err)
		}
	}
	t.Logf("%d registrations and %d tokens acknowledged (load on all three), all usable on the survivors", len(ackeds), tokens)
}

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	kv, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return store.New(kv)
}

// waitQueueEmpty waits (bounded) until the database holds no delivery.
func waitQueueEmpty(t *testing.T, dsn string) {
	t.Helper()
	st := openStore(t, dsn)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var left []store.Delivery
		if err := st.Deliveries.List(context.Background(), func(_ string, d store.Delivery) error {
			left = append(left, d)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries left in the queue: %+v", left)
		}
	}
}

func tokenOK(t *testing.T, r *replica, cl testclient.Client, form url.Values) map[string]any {
	t.Helper()
	status, body, err := testclient.PostForm(r.Base+"/v1/token", cl.ID, cl.Secret, form)
	if err != nil || status != http.StatusOK {
		t.Fatalf("token (%s) on %s: %d %v %v\n%s", form.Get("grant_type"), r.name, status, body, err, r.Logs())
	}
	return body
}

func userinfo(t *testing.T, r *replica, accessToken string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.Base+"/v1/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	status, body, err := testclient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// cibaClient registers a CIBA client on r in mode.
func cibaClient(t *testing.T, r *replica, mode, endpoint string) testclient.Client {
	t.Helper()
	meta := map[string]any{"grant_types": []string{cibaGrant}, "backchannel_token_delivery_mode": mode, "scope": "openid"}
	if endpoint != "" {
		meta["backchannel_client_notification_endpoint"] = endpoint
	}
	return testclient.Must(testclient.Register(r.Base, meta))(t)
}

// backchannel starts a CIBA request for the guest on r.
func backchannel(t *testing.T, r *replica, cl testclient.Client, extra url.Values) string {
	t.Helper()
	form := url.Values{"scope": {"openid"}, "login_hint": {"guest"}}
	for k, v := range extra {
		form[k] = v
	}
	status, body, err := testclient.PostForm(r.Base+"/v1/backchannel/authorize", cl.ID, cl.Secret, form)
	id, _ := body["auth_req_id"].(string)
	if err != nil || status != http.StatusOK || id == "" {
		t.Fatalf("backchannel authorize on %s: %d %v %v", r.name, status, body, err)
	}
	return id
}

// approveCIBA approves request id on r as the guest, by the device API.
func approveCIBA(t *testing.T, r *replica, id string) {
	t.Helper()
	guest := testclient.Must(testclient.GuestToken(r.Base))(t)
	req, err := http.NewRequest(http.MethodPost, r.Base+"/v1/backchannel/complete",
		strings.NewReader(url.Values{"auth_req_id": {id}, "action": {"approve"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+guest)
	status, body, err := testclient.Do(req)
	if err != nil || status != http.StatusOK {
		t.Fatalf("approve on %s: %d %v %v", r.name, status, body, err)
	}
}
