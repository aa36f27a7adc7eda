package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/loadgen"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// The cluster runs every service as several replicas on one database and
// one broker. These tests run several instances of the service in this
// process, each with its own backends as main opens them, on one MongoDB
// database and NATS Streaming, and count from outside what reaches a
// subscriber.

// instance is one replica of the service.
type instance struct {
	s   *app
	url string
	bk  *backends
}

// startInstances opens n instances on one database; wrap, if not nil,
// wraps instance i's transport.
func startInstances(t testing.TB, n int, wrap func(i int, tr events.Transport) events.Transport) ([]*instance, string, string) {
	t.Helper()
	natsURL, clusterID := testenv.NATS(t)
	db := testenv.Mongo(t)
	mongoURI := testenv.DatabaseURI(t, db)
	group := "tickets-service-" + testenv.UniqueName(t)
	var out []*instance
	for i := range n {
		vars := map[string]string{"MONGO_URI": mongoURI, "NATS_URL": natsURL, "NATS_CLUSTER_ID": clusterID,
			"NATS_CLIENT_ID": testenv.UniqueName(t), "JWT_KEY": string(testKey)}
		cfg, err := loadConfig(env(vars))
		if err != nil {
			t.Fatal(err)
		}
		cfg.QueueGroup, cfg.DeadLetters = group, "dead-letter-"+group
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		bk, err := openBackends(ctx, cfg, benchLogger())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if wrap != nil {
			bk.Transport = wrap(i, bk.Transport)
		}
		s, err := startService(context.Background(), cfg, benchLogger(), bk, events.Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.handler)
		t.Cleanup(srv.Close)
		out = append(out, &instance{s: s, url: srv.URL, bk: bk})
	}
	return out, natsURL, clusterID
}

// counter subscribes to ticket:created as another service would and
// counts the events per ticket.
type counter struct {
	mu      sync.Mutex
	n       map[string]int
	changed chan struct{}
}

func countCreated(t testing.TB, natsURL, clusterID string) *counter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	nc, err := streaming.Connect(ctx, natsclient.Config{ClusterID: clusterID, ClientID: testenv.UniqueName(t), URLs: []string{natsURL}})
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{n: make(map[string]int), changed: make(chan struct{})}
	l, err := events.Listen(ctx, nc, "counter-"+testenv.UniqueName(t), func(_ context.Context, e wire.TicketCreated, _ events.Metadata) error {
		c.mu.Lock()
		c.n[e.ID]++
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		return nil
	}, events.Concurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = l.Close(ctx)
		_ = nc.Close(ctx)
	})
	return c
}

// await waits until every id has arrived, or fails after within.
func (c *counter) await(t testing.TB, ids []string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		c.mu.Lock()
		missing := 0
		for _, id := range ids {
			if c.n[id] == 0 {
				missing++
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%d of %d tickets' events did not arrive within %v", missing, len(ids), within)
		}
	}
}

