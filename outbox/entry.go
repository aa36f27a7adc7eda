package outbox

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/telemetry"
)

// Entry is one event waiting to be published, as a store keeps it beside
// the change that caused it.
type Entry struct {
	// Aggregate is the id of the document whose change this is, and
	// Version its version after the change.
	Aggregate string
	Version   int64

	// Subject, Data and MessageID are the message, encoded when the change
	// was written.
	Subject   string
	Data      []byte
	MessageID string

	// Writer and Seq are stamped by the store (see Queue): the writer that
	// wrote the entry and its place in that writer's sequence.
	Writer string
	Seq    uint64
	// Time is when the writer reserved Seq, by its own clock.
	Time time.Time

	// Header is what Capture took from the writing request's context:
	// its trace context and correlation id, for the relay to publish the
	// entry in that trace. Nil when there was none.
	Header events.Header

	// NotBefore is when a delayed entry (Delay) is due: the Relay
	// publishes it then, not before. Zero for an entry due at once.
	NotBefore time.Time
}

// Due reports whether e may be published at now.
func (e Entry) Due(now time.Time) bool { return !now.Before(e.NotBefore) }

// Delay returns e to be published at at rather than at once: a store's
// write records it with the change, in the same single-document write,
// and whichever Relay holds it publishes it at its time, within a second
// (see the package documentation). It is how a service schedules an
// event for later (the expiration service's expiration:complete) with no
// scheduler of its own: a restart or a dead instance loses nothing, as
// for any entry.
func Delay(e events.Event, at time.Time) events.Event {
	if e == nil {
		return nil
	}
	return delayed{Event: e, at: at}
}

// delayed is an event with its due time, which NewEntry takes apart.
type delayed struct {
	events.Event
	at time.Time
}

// TracerName is the instrumentation scope of the relay's spans.
const TracerName = "github.com/ticketkit/ticketkit/outbox"

// Capture stores ctx's trace context and correlation id in es, as a store
// does when it writes them: the relay's publish, later and maybe from
// another instance, continues that trace. Without either it stores
// nothing, and costs next to nothing.
func Capture(ctx context.Context, es []Entry) {
	if !trace.SpanContextFromContext(ctx).IsValid() && events.CorrelationID(ctx) == "" {
		return
	}
	h := events.Header{}
	telemetry.Inject(ctx, h)
	for i := range es {
		es[i].Header = h.Clone()
	}
}

// ErrNoEvent is wrapped by NewEntry's error for a nil event.
var ErrNoEvent = errors.New("outbox: no event")

// NewEntry encodes e as the entry for version of aggregate. Its MessageID
// is events.MessageID of the three, so every publish of it, by any relay,
// deduplicates on JetStream.
func NewEntry(aggregate string, version int64, e events.Event) (Entry, error) {
	if e == nil {
		return Entry{}, ErrNoEvent
	}
	var notBefore time.Time
	if d, ok := e.(delayed); ok {
		e, notBefore = d.Event, d.at.UTC().Truncate(time.Millisecond)
	}
	data, err := events.Encode(e)
	if err != nil {
		return Entry{}, err
	}
	s := e.Subject()
	return Entry{
		Aggregate: aggregate,
		Version:   version,
		Subject:   string(s),
		Data:      data,
		MessageID: events.MessageID(s, aggregate, version),
		NotBefore: notBefore,
	}, nil
}

// NewEntries is NewEntry for each of es.
func NewEntries(aggregate string, version int64, es ...events.Event) ([]Entry, error) {
	out := make([]Entry, len(es))
	for i, e := range es {
		var err error
		if out[i], err = NewEntry(aggregate, version, e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Outgoing is the entry as a transport publishes it.
func (e Entry) Outgoing() events.Outgoing {
	return events.Outgoing{Subject: e.Subject, Data: e.Data, ID: e.MessageID, Header: e.Header}
}
