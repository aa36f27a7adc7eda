// Package eventstest holds what a test of events code needs: Run, the
// conformance suite every events.Transport passes, and Recorder, which
// captures what a service published so a test can assert "this handler
// published TicketUpdated version 2" without a broker.
package eventstest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
)

// Recorder is a Transport that records every message its inner Transport
// acknowledged. Wrap the transport a service publishes through, real or in
// memory, and read back typed events with Published or Await.
type Recorder struct {
	events.Transport

	mu      sync.Mutex
	msgs    []events.Outgoing
	changed chan struct{} // closed and replaced on every record
}

// NewRecorder records what is published through inner; nil means a fresh
// in-memory transport.
func NewRecorder(inner events.Transport) *Recorder {
	if inner == nil {
		inner = memtransport.New()
	}
	return &Recorder{Transport: inner, changed: make(chan struct{})}
}

// Publish implements events.Transport.
func (r *Recorder) Publish(ctx context.Context, msg events.Outgoing) error {
	err := r.Transport.Publish(ctx, msg)
	if err == nil {
		r.record(msg)
	}
	return err
}

// PublishBatch implements events.Transport.
func (r *Recorder) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	errs := r.Transport.PublishBatch(ctx, msgs)
	for i, err := range errs {
		if err == nil {
			r.record(msgs[i])
		}
	}
	return errs
}

func (r *Recorder) record(msg events.Outgoing) {
	msg.Data = slices.Clone(msg.Data)
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Messages returns every acknowledged message so far, in publish order.
func (r *Recorder) Messages() []events.Outgoing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Changed returns a channel that is closed when the next message is
// recorded, for waiting on a condition over Messages without polling.
func (r *Recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = nil
}

// Published decodes the recorded messages on E's subject, in publish
// order. A message that doesn't decode fails t: a service must never
// publish one.
func Published[E events.Event](t testing.TB, r *Recorder) []E {
	t.Helper()
	var zero E
	var out []E
	for _, m := range r.Messages() {
		if m.Subject != string(zero.Subject()) {
			continue
		}
		e, err := events.Decode[E](m.Data)
		if err != nil {
			t.Fatalf("published %s does not decode: %v: %s", m.Subject, err, m.Data)
		}
		out = append(out, e)
	}
	return out
}

// AwaitTimeout bounds Await.
const AwaitTimeout = 10 * time.Second

// Await waits until an event of type E matching match has been published,
// and returns it; after AwaitTimeout it fails t. Use it where events are
// published asynchronously, as by an outbox relay.
func Await[E events.Event](t testing.TB, r *Recorder, match func(E) bool) E {
	t.Helper()
	deadline := time.After(AwaitTimeout)
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		for _, e := range Published[E](t, r) {
			if match(e) {
				return e
			}
		}
		select {
		case <-changed:
		case <-deadline:
			var zero E
			t.Fatalf("no matching %s published within %v; published: %d messages", zero.Subject(), AwaitTimeout, len(r.Messages()))
			return zero
		}
	}
}

// CarriesHeaders implements events.HeaderCarrier as the inner transport
// does.
func (r *Recorder) CarriesHeaders() bool { return events.CarriesHeaders(r.Transport) }
