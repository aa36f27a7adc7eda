package eventstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
)

func TestHandledAwaitsWhatAListenerDid(t *testing.T) {
	ctx := context.Background()
	tr := memtransport.New()
	t.Cleanup(func() { _ = tr.Close(ctx) })
	h := eventstest.NewHandled()
	id := ticketkit.NewID()
	l, err := events.Listen(ctx, tr, "g", func(_ context.Context, e eventstest.Sample, _ events.Metadata) error {
		if e.Version == 1 {
			return events.Permanent(errors.New("refused"))
		}
		return nil
	}, events.WithHooks(h.Hooks()), events.AckWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(ctx) })
	pub, err := events.NewPublisher[eventstest.Sample](tr)
	if err != nil {
		t.Fatal(err)
	}
	for v := range int64(2) {
		if err := pub.Publish(ctx, eventstest.Sample{ID: id, Title: "t", Price: 100, UserID: "u", Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	h.Await(t, eventstest.SubjectSample, events.Acked, 1)
	h.Await(t, eventstest.SubjectSample, events.DeadLettered, 1)
	if n := len(h.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries recorded, want 2", n)
	}
}
