package streaming_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// timeout bounds every wait on a condition; generous for -race on a
// loaded machine. Nothing is asserted about how long things take.
const timeout = 30 * time.Second

// noLeaks checks, once the test and its cleanups are done, that no
// goroutine outlived the clients. Call it first, so that it runs after
// the cleanups that close clients and stop servers.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// config returns a Config for a test server, with quick retries and a
// quick verdict on a silent connection, so that recovery paths run within
// a test's patience.
func config(t *testing.T, url, clusterID string) natsclient.Config {
	return natsclient.Config{
		ClusterID:    clusterID,
		ClientID:     testenv.UniqueName(t),
		URLs:         []string{url},
		PingInterval: time.Second,
		PingMaxOut:   2,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		Logger:       slog.New(testHandler{t}),
	}
}

// connect connects and closes the client when the test ends.
func connect(t *testing.T, cfg natsclient.Config) *streaming.Client {
	t.Helper()
	c, err := streaming.Connect(ctxFor(t, timeout), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(ctxFor(t, timeout)); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// testHandler logs through t, so a failing test shows the client's story.
type testHandler struct{ t *testing.T }

func (h testHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h testHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h testHandler) WithGroup(string) slog.Handler            { return h }
func (h testHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Time.Format("15:04:05.000"), r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.t.Log(b.String())
	return nil
}

// logs records log records for tests that assert on them, and passes
// them on to the test's log.
type logs struct {
	t       *testing.T
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{}
}

func newLogs(t *testing.T) *logs { return &logs{t: t, changed: make(chan struct{})} }

func (l *logs) logger() *slog.Logger { return slog.New(logsHandler{l}) }

type logsHandler struct{ l *logs }

func (h logsHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logsHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logsHandler) WithGroup(string) slog.Handler            { return h }
func (h logsHandler) Handle(ctx context.Context, r slog.Record) error {
	l := h.l
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return testHandler{l.t}.Handle(ctx, r)
}

// await waits for a record whose message contains substr, and returns it.
func (l *logs) await(substr string) slog.Record {
	l.t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		i := slices.IndexFunc(l.records, func(r slog.Record) bool { return strings.Contains(r.Message, substr) })
		var r slog.Record
		if i >= 0 {
			r = l.records[i]
		}
		changed := l.changed
		l.mu.Unlock()
		if i >= 0 {
			return r
		}
		select {
		case <-changed:
		case <-deadline:
			l.t.Fatalf("no log record saying %q within %v", substr, timeout)
		}
	}
}

func (l *logs) matching(substr string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.records {
		if strings.Contains(r.Message, substr) {
			out = append(out, r)
		}
	}
	return out
}

func (l *logs) all() []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

// states records state changes, for waiting on them.
type states struct {
	mu      sync.Mutex
	seen    []natsclient.State
	changed chan struct{}
}

func newStates() *states { return &states{changed: make(chan struct{})} }

func (s *states) record(st natsclient.State, _ error) {
	s.mu.Lock()
	s.seen = append(s.seen, st)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// await waits until the client's Status is want, and returns the states
// seen so far.
func (s *states) await(t *testing.T, c *streaming.Client, want natsclient.State) []natsclient.State {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		changed := s.changed
		seen := slices.Clone(s.seen)
		s.mu.Unlock()
		if c.Status() == want {
			return seen
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("status is %v, not %v, after %v (states seen: %v)", c.Status(), want, timeout, seen)
		}
	}
}

func (s *states) list() []natsclient.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// inbox collects deliveries by payload.
type inbox struct {
	mu      sync.Mutex
	got     map[string]int // payload -> deliveries
	metas   []events.Metadata
	changed chan struct{}
}

func newInbox() *inbox { return &inbox{got: make(map[string]int), changed: make(chan struct{})} }

// deliver records and acknowledges.
func (in *inbox) deliver(t *testing.T) func(events.Message) {
	return func(m events.Message) {
		in.add(m)
		if err := m.Ack(); err != nil {
			t.Logf("ack %d: %v (it will be redelivered)", m.Metadata().Sequence, err)
		}
	}
}

func (in *inbox) add(m events.Message) {
	in.mu.Lock()
	in.got[string(m.Data())]++
	in.metas = append(in.metas, m.Metadata())
	close(in.changed)
	in.changed = make(chan struct{})
	in.mu.Unlock()
}

// await waits until cond holds.
func (in *inbox) await(t *testing.T, what string, cond func(got map[string]int) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		in.mu.Lock()
		ok := cond(in.got)
		n := len(in.got)
		changed := in.changed
		in.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s (%d distinct messages received)", what, n)
		}
	}
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got)
}

func (in *inbox) metadata() []events.Metadata {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.metas)
}

// hasAll reports whether every payload in want was received.
func hasAll(want []string) func(map[string]int) bool {
	return func(got map[string]int) bool {
		for _, p := range want {
			if got[p] == 0 {
				return false
			}
		}
		return true
	}
}

func missing(in *inbox, want []string) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, p := range want {
		if in.got[p] == 0 {
			out = append(out, p)
		}
	}
	return out
}