// createOn POSTs n tickets, spread over the instances, from 8 clients,
// and returns the ids answered 201.
func createOn(t *testing.T, ins []*instance, n int) []string {
	t.Helper()
	tok := bearer(token(t, "64b7f0c2a1b2c3d4e5f60718"))
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				in := ins[i%len(ins)]
				r := send(t, in.url, "POST", "/api/tickets", fmt.Sprintf(`{"title":"t%d","price":20}`, i), append(tok, "Content-Type", "application/json")...)
				if r.status != 201 {
					t.Errorf("POST to instance %d: %d %s", i%len(ins), r.status, r.body)
					return
				}
				tk := r.ticket(t)
				mu.Lock()
				ids = append(ids, tk.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids
}

func stopInstance(t *testing.T, in *instance) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := in.s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestThreeInstancesOneDatabase: three replicas share one database; every
// ticket created through any of them is published, and exactly once: no
// instance publishes another's fresh events.
func TestThreeInstancesOneDatabase(t *testing.T) {
	ins, natsURL, clusterID := startInstances(t, 3, nil)
	c := countCreated(t, natsURL, clusterID)
	ids := createOn(t, ins, 300)
	c.await(t, ids, wait)
	// Past the writer TTL, every instance has watched the others beat:
	// none of them may take a live one over.
	time.Sleep(testTTL())
	for _, in := range ins {
		stopInstance(t, in)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Other tests on the same servers publish tickets of their own: only
	// this test's count.
	dups, seen := 0, 0
	for _, id := range ids {
		if c.n[id] > 0 {
			seen++
		}
		if c.n[id] > 1 {
			dups++
		}
	}
	if dups > 0 || seen != len(ids) {
		t.Fatalf("%d tickets created, %d published, %d of them more than once; want each once", len(ids), seen, dups)
	}
}

func testTTL() time.Duration { return 6 * time.Second } // outbox.DefaultTTL and a beat

// stalled accepts publishes and never answers them, as a broker
// connection that died with the process would.
type stalled struct {
	events.Transport
	release chan struct{}
}

func (s stalled) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	errs := make([]error, len(msgs))
	for i := range errs {
		errs[i] = fmt.Errorf("stalled: %w", context.Canceled)
	}
	return errs
}

// TestKilledInstanceIsTakenOver: of two instances, one commits tickets
// whose events it never gets out, then dies (no shutdown, no flush); the
// other takes its entries over within seconds, and every ticket answered
// 201 reaches the subscriber.
func TestKilledInstanceIsTakenOver(t *testing.T) {
	release := make(chan struct{})
	ins, natsURL, clusterID := startInstances(t, 2, func(i int, tr events.Transport) events.Transport {
		if i == 1 {
			return stalled{tr, release}
		}
		return tr
	})
	c := countCreated(t, natsURL, clusterID)
	ids := createOn(t, ins, 100)

	// The kill: the relay stops where it is, its lease stays behind.
	dead := ins[1]
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	abandoned := make(chan error, 1)
	go func() { abandoned <- dead.s.Abandon(ctx) }()
	close(release)
	if err := <-abandoned; err != nil {
		t.Logf("abandon: %v", err) // a crash cleans nothing up either
	}
	cancel()
	killed := time.Now()

	c.await(t, ids, 30*time.Second)
	t.Logf("the dead instance's events arrived %v after the kill", time.Since(killed).Round(time.Millisecond))
	stopInstance(t, ins[0])
	if st := ins[0].s.Relay().Stats(); st.Recovering != 0 {
		t.Fatalf("takeover unfinished: %+v", st)
	}
}

// BenchmarkScaleOut compares, in one run, the sustained create rate of
// one instance and of three on one database (a create counts once its
// event reached a subscriber), 16 clients spread over the instances, and
// counts duplicate events. Needs MONGO_URI and NATS_URL.
func BenchmarkScaleOut(b *testing.B) {
	tok, err := session.Mint([]byte(testKey), session.User{ID: benchUserID, Email: "bench@example.com"}, time.Now(), 0)
	if err != nil {
		b.Fatal(err)
	}
	rates := map[int]float64{}
	for _, n := range []int{1, 3, 1, 3} {
		ins, natsURL, clusterID := startInstances(b, n, nil)
		c := countCreated(b, natsURL, clusterID)
		var mu sync.Mutex
		var ids []string
		start := time.Now()
		res := loadgen.Run(context.Background(), loadgen.Config{
			Concurrency: benchConcurrency, Duration: 4 * time.Second,
			Request: func(w, i int) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodPost, ins[(w+i)%n].url+"/api/tickets", strings.NewReader(benchBody))
				if err == nil {
					r.Header.Set("Content-Type", "application/json")
					r.Header.Set("Authorization", "Bearer "+tok)
				}
				return r, err
			},
			Want: http.StatusCreated,
			Answer: func(body []byte) {
				var tk struct{ ID string }
				if json.Unmarshal(body, &tk) == nil {
					mu.Lock()
					ids = append(ids, tk.ID)
					mu.Unlock()
				}
			},
		})
		if res.Errors > 0 {
			b.Fatalf("%d errors, the first: %v", res.Errors, res.FirstErr)
		}
		mu.Lock()
		created := slices.Clone(ids)
		mu.Unlock()
		c.await(b, created, 2*time.Minute)
		rate := float64(len(created)) / time.Since(start).Seconds()
		rates[n] = max(rates[n], rate)
		time.Sleep(testTTL()) // let a takeover happen, if one would
		c.mu.Lock()
		dups := 0
		for _, k := range c.n {
			dups += k - 1
		}
		c.mu.Unlock()
		b.Logf("%d instance(s): %d created, sustained %.0f/s, %d duplicate events", n, len(created), rate, dups)
		b.ReportMetric(float64(dups)/float64(len(created))*100, fmt.Sprintf("dup%%-%d", n))
		for _, in := range ins {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			_ = in.s.Shutdown(ctx)
			cancel()
		}
	}
	b.ReportMetric(rates[1], "one-sustained/s")
	b.ReportMetric(rates[3], "three-sustained/s")
	b.ReportMetric(rates[3]/rates[1], "three-over-one")
}

