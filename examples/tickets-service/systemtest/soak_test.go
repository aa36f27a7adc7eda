//go:build soak

package systemtest

// The soak (make soak, never make test): the service on the real servers
// of `devservers run`, under a mixed open-loop load at a fixed rate, for
// SOAK_DURATION (default 5m) at SOAK_RATE requests per second (default
// 50), on SOAK_TICKETS tickets seeded first (default 3300, the outside
// trial's). Every 30 s it reports latency percentiles, answers by status,
// heap, RSS and goroutines; at the end, the writes refused for a lapsed
// outbox lease and the lapses, with their causes. Creates carry an
// Idempotency-Key and are retried with it, as a careful client would,
// after a 503 or an answer saying the outcome is unknown. It fails when
// an answer is neither 2xx, nor a 503 with Retry-After, nor a 500 saying
// the write may have been saved (without Retry-After), when one takes
// longer than the request deadline allows, when a create was stored
// twice, when the service logs an error, or when goroutines or memory,
// idle after the load, have grown from idle before it.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
)

func envOr[T any](t *testing.T, name string, def T, parse func(string) (T, error)) T {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return x
}

// levelCounter counts the service's log lines by level and keeps the last
// errors, so the soak's own memory stays flat.
type levelCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// refused counts writes refused because the outbox writer's lease
	// had lapsed (issue 20, item 10): each is logged at Warn with
	// outbox.ErrLeaseExpired as its error.
	refused int
	// lapses counts the Relay's Warn that the lease lapsed (logged once
	// per lapse since issue 20; earlier code logged no such line).
	lapses     int
	lapseLines []string // the first few, with their causes and ends
	first      []string
	last       []string
}

func (c *levelCounter) Write(p []byte) (int, error) {
	var l struct{ Level, Msg, Error string }
	_ = json.Unmarshal(p, &l)
	c.mu.Lock()
	c.counts[l.Level]++
	// The store's line, not the HTTP layer's, which logs the same
	// refusal again.
	if strings.HasPrefix(l.Msg, "mongostore:") && strings.Contains(l.Error, "the writer's lease has expired") {
		c.refused++
	}
	if strings.Contains(l.Msg, "lease lapsed") {
		c.lapses++
	}
	if (strings.Contains(l.Msg, "lease lapsed") || strings.Contains(l.Msg, "lease is valid again")) && len(c.lapseLines) < 10 {
		c.lapseLines = append(c.lapseLines, strings.TrimSpace(string(p)))
	}
	if (l.Level == "ERROR" || l.Level == "WARN") && len(c.first) < 10 {
		c.first = append(c.first, strings.TrimSpace(string(p)))
	}
	if l.Level == "ERROR" || l.Level == "WARN" {
		c.last = append(c.last, strings.TrimSpace(string(p)))
		if len(c.last) > 20 {
			c.last = c.last[1:]
		}
	}
	c.mu.Unlock()
	return len(p), nil
}

func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

type sample struct {
	heap, rss  int64
	goroutines int
}

func measure() sample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return sample{heap: int64(m.HeapInuse), rss: rss(), goroutines: runtime.NumGoroutine()}
}

