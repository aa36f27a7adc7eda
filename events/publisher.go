package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ticketkit/ticketkit/internal/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// Hooks receive measurements, for wiring in a metrics library. Nil fields
// are skipped. They run on the hot path: keep them cheap.
type Hooks struct {
	// Published is called after each publish with the number of messages,
	// the time taken and the error, if any.
	Published func(subject Subject, n int, d time.Duration, err error)
	// Handled is called after each delivery is dealt with.
	Handled func(meta Metadata, d time.Duration, outcome Outcome)
}

// Outcome is what a Listener did with a delivery.
type Outcome uint8

const (
	Acked        Outcome = iota // the handler succeeded
	Failed                      // the handler returned an error: redelivery
	Panicked                    // the handler panicked: redelivery
	DeadLettered                // undecodable, or out of deliveries
	Dropped                     // arrived while closing: redelivery
	Deferred                    // the handler said ErrOutOfOrder (or did lately): redelivery, until MaxOutOfOrderDeliveries
	Redundant                   // a redelivery of a message the Listener had acknowledged: acknowledged again, no handler call
	Parked                      // still early on its MaxOutOfOrderDeliveries-th delivery: dead-lettered as a gap (ErrGap)
)

func (o Outcome) String() string {
	names := [...]string{"acked", "failed", "panicked", "dead-lettered", "dropped", "deferred", "redundant", "parked"}
	if int(o) < len(names) {
		return names[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Publisher publishes events of type E on E's subject.
type Publisher[E Event] struct {
	t       Transport
	subject Subject
	hooks   Hooks
	tracer  trace.Tracer
}

// NewPublisher returns a Publisher of E over t.
func NewPublisher[E Event](t Transport, opts ...PublisherOption) (*Publisher[E], error) {
	c, err := newConfig(publisherOptions(opts))
	if err != nil {
		return nil, err
	}
	var zero E
	return &Publisher[E]{t: t, subject: zero.Subject(), hooks: c.hooks, tracer: telemetry.Tracer(TracerName)}, nil
}

// Subject returns the subject the Publisher publishes on.
func (p *Publisher[E]) Subject() Subject { return p.subject }

// Publish publishes e and returns nil only once the broker acknowledged it.
// The message has no ID of its own (a deduplicating driver makes one for
// its own resends); use PublishWithID to make a re-publish of the same
// event, by this process or another, deduplicable.
func (p *Publisher[E]) Publish(ctx context.Context, e E) error {
	return p.PublishWithID(ctx, e, "")
}

// PublishWithID publishes e with the given message ID. Brokers that
// deduplicate (JetStream) drop a second message with the same ID.
func (p *Publisher[E]) PublishWithID(ctx context.Context, e E, id string) error {
	data, err := Encode(e)
	if err != nil {
		return err
	}
	// In the caller's trace, if it is in one: a producer span, whose
	// context the message carries (on transports with headers).
	var h Header
	var span trace.Span
	if trace.SpanContextFromContext(ctx).IsValid() || CorrelationID(ctx) != "" {
		hm, sp := telemetry.StartPublishSpan(ctx, p.tracer, string(p.subject), nil)
		h, span = Header(hm), sp
	}
	start := time.Now()
	err = p.t.Publish(ctx, Outgoing{Subject: string(p.subject), Data: data, ID: id, Header: h})
	if span != nil {
		telemetry.EndSpan(span, err)
	}
	if p.hooks.Published != nil {
		p.hooks.Published(p.subject, 1, time.Since(start), err)
	}
	if err != nil {
		return fmt.Errorf("events: publish %s: %w", p.subject, err)
	}
	return nil
}

// PublishBatch publishes es in order, pipelined where the transport can,
// and returns one error per event (nil where acknowledged).
func (p *Publisher[E]) PublishBatch(ctx context.Context, es []E) []error {
	msgs := make([]Outgoing, len(es))
	errs := make([]error, len(es))
	for i, e := range es {
		data, err := Encode(e)
		if err != nil {
			errs[i] = err
			continue
		}
		msgs[i] = Outgoing{Subject: string(p.subject), Data: data}
	}
	// The caller's trace context rides on every message of the batch (no
	// span per message: the batch is one operation of the caller's).
	if trace.SpanContextFromContext(ctx).IsValid() || CorrelationID(ctx) != "" {
		h := Header{}
		telemetry.Inject(ctx, h)
		for i := range msgs {
			msgs[i].Header = h
		}
	}
	return publishBatch(ctx, p.t, p.hooks, msgs, errs)
}

// publishBatch publishes the msgs whose errs entry is still nil, fills in
// errs, and reports to hooks once per subject in the batch.
func publishBatch(ctx context.Context, t Transport, hooks Hooks, msgs []Outgoing, errs []error) []error {
	// Usually every message encoded, and the batch goes out as it is.
	send, index := msgs, []int(nil)
	if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		send = make([]Outgoing, 0, len(msgs))
		index = make([]int, 0, len(msgs))
		for i, m := range msgs {
			if errs[i] == nil {
				send = append(send, m)
				index = append(index, i)
			}
		}
	}
	if len(send) == 0 {
		return errs
	}
	start := time.Now()
	results := t.PublishBatch(ctx, send)
	elapsed := time.Since(start)
	for j := range send {
		i := j
		if index != nil {
			i = index[j]
		}
		switch {
		case j >= len(results):
			errs[i] = fmt.Errorf("events: publish %s: the transport returned no result", send[j].Subject)
		case results[j] != nil:
			errs[i] = fmt.Errorf("events: publish %s: %w", send[j].Subject, results[j])
		}
	}
	if hooks.Published != nil {
		reportBatch(hooks, send, index, errs, elapsed)
	}
	return errs
}

func reportBatch(hooks Hooks, send []Outgoing, index []int, errs []error, elapsed time.Duration) {
	type tally struct {
		n   int
		err error
	}
	var order []Subject
	bySubject := make(map[Subject]*tally)
	for j, m := range send {
		s := Subject(m.Subject)
		t, ok := bySubject[s]
		if !ok {
			t = &tally{}
			bySubject[s] = t
			order = append(order, s)
		}
		t.n++
		if t.err == nil {
			i := j
			if index != nil {
				i = index[j]
			}
			t.err = errs[i]
		}
	}
	for _, s := range order {
		hooks.Published(s, bySubject[s].n, elapsed, bySubject[s].err)
	}
}

// Encode returns e's wire form: the JSON the Node services write.
func Encode(e Event) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", e.Subject(), err)
	}
	return data, nil
}