// TestSIGKILLMidLoad runs two instances of the service as processes, as a
// cluster would, on one database, and kills one with SIGKILL in the middle
// of a load: no shutdown, no flush, its lease left behind. Every ticket
// either instance answered 201 for reaches a subscriber, the killed one's
// unpublished events through the other's takeover.
func TestSIGKILLMidLoad(t *testing.T) {
	natsURL, clusterID := testenv.NATS(t)
	db := testenv.Mongo(t)
	mongoURI := testenv.DatabaseURI(t, db)
	bin := filepath.Join(t.TempDir(), "tickets-service")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	start := func() (*exec.Cmd, string, *bytes.Buffer) {
		port := freePort(t)
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "PORT="+port, "MONGO_URI="+mongoURI, "NATS_URL="+natsURL,
			"NATS_CLUSTER_ID="+clusterID, "NATS_CLIENT_ID="+testenv.UniqueName(t), "JWT_KEY="+string(testKey),
			"LOG_LEVEL=warn")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		base := "http://127.0.0.1:" + port
		deadline := time.Now().Add(wait)
		for {
			if r, err := http.Get(base + "/readyz"); err == nil {
				r.Body.Close()
				if r.StatusCode == http.StatusOK {
					return cmd, base, &logs
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance not ready within %v:\n%s", wait, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	a, baseA, logsA := start()
	b, baseB, _ := start()
	c := countCreated(t, natsURL, clusterID)

	tok := "Bearer " + token(t, "64b7f0c2a1b2c3d4e5f60718")
	var mu sync.Mutex
	var ids []string
	var killed atomic.Bool
	post := func(base string) {
		r, err := http.NewRequest(http.MethodPost, base+"/api/tickets", strings.NewReader(`{"title":"t","price":20}`))
		if err != nil {
			t.Error(err)
			return
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", tok)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			if !killed.Load() {
				t.Errorf("POST to %s before the kill: %v", base, err)
			}
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return // the dying instance may answer anything
		}
		var tk struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&tk); err == nil {
			mu.Lock()
			ids = append(ids, tk.ID)
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				base := baseA
				if (w+i)%2 == 1 && !killed.Load() {
					base = baseB
				}
				post(base)
			}
		}()
	}
	time.Sleep(time.Second) // load on both
	killed.Store(true)
	if err := b.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.Wait()
	killedAt := time.Now()
	time.Sleep(time.Second) // load on the survivor
	close(stop)
	wg.Wait()

	mu.Lock()
	created := slices.Clone(ids)
	mu.Unlock()
	c.await(t, created, 30*time.Second)
	t.Logf("%d tickets answered 201; all their events arrived, %v after the kill", len(created), time.Since(killedAt).Round(time.Millisecond))

	if err := a.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Fatalf("the survivor did not stop cleanly: %v\n%s", err, logsA.String())
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
