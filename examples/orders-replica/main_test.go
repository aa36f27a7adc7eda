package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait on a condition; generous for -race on a loaded
// machine. Nothing asserts how long things take.
const wait = 60 * time.Second

// noLeaks checks, once the test and its cleanups are done, that no
// goroutine outlived it. Call it first, so that it runs last.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// logBuffer collects the program's JSON log lines and lets a test wait
// for one.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   []map[string]any
	changed chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	for {
		line, err := b.buf.ReadBytes('\n')
		if err != nil {
			b.buf.Write(line) // an incomplete line waits for its end
			break
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			b.lines = append(b.lines, m)
		}
	}
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

// await waits for a log line matching match, looking at lines logged
// from index from on, and returns the index after it.
func (b *logBuffer) await(t *testing.T, what string, from int, match func(map[string]any) bool) int {
	t.Helper()
	deadline := time.After(wait)
	for {
		b.mu.Lock()
		i := slices.IndexFunc(b.lines[from:], match)
		changed, n := b.changed, len(b.lines)
		b.mu.Unlock()
		if i >= 0 {
			return from + i + 1
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line for %s within %v (%d lines logged)", what, wait, n)
		}
	}
}

func (b *logBuffer) dump(t *testing.T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		t.Log(l)
	}
}

func msg(m string) func(map[string]any) bool {
	return func(l map[string]any) bool { return l["msg"] == m }
}

// applied matches the replica's debug line for version of ticket id.
func applied(id string, version int64) func(map[string]any) bool {
	return func(l map[string]any) bool {
		return l["msg"] == "mongostore: replica applied event" && l["id"] == id && l["version"] == float64(version)
	}
}

// program is one run of the program, as main runs it.
type program struct {
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, cfg config, logs *logBuffer) *program {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	p := &program{stop: stop, done: make(chan error, 1)}
	log := newLogger(logs, cfg)
	go func() { p.done <- replicate(ctx, cfg, log) }()
	t.Cleanup(func() { p.shutdown(t) })
	return p
}

// shutdown stops the program as a SIGTERM would and waits for it.
func (p *program) shutdown(t *testing.T) error {
	p.stop()
	select {
	case err := <-p.done:
		p.done <- err // for a second call
		return err
	case <-time.After(wait):
		t.Fatalf("the program did not return within %v of the stop signal", wait)
		return nil
	}
}

