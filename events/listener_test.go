package events_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events/eventstest"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/tickets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func noop(context.Context, eventstest.Sample, events.Metadata) error { return nil }

func TestOptionsAreValidated(t *testing.T) {
	tr := memtransport.New()
	ctx := context.Background()
	for name, opts := range map[string][]events.ListenerOption{
		"AckWait under a second": {events.AckWait(500 * time.Millisecond)},
		"MaxInFlight 0":          {events.MaxInFlight(0)},
		"Concurrency 0":          {events.Concurrency(0)},
		"MaxDeliveries 0":        {events.MaxDeliveries(0)},
		"MaxOutOfOrder 0":        {events.MaxOutOfOrderDeliveries(0)},
		"StallAfter 0":           {events.StallAfter(0)},
		"empty durable":          {events.Durable("")},
		"nil logger":             {events.WithLogger(nil)},
		"nil dead-letter hook":   {events.OnDeadLetter(nil)},
		"empty dead subject":     {events.DeadLetterSubject("")},
		"nil option":             {nil},
		"zero Option":            {events.Option{}},
	} {
		if _, err := events.Listen(ctx, tr, "group", noop, opts...); !errors.Is(err, events.ErrInvalidOption) {
			t.Errorf("Listen with %s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := events.Listen(ctx, tr, "", noop); !errors.Is(err, events.ErrInvalidOption) {
		t.Errorf("Listen without a queue group: %v", err)
	}
	if _, err := events.Listen[eventstest.Sample](ctx, tr, "group", nil); !errors.Is(err, events.ErrInvalidOption) {
		t.Errorf("Listen without a handler: %v", err)
	}
	// A listener option given to NewPublisher doesn't compile; the
	// options both take do, and so do their nil and zero values' errors.
	if _, err := events.NewPublisher[eventstest.Sample](tr, events.WithHooks(events.Hooks{})); err != nil {
		t.Errorf("NewPublisher with WithHooks: %v", err)
	}
	if _, err := events.NewPublisher[eventstest.Sample](tr, nil); !errors.Is(err, events.ErrInvalidOption) {
		t.Errorf("NewPublisher with a nil option: %v", err)
	}
}

func publishCreated(t *testing.T, tr events.Transport, n int) {
	t.Helper()
	pub, err := events.NewPublisher[eventstest.Sample](tr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := pub.Publish(context.Background(), eventstest.Sample{ID: sampleID, Title: "t", Price: 100, UserID: "u", Version: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func closeOnCleanup(t *testing.T, l *events.Listener) {
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func TestMaxDeliveriesDeadLettersAFailingEvent(t *testing.T) {
	tr := memtransport.New()
	var calls atomic.Int32
	dead := make(chan events.DeadLetter, 1)
	l, err := events.Listen(context.Background(), tr, "group", func(context.Context, eventstest.Sample, events.Metadata) error {
		calls.Add(1)
		return errors.New("permanent failure")
	}, events.AckWait(time.Second), events.MaxDeliveries(2), events.OnDeadLetter(func(_ context.Context, dl events.DeadLetter) error {
		dead <- dl
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	publishCreated(t, tr, 1)
	select {
	case dl := <-dead:
		if dl.DeliveryCount != 2 || dl.Err == nil || !strings.Contains(dl.Err.Error(), "permanent failure") {
			t.Fatalf("dead letter = %+v", dl)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never dead-lettered")
	}
	if calls.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2", calls.Load())
	}
}

func TestAFailingDeadLetterHookLosesNothing(t *testing.T) {
	tr := memtransport.New()
	var attempts atomic.Int32
	done := make(chan struct{})
	l, err := events.Listen(context.Background(), tr, "group", noop, events.AckWait(time.Second),
		events.OnDeadLetter(func(context.Context, events.DeadLetter) error {
			if attempts.Add(1) == 1 {
				return errors.New("dead-letter store down")
			}
			close(done)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	if err := tr.Publish(context.Background(), events.Outgoing{Subject: string(eventstest.SubjectSample), Data: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the dead letter was not offered again after the hook failed")
	}
}

// syncBuffer is a log sink the listener's goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDefaultDeadLetterHookLogsATruncatedPayload(t *testing.T) {
	var logs syncBuffer
	tr := memtransport.New()
	handled := make(chan events.Outcome, 1)
	l, err := events.Listen(context.Background(), tr, "group", noop,
		events.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		events.WithHooks(events.Hooks{Handled: func(_ events.Metadata, _ time.Duration, o events.Outcome) { handled <- o }}))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	payload := "not json " + strings.Repeat("x", 1000)
	if err := tr.Publish(context.Background(), events.Outgoing{Subject: string(eventstest.SubjectSample), Data: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	if o := <-handled; o != events.DeadLettered {
		t.Fatalf("outcome = %v, want dead-lettered", o)
	}
	out := logs.String()
	for _, want := range []string{`"subject":"sample:created"`, `"sequence":1`, `"truncated":true`, `"payload":"not json xxx`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, strings.Repeat("x", 300)) {
		t.Errorf("log holds more than the truncated payload")
	}
}

func TestAutoAckIsAtMostOnce(t *testing.T) {
	tr := memtransport.New()
	var calls atomic.Int32
	handled := make(chan struct{}, 10)
	l, err := events.Listen(context.Background(), tr, "group", func(context.Context, eventstest.Sample, events.Metadata) error {
		calls.Add(1)
		handled <- struct{}{}
		return errors.New("lost, as asked")
	}, events.ManualAck(false), events.AckWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	publishCreated(t, tr, 1)
	<-handled
	select {
	case <-handled:
		t.Fatal("an auto-acked message came back")
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestPublisherHooksAndErrors(t *testing.T) {
	tr := memtransport.New()
	var published atomic.Int32
	pub, err := events.NewPublisher[eventstest.Sample](tr, events.WithHooks(events.Hooks{
		Published: func(s events.Subject, n int, _ time.Duration, err error) {
			if s == eventstest.SubjectSample && err == nil {
				published.Add(int32(n))
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if pub.Subject() != eventstest.SubjectSample {
		t.Fatalf("Subject() = %s", pub.Subject())
	}
	ev := eventstest.Sample{ID: sampleID, Title: "t", Price: 1, UserID: "u"}
	if err := pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for _, err := range pub.PublishBatch(context.Background(), []eventstest.Sample{ev, ev}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if published.Load() != 3 {
		t.Fatalf("hooks saw %d published, want 3", published.Load())
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), ev); !errors.Is(err, memtransport.ErrClosed) {
		t.Fatalf("Publish on a closed transport = %v, want the transport's error wrapped", err)
	}
}

func TestPermanentErrorsAreDeadLetteredAtOnce(t *testing.T) {
	tr := memtransport.New()
	cause := errors.New("ticket reserved by another order for too long")
	dead := make(chan events.DeadLetter, 1)
	var calls atomic.Int32
	l, err := events.Listen(context.Background(), tr, "group", func(context.Context, eventstest.Sample, events.Metadata) error {
		calls.Add(1)
		return fmt.Errorf("reserve: %w", events.Permanent(cause))
	}, events.OnDeadLetter(func(_ context.Context, dl events.DeadLetter) error {
		dead <- dl
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	publishCreated(t, tr, 1)
	select {
	case dl := <-dead:
		if !errors.Is(dl.Err, cause) || dl.DeliveryCount != 1 {
			t.Fatalf("dead letter = %+v, want the cause on the first delivery", dl)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a permanent failure was not dead-lettered")
	}
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
	if events.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
}

// String never panics, whatever the value: an unknown one names its type.
func TestEnumStrings(t *testing.T) {
	for got, want := range map[string]string{
		events.Acked.String():          "acked",
		events.Dropped.String():        "dropped",
		events.Redundant.String():      "redundant",
		events.Parked.String():         "parked",
		events.Outcome(200).String():   "Outcome(200)",
		events.OutOfOrder.String():     "out of order",
		events.Ordering(9).String():    "Ordering(9)",
		tickets.ChangeKind(7).String(): "ChangeKind(7)",
		tickets.Updated.String():       "updated",
	} {
		if got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// A dead letter whose dead-letter path can't succeed must still end: a
// permanent failure (a payload the broker refuses on the dead-letter
// subject) at once, any other after a few attempts, each logged at Error.
// Before, it stayed unacknowledged and came back every ack wait for ever.
func TestDeadLetterPathFailuresEnd(t *testing.T) {
	for name, hookErr := range map[string]error{
		"permanent": events.Permanent(errors.New("maximum payload exceeded")),
		"transient": errors.New("broker unavailable"),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tr := memtransport.New()
			t.Cleanup(func() { _ = tr.Close(ctx) })
			var logs syncBuf
			h := eventstest.NewHandled()
			var attempts atomic.Int64
			l, err := events.Listen(ctx, tr, "group", noop, events.AckWait(time.Second), events.WithHooks(h.Hooks()),
				events.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
				events.OnDeadLetter(func(context.Context, events.DeadLetter) error { attempts.Add(1); return hookErr }))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close(ctx) })
			if err := tr.Publish(ctx, events.Outgoing{Subject: string(eventstest.SubjectSample), Data: []byte(`{not json`)}); err != nil {
				t.Fatal(err)
			}
			h.Await(t, eventstest.SubjectSample, events.DeadLettered, 1)
			want := int64(1)
			if name == "transient" {
				want = 5
			}
			if n := attempts.Load(); n != want {
				t.Errorf("dead-letter hook ran %d times, want %d", n, want)
			}
			if !strings.Contains(logs.String(), "this log line is its only record") || !strings.Contains(logs.String(), `"sha256":`) {
				t.Errorf("no Error line recording the message: %s", logs.String())
			}
		})
	}
}

// syncBuf is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// An event refused as early (ErrOutOfOrder) is waited for, not failed:
// never dead-lettered by MaxDeliveries, reported as Deferred, and logged
// at Warn once it keeps coming back. The handler sees deliveries 1, 2 and
// 4 (the third comes within the backoff after the second refusal), so the
// Warn comes with the fourth.
func TestOutOfOrderIsDeferredNotDeadLettered(t *testing.T) {
	ctx := context.Background()
	tr := memtransport.New()
	t.Cleanup(func() { _ = tr.Close(ctx) })
	var logs syncBuf
	h := eventstest.NewHandled()
	l, err := events.Listen(ctx, tr, "group", func(context.Context, eventstest.Sample, events.Metadata) error {
		return fmt.Errorf("version 5, the replica holds 3: %w", events.ErrOutOfOrder)
	}, events.AckWait(time.Second), events.MaxDeliveries(2), events.WarnOutOfOrderAfter(2), events.WithHooks(h.Hooks()),
		events.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(ctx) })
	publishCreated(t, tr, 1)
	h.Await(t, eventstest.SubjectSample, events.Deferred, 4)
	if n := h.Count(eventstest.SubjectSample, events.DeadLettered); n != 0 {
		t.Fatalf("an early event was dead-lettered (%d) by MaxDeliveries", n)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"event arrived before its predecessor`) {
		t.Fatalf("no Warn after 2 deliveries: %s", logs.String())
	}
	if events.Deferred.String() != "deferred" {
		t.Errorf("Deferred.String() = %q", events.Deferred.String())
	}
}

// A dead letter republished on a transport that carries headers says
// where it came from and why; the hook gets the same facts.
func TestDeadLetterExplainsItself(t *testing.T) {
	ctx := context.Background()
	tr := memtransport.New()
	defer tr.Close(ctx)
	got := make(chan events.Message, 1)
	sub, err := tr.Subscribe(ctx, "dead.ticket:created", events.SubscribeOptions{DeliverAll: true, AckWait: time.Second, MaxInFlight: 1}, func(m events.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)
	hooked := make(chan events.DeadLetter, 1)
	l, err := events.Listen(ctx, tr, "g", func(context.Context, eventstest.Sample, events.Metadata) error { return nil },
		events.DeadLetterSubject("dead.ticket:created"),
		events.OnDeadLetter(func(_ context.Context, dl events.DeadLetter) error { hooked <- dl; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if err := tr.Publish(ctx, events.Outgoing{Subject: string(eventstest.SubjectSample), Data: []byte("not json"), Header: events.Header{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		h := m.Metadata().Header
		if string(m.Data()) != "not json" || h.Get(events.HeaderDeadSubject) != string(eventstest.SubjectSample) || h.Get(events.HeaderDeadSequence) != "1" ||
			h.Get(events.HeaderDeadDelivery) != "1" || !strings.Contains(h.Get(events.HeaderDeadError), "undecodable") || h.Get("traceparent") == "" {
			t.Fatalf("dead letter %q with headers %v", m.Data(), h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter")
	}
	dl := <-hooked
	if dl.Subject != string(eventstest.SubjectSample) || dl.Sequence != 1 || dl.DeliveryCount != 1 || !errors.Is(dl.Err, events.ErrDecode) {
		t.Fatalf("hook got %+v", dl)
	}
}
