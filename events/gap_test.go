package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
)

// A consumer held at a permanent gap: an event whose predecessor never
// comes is handled on a backoff, then parked on the dead-letter subject
// on its MaxOutOfOrderDeliveries-th delivery, with a reason that says
// "gap", a Warn, and the Parked outcome; it is not delivered again.
// Before, it came back every ack wait for ever (issue 20, finding 9).
func TestPermanentGapIsParked(t *testing.T) {
	ctx := context.Background()
	tr := memtransport.New()
	t.Cleanup(func() { _ = tr.Close(ctx) })
	got := make(chan events.Message, 1)
	sub, err := tr.Subscribe(ctx, "dead.sample", events.SubscribeOptions{DeliverAll: true, AckWait: time.Second, MaxInFlight: 1}, func(m events.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close(ctx) })
	var logs syncBuf
	var calls atomic.Int32
	h := eventstest.NewHandled()
	l, err := events.Listen(ctx, tr, "group", func(context.Context, eventstest.Sample, events.Metadata) error {
		calls.Add(1)
		return fmt.Errorf("version 5, the replica holds 3: %w", events.ErrOutOfOrder)
	}, events.AckWait(time.Second), events.MaxOutOfOrderDeliveries(4), events.DeadLetterSubject("dead.sample"),
		events.WithHooks(h.Hooks()), events.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	publishCreated(t, tr, 1)

	select {
	case m := <-got:
		reason := m.Metadata().Header.Get(events.HeaderDeadError)
		if !strings.Contains(reason, "gap") || !strings.Contains(reason, "delivery 4") || m.Metadata().Header.Get(events.HeaderDeadSubject) != string(eventstest.SubjectSample) {
			t.Fatalf("parked with headers %v", m.Metadata().Header)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the early event was never parked")
	}
	h.Await(t, eventstest.SubjectSample, events.Parked, 1)
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"event parked as a gap`) {
		t.Errorf("no Warn: %s", logs.String())
	}
	if n := h.Count(eventstest.SubjectSample, events.DeadLettered); n != 0 {
		t.Errorf("%d dead-lettered, want the gap reported as parked only", n)
	}
	if n := calls.Load(); n == 0 || n > 4 {
		t.Errorf("the handler saw %d deliveries, want 1 to 4", n)
	}
	// The parked event is acknowledged: two ack waits later it has not
	// come back.
	time.Sleep(2500 * time.Millisecond)
	if n := len(h.Deliveries()); n != 4 {
		t.Errorf("%d deliveries, want 4: %+v", n, h.Deliveries())
	}
}

// A listener whose handler keeps failing makes no progress while a
// message waits: Stalled says so (ErrStalled) after StallAfter, with a
// Warn, and says nothing once a message is acknowledged again. An idle
// listener is not stalled.
func TestStalledListener(t *testing.T) {
	ctx := context.Background()
	tr := memtransport.New()
	t.Cleanup(func() { _ = tr.Close(ctx) })
	var logs syncBuf
	var failing atomic.Bool
	failing.Store(true)
	h := eventstest.NewHandled()
	l, err := events.Listen(ctx, tr, "group", func(context.Context, eventstest.Sample, events.Metadata) error {
		if failing.Load() {
			return errors.New("database unreachable")
		}
		return nil
	}, events.AckWait(time.Second), events.StallAfter(time.Second), events.WithHooks(h.Hooks()),
		events.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	if err := l.Stalled(); err != nil {
		t.Fatalf("an idle listener: %v", err)
	}
	publishCreated(t, tr, 1)
	// Stalled is read after a delivery a StallAfter past the first one.
	h.Await(t, eventstest.SubjectSample, events.Failed, 3)
	if err := l.Stalled(); !errors.Is(err, events.ErrStalled) {
		t.Fatalf("Stalled after 3 failed deliveries over 2 s: %v, want ErrStalled", err)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"listener stalled`) {
		t.Errorf("no Warn: %s", logs.String())
	}
	failing.Store(false)
	h.Await(t, eventstest.SubjectSample, events.Acked, 1)
	if err := l.Stalled(); err != nil {
		t.Errorf("after an ack: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"listener makes progress again"`) {
		t.Errorf("no word of the recovery: %s", logs.String())
	}
}