// TestReplicatesAndShutsDown runs the program against MongoDB and a NATS
// Streaming server of the test's own. A TicketUpdated v1 is already on
// the broker when it starts (DeliverAll brings it, before its ticket
// exists), the TicketCreated v0 comes after, then v0 again: the replica
// converges on v1 and ignores the duplicate. A stop signal shuts it down cleanly; started again on
// the same durable, it takes up v2, published while it was down.
func TestReplicatesAndShutsDown(t *testing.T) {
	noLeaks(t)
	server := testenv.StartStan(t, t.TempDir())
	db := testenv.Mongo(t)
	uri := testenv.DatabaseURI(t, db)
	cfg, err := loadConfig(env(map[string]string{
		"MONGO_URI":       uri,
		"NATS_URL":        strings.Replace(server.URL(), "nats://", "http://", 1), // as the cluster's manifests say
		"NATS_CLUSTER_ID": server.ClusterID(),
		"NATS_CLIENT_ID":  "orders-" + testenv.UniqueName(t)[2:],
		"LOG_LEVEL":       "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ackWait = time.Second // an early event comes back within a second

	pub, err := streaming.Connect(ctxFor(t, wait), natsclient.Config{
		ClusterID: server.ClusterID(), ClientID: "tickets-" + testenv.UniqueName(t)[2:], URLs: []string{server.URL()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pub.Close(ctxFor(t, wait)); err != nil {
			t.Error(err)
		}
	}()
	created, _ := events.NewPublisher[wire.TicketCreated](pub)
	updated, _ := events.NewPublisher[wire.TicketUpdated](pub)
	id, user := ticketkit.NewID(), ticketkit.NewID()
	v0 := wire.TicketCreated{ID: id, Title: "concert", Price: ticketkit.Cents(2000), UserID: user}
	v1 := wire.TicketUpdated{ID: id, Title: "concert", Price: ticketkit.Cents(2000), UserID: user, OrderID: ticketkit.NewID(), Version: 1}
	v2 := wire.TicketUpdated{ID: id, Title: "concert, front row", Price: ticketkit.Cents(3550), UserID: user, Version: 2}

	if err := updated.Publish(ctxFor(t, wait), v1); err != nil {
		t.Fatal(err)
	}
	logs := newLogBuffer()
	p := start(t, cfg, logs)
	next := logs.await(t, "readiness", 0, msg("replicating tickets"))
	if err := created.Publish(ctxFor(t, wait), v0); err != nil {
		t.Fatal(err)
	}
	logs.await(t, "v0 applied", next, applied(id, 0))
	// The only v1 is the one published before the start: DeliverAll
	// brought it, and if it came before v0 the broker brought it back.
	logs.await(t, "v1 applied", next, applied(id, 1))
	if err := created.Publish(ctxFor(t, wait), v0); err != nil { // published twice
		t.Fatal(err)
	}
	logs.await(t, "the second v0 ignored", next, func(l map[string]any) bool {
		return l["msg"] == "mongostore: replica ignored a duplicate event" && l["id"] == id && l["version"] == float64(0)
	})

	replica, err := mongostore.NewReplica[orders.Ticket](db, "tickets")
	if err != nil {
		t.Fatal(err)
	}
	want := orders.Ticket{ID: id, Title: v1.Title, Price: v1.Price, Version: 1}
	if got, err := orders.NewTickets(replica).Ticket(ctxFor(t, wait), id); err != nil || got != want {
		t.Fatalf("replicated ticket = %+v, %v; want %+v", got, err, want)
	}
	if err := p.shutdown(t); err != nil {
		logs.dump(t)
		t.Fatalf("the program returned %v after the stop signal, want nil", err)
	}
	logs.await(t, "a clean stop", next, msg("stopped cleanly"))

	// Down: v2 waits on the broker for the durable.
	if err := updated.Publish(ctxFor(t, wait), v2); err != nil {
		t.Fatal(err)
	}
	logs2 := newLogBuffer()
	p2 := start(t, cfg, logs2)
	logs2.await(t, "v2 applied after the restart", 0, applied(id, 2))
	want = orders.Ticket{ID: id, Title: v2.Title, Price: v2.Price, Version: 2}
	if got, err := orders.NewTickets(replica).Ticket(ctxFor(t, wait), id); err != nil || got != want {
		t.Fatalf("replicated ticket after the restart = %+v, %v; want %+v", got, err, want)
	}
	if err := p2.shutdown(t); err != nil {
		t.Fatalf("the restarted program returned %v after the stop signal, want nil", err)
	}
}

// TestStopDuringStartup: a stop signal while the broker is still being
// waited for is a clean stop, not a failure.
func TestStopDuringStartup(t *testing.T) {
	noLeaks(t)
	db := testenv.Mongo(t)
	uri := testenv.DatabaseURI(t, db)
	cfg, err := loadConfig(env(map[string]string{
		"MONGO_URI": uri, "NATS_URL": "nats://127.0.0.1:1", // nothing listens on port 1
		"NATS_CLUSTER_ID": "ticketing",
	}))
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogBuffer()
	p := start(t, cfg, logs)
	logs.await(t, "MongoDB connected", 0, msg("connected to MongoDB"))
	if err := p.shutdown(t); err != nil {
		t.Fatalf("stopped during start-up: %v, want nil", err)
	}
	logs.await(t, "the stop", 0, msg("stopped during start-up"))
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want []string
	}{
		{nil, []string{"MONGO_URI must be defined", "URLs is empty", "ClusterID is empty", "NATS_URL", "NATS_CLUSTER_ID"}},
		{map[string]string{"MONGO_URI": "postgres://x", "NATS_URL": "nats://n:4222", "NATS_CLUSTER_ID": "c", "NATS_CLIENT_ID": "i"}, []string{"MONGO_URI"}},
		{map[string]string{"MONGO_URI": "mongodb://m/orders", "NATS_URL": "nats://n:4222", "NATS_CLUSTER_ID": "c", "NATS_CLIENT_ID": "i", "LOG_LEVEL": "loud"}, []string{`LOG_LEVEL "loud"`}},
	} {
		var out bytes.Buffer
		err := run(context.Background(), env(c.env), &out)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("env %v: error %v, want one mentioning %q", c.env, err, w)
			}
		}
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{
		"MONGO_URI": "mongodb://orders-mongo-srv:27017", "NATS_URL": "http://nats-srv:4222, https://nats-2:4222",
		"NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "orders-depl-abc",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.database != "orders" || !slices.Equal(cfg.nats.URLs, []string{"nats://nats-srv:4222", "tls://nats-2:4222"}) ||
		cfg.queueGroup != "orders-service" || cfg.ackWait != 5*time.Second || cfg.nats.ClusterID != "ticketing" || cfg.nats.ClientID != "orders-depl-abc" {
		t.Errorf("config = %+v", cfg)
	}
	// Without NATS_CLIENT_ID, one of its own: instances must not share one.
	a, errA := loadConfig(env(map[string]string{"MONGO_URI": "mongodb://m", "NATS_URL": "nats://n:4222", "NATS_CLUSTER_ID": "c"}))
	b, errB := loadConfig(env(map[string]string{"MONGO_URI": "mongodb://m", "NATS_URL": "nats://n:4222", "NATS_CLUSTER_ID": "c"}))
	if errA != nil || errB != nil || a.nats.ClientID == "" || a.nats.ClientID == b.nats.ClientID {
		t.Errorf("default client ids %q and %q (%v, %v), want two different ones", a.nats.ClientID, b.nats.ClientID, errA, errB)
	}
	cfg, err = loadConfig(env(map[string]string{
		"MONGO_URI": "mongodb://m:27017/replica_db?retryWrites=false", "NATS_URL": "nats://n:4222",
		"NATS_CLUSTER_ID": "c", "NATS_CLIENT_ID": "i",
	}))
	if err != nil || cfg.database != "replica_db" {
		t.Errorf("database = %q (%v), want the URI's path", cfg.database, err)
	}
}
