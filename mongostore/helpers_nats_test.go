package mongostore_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// wait bounds every wait on a condition in the tests that run a broker;
// generous for -race on a loaded machine. Nothing asserts how long things
// take.
const wait = 60 * time.Second

// noLeaks checks, once the test and its cleanups are done, that no
// goroutine outlived it. Call it first, so that it runs after the cleanups
// that close clients and stop servers.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// startStan starts a NATS Streaming server of the test's own, so that the
// ticket channels hold this test's events only (the subjects are fixed by
// the event types, and the shared server carries every package's).
func startStan(t *testing.T) *testenv.Process {
	t.Helper()
	return testenv.StartStan(t, t.TempDir())
}

// connectNATS connects a client to p with quick retries and a quick
// verdict on a silent connection, so that an outage is noticed and
// recovered from within the test's patience. It is closed when the test
// ends, unless the test closes it first.
func connectNATS(t *testing.T, p *testenv.Process, name string) *streaming.Client {
	t.Helper()
	c, err := streaming.Connect(ctxFor(t, wait), natsclient.Config{
		ClusterID:    p.ClusterID(),
		ClientID:     name + "-" + testenv.UniqueName(t)[2:],
		URLs:         []string{p.URL()},
		PingInterval: time.Second,
		PingMaxOut:   2,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		// A relay's round fails quickly while the server is down, and
		// retries with its own backoff.
		PublishWait: 500 * time.Millisecond,
		Logger:      testLogger(t, name),
	})
	if err != nil {
		t.Fatalf("streaming.Connect: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(ctxFor(t, wait)); err != nil {
			t.Errorf("close %s client: %v", name, err)
		}
	})
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// listen subscribes h and closes the listener when the test ends.
func listen[E events.Event](t *testing.T, tr events.Transport, group string, h events.Handler[E], opts ...events.ListenerOption) *events.Listener {
	t.Helper()
	l, err := events.Listen(ctxFor(t, wait), tr, group, h, opts...)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(ctxFor(t, wait)); err != nil {
			t.Errorf("close listener: %v", err)
		}
	})
	return l
}

func testLogger(t *testing.T, name string) *slog.Logger { return slog.New(testHandler{t, name}) }

// testHandler logs through t at Info and above, so a failing test shows
// the clients' story.
type testHandler struct {
	t    *testing.T
	name string
}

func (h testHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h testHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h testHandler) WithGroup(string) slog.Handler                { return h }
func (h testHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s: %s", r.Time.Format("15:04:05.000"), h.name, r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.t.Log(b.String())
	return nil
}

// delivery is one message as a listener saw it.
type delivery struct {
	id      string
	version int64
	meta    events.Metadata
}

// observer records what durable listeners deliver, and lets a test wait
// for a condition on it.
type observer struct {
	mu      sync.Mutex
	seen    []delivery
	changed chan struct{} // closed and replaced on every delivery
}

func newObserver() *observer { return &observer{changed: make(chan struct{})} }

func (o *observer) record(id string, version int64, meta events.Metadata) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, delivery{id, version, meta})
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *observer) onCreated(_ context.Context, e wire.TicketCreated, meta events.Metadata) error {
	o.record(e.ID, e.Version, meta)
	return nil
}

func (o *observer) onUpdated(_ context.Context, e wire.TicketUpdated, meta events.Metadata) error {
	o.record(e.ID, e.Version, meta)
	return nil
}

// listenAll subscribes o to ticket:created and ticket:updated, durable
// under group and from the start of the channels.
func (o *observer) listenAll(t *testing.T, tr events.Transport, group string) {
	listen(t, tr, group, o.onCreated, events.DeliverAll())
	listen(t, tr, group, o.onUpdated, events.DeliverAll())
}

// await waits until cond holds for what has been delivered so far.
func (o *observer) await(t *testing.T, what string, cond func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.After(wait)
	for {
		o.mu.Lock()
		seen, changed := append([]delivery(nil), o.seen...), o.changed
		o.mu.Unlock()
		if cond(seen) {
			return seen
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: not within %v; %d deliveries so far", what, wait, len(seen))
		}
	}
}

// stored reduces deliveries to the messages the server stored, one per
// channel sequence, dropping redeliveries.
func stored(ds []delivery) []delivery {
	type key struct {
		subject string
		seq     uint64
	}
	seen := make(map[key]bool)
	var out []delivery
	for _, d := range ds {
		k := key{d.meta.Subject, d.meta.Sequence}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// hasAll reports whether ds includes every version 0..last[id] of every
// ticket in last.
func hasAll(ds []delivery, last map[string]int64) bool {
	got := make(map[string]map[int64]bool)
	for _, d := range ds {
		if got[d.id] == nil {
			got[d.id] = make(map[int64]bool)
		}
		got[d.id][d.version] = true
	}
	for id, n := range last {
		for v := int64(0); v <= n; v++ {
			if !got[id][v] {
				return false
			}
		}
	}
	return true
}