func TestSoak(t *testing.T) {
	duration := envOr(t, "SOAK_DURATION", 5*time.Minute, time.ParseDuration)
	rate := envOr(t, "SOAK_RATE", 50, strconv.Atoi)
	seed := envOr(t, "SOAK_TICKETS", 3300, strconv.Atoi)
	const every = 30 * time.Second

	natsURL, clusterID := testenv.NATS(t)
	mongoURI := testenv.DatabaseURI(t, testenv.Mongo(t))
	vars := map[string]string{
		"PORT": "0", "MONGO_URI": mongoURI, "NATS_URL": natsURL, "NATS_CLUSTER_ID": clusterID,
		"NATS_CLIENT_ID": testenv.UniqueName(t), "JWT_KEY": string(testKey),
	}
	for _, k := range []string{"REQUEST_TIMEOUT", "MAX_REQUESTS_IN_FLIGHT", "OUTBOX_TTL"} { // the service's own knobs, to try them
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	cfg.QueueGroup = "tickets-service-" + testenv.UniqueName(t)
	logs := &levelCounter{counts: map[string]int{}}
	// The "listening" line is found through a tee until it has been seen.
	started := &logBuffer{}
	var seen atomic.Bool
	tee := writerFunc(func(p []byte) (int, error) {
		if !seen.Load() {
			started.Write(p)
		}
		return logs.Write(p)
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runService(ctx, cfg, slog.New(slog.NewJSONHandler(tee, nil))) }()
	base := listening(t, started)
	seen.Store(true)
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("shutdown after the soak: %v", err)
		}
	}()

	client := &http.Client{Timeout: cfg.RequestTimeout + 5*time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	users := []string{tickets0(0), tickets0(1), tickets0(2), tickets0(3)}
	auth := map[string]string{}
	for _, u := range users {
		auth[u] = "Bearer " + token(t, u)
	}
	var idsMu sync.Mutex
	var ids []string
	owner := map[string]string{}
	doKey := func(method, path, body, user, key string) (int, http.Header, []byte, time.Duration, error) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			return 0, nil, nil, 0, err
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if user != "" {
			req.Header.Set("Authorization", auth[user])
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, nil, time.Since(start), err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b, time.Since(start), err
	}
	do := func(method, path, body, user string) (int, http.Header, []byte, time.Duration, error) {
		return doKey(method, path, body, user, "")
	}
	// create creates a ticket as a careful client does: with a key of its
	// own, retried with that key after an answer that invites it (503
	// with Retry-After) or that says the outcome is unknown, up to four
	// times. Its title is the key, so that a create stored twice shows.
	var retried, replayed, unknown atomic.Int64
	create := func(user string) (int, http.Header, time.Duration, bool, error) {
		key := "soak-" + strconv.FormatUint(rand.Uint64(), 36)
		body := fmt.Sprintf(`{"title":%q,"price":%d}`, key, 1+rand.IntN(500))
		var (
			status int
			h      http.Header
			b      []byte
			d      time.Duration
			err    error
		)
		for attempt := 0; attempt < 4; attempt++ {
			if attempt > 0 {
				retried.Add(1)
				time.Sleep(time.Second)
			}
			var took time.Duration
			status, h, b, took, err = doKey("POST", "/api/tickets", body, user, key)
			d += took
			if err == nil && status == http.StatusInternalServerError && strings.Contains(string(b), "may have been saved") {
				unknown.Add(1)
				continue
			}
			if err != nil || status != http.StatusServiceUnavailable {
				break
			}
		}
		if h.Get("Idempotent-Replayed") == "true" {
			replayed.Add(1)
		}
		maybe := err == nil && status == http.StatusInternalServerError && strings.Contains(string(b), "may have been saved")
		if status == http.StatusCreated {
			var tk struct{ ID string }
			if json.Unmarshal(b, &tk) == nil {
				idsMu.Lock()
				ids = append(ids, tk.ID)
				owner[tk.ID] = user
				idsMu.Unlock()
			}
		}
		return status, h, d, maybe, err
	}

	// Seed, closed loop, 16 at a time.
	seedStart := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if status, _, _, _, err := create(users[i%len(users)]); status != http.StatusCreated {
					t.Errorf("seed: %d %v", status, err)
				}
			}
		})
	}
	for i := range seed {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("seeded %d tickets in %v", seed, time.Since(seedStart).Round(time.Millisecond))
	client.CloseIdleConnections()
	idle := measure() // the baseline: seeded, no request in flight
	t.Logf("idle before the load: heap %.1f MiB, RSS %.1f MiB, %d goroutines", float64(idle.heap)/(1<<20), float64(idle.rss)/(1<<20), idle.goroutines)

	// The load: one request every 1/rate, whatever the answers take.
	type result struct {
		op      string
		status  int
		retry   bool
		unknown bool // a 500 that says the write may have been saved
		took    time.Duration
		err     error
	}
	results := make(chan result, 4096)
	pick := func() (string, string) {
		idsMu.Lock()
		defer idsMu.Unlock()
		id := ids[rand.IntN(len(ids))]
		return id, owner[id]
	}
	send := func() {
		var r result
		var h http.Header
		switch n := rand.IntN(100); {
		case n < 20:
			r.op = "create"
			r.status, h, r.took, r.unknown, r.err = create(users[rand.IntN(len(users))])
		case n < 60:
			r.op = "list"
			r.status, h, _, r.took, r.err = do("GET", "/api/tickets", "", "")
		case n < 90:
			id, _ := pick()
			r.op = "show"
			r.status, h, _, r.took, r.err = do("GET", "/api/tickets/"+id, "", "")
		default:
			id, user := pick()
			r.op = "update"
			var b []byte
			r.status, h, b, r.took, r.err = do("PUT", "/api/tickets/"+id, fmt.Sprintf(`{"title":"edited %d","price":%d}`, rand.IntN(1e6), 1+rand.IntN(500)), user)
			r.unknown = r.status == http.StatusInternalServerError && strings.Contains(string(b), "may have been saved")
		}
		r.retry = h != nil && h.Get("Retry-After") != ""
		results <- r
	}

	var (
		window    []time.Duration
		statuses  = map[string]int{}
		total     int
		bad       []string
		samples   []sample
		collected = make(chan struct{})
	)
	report := func(elapsed time.Duration) {
		slices.Sort(window)
		pct := func(p float64) time.Duration {
			if len(window) == 0 {
				return 0
			}
			return window[min(len(window)-1, int(p/100*float64(len(window))))].Round(time.Millisecond)
		}
		s := measure()
		samples = append(samples, s)
		logs.mu.Lock()
		levels := fmt.Sprint(logs.counts)
		logs.mu.Unlock()
		t.Logf("%4.0fs: %d requests (%.1f/s), p50 %v p95 %v p99 %v max %v; answers %v; heap %.1f MiB, RSS %.1f MiB, %d goroutines; log %s",
			elapsed.Seconds(), len(window), float64(len(window))/every.Seconds(), pct(50), pct(95), pct(99), pct(100), statuses,
			float64(s.heap)/(1<<20), float64(s.rss)/(1<<20), s.goroutines, levels)
		window = window[:0]
	}
	start := time.Now()
	go func() {
		defer close(collected)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case r, ok := <-results:
				if !ok {
					return
				}
				total++
				window = append(window, r.took)
				key := strconv.Itoa(r.status)
				if r.err != nil {
					key = "error"
				}
				statuses[key]++
				ok2xx := r.err == nil && r.status >= 200 && r.status < 300
				shed := r.err == nil && r.status == http.StatusServiceUnavailable && r.retry
				truthful500 := r.err == nil && r.status == http.StatusInternalServerError && r.unknown && !r.retry
				if (!ok2xx && !shed && !truthful500) || r.took > creates(r.op)*(cfg.RequestTimeout+time.Second) {
					if len(bad) < 20 {
						bad = append(bad, fmt.Sprintf("%s: status %d retry-after %v in %v: %v", r.op, r.status, r.retry, r.took.Round(time.Millisecond), r.err))
					}
				}
			case <-tick.C:
				report(time.Since(start))
			}
		}
	}()
	interval := time.Second / time.Duration(rate)
	tick := time.NewTicker(interval)
	var inflight sync.WaitGroup
	for time.Since(start) < duration {
		<-tick.C
		inflight.Go(send)
	}
	tick.Stop()
	inflight.Wait()
	close(results)
	<-collected
	if len(window) > 0 {
		report(time.Since(start))
	}
	t.Logf("%d requests in %v; answers %v", total, time.Since(start).Round(time.Second), statuses)
	t.Logf("creates: %d retries with their key, %d answers of unknown outcome, %d answered from an earlier attempt (Idempotent-Replayed)", retried.Load(), unknown.Load(), replayed.Load())
	if dups := storedTwice(t, cfg.MongoURI); len(dups) > 0 {
		t.Errorf("%d creates were stored more than once, though retried with their key: %v", len(dups), dups[:min(len(dups), 10)])
	}
	logs.mu.Lock()
	t.Logf("writes refused for a lapsed outbox lease: %d; lapses logged: %d", logs.refused, logs.lapses)
	if len(logs.lapseLines) > 0 {
		t.Logf("the first lapses:\n%s", strings.Join(logs.lapseLines, "\n"))
	}
	logs.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("answers that were neither 2xx, nor 503 with Retry-After, nor a 500 of unknown outcome, within the deadline:\n%s", strings.Join(bad, "\n"))
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.first) > 0 {
		t.Logf("the first warnings and errors:\n%s", strings.Join(logs.first, "\n"))
	}
	if logs.counts["ERROR"] > 0 {
		t.Errorf("%d errors logged; the last warnings and errors:\n%s", logs.counts["ERROR"], strings.Join(logs.last, "\n"))
	}
	// Growth: idle after the load against idle before it. The load's
	// own goroutines (clients, handlers, connections) end once it does;
	// what is left after that is a leak.
	client.CloseIdleConnections()
	var after sample
	settle := time.Now().Add(time.Minute)
	for {
		after = measure()
		if after.goroutines <= idle.goroutines+idle.goroutines/5+10 || time.Now().After(settle) {
			break
		}
		time.Sleep(500 * time.Millisecond) // the service's idle connections time out on their own
	}
	t.Logf("idle after the load: heap %.1f MiB, RSS %.1f MiB, %d goroutines", float64(after.heap)/(1<<20), float64(after.rss)/(1<<20), after.goroutines)
	if after.goroutines > idle.goroutines+idle.goroutines/5+10 {
		t.Errorf("goroutines grew from %d to %d", idle.goroutines, after.goroutines)
	}
	if after.heap > idle.heap*3/2+16<<20 {
		t.Errorf("heap in use grew from %.1f to %.1f MiB", float64(idle.heap)/(1<<20), float64(after.heap)/(1<<20))
	}
	if after.rss > idle.rss*3/2+32<<20 {
		t.Errorf("RSS grew from %.1f to %.1f MiB", float64(idle.rss)/(1<<20), float64(after.rss)/(1<<20))
	}
	_ = samples
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// tickets0 is the i-th soak user's 24-hex id.
func tickets0(i int) string { return fmt.Sprintf("50a50a50a50a50a50a50a5%02x", i) }

// creates is how many request deadlines an operation may take: a create
// is up to four attempts, one second apart.
func creates(op string) time.Duration {
	if op == "create" {
		return 4
	}
	return 1
}

// storedTwice returns the soak's create keys (its tickets' titles) that
// more than one ticket of the service's database holds.
func storedTwice(t *testing.T, mongoURI string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, err := url.Parse(mongoURI)
	if err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	cur, err := client.Database(strings.TrimPrefix(u.Path, "/")).Collection(ticketstore.Name).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "title", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Title string `bson:"title"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var dups []string
	for _, d := range docs {
		if !strings.HasPrefix(d.Title, "soak-") {
			continue
		}
		if seen[d.Title]++; seen[d.Title] == 2 {
			dups = append(dups, d.Title)
		}
	}
	t.Logf("%d tickets of the soak's creates in the database, %d stored more than once", len(seen), len(dups))
	return dups
}
