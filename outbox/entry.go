package outbox

import (
	"errors"
	"time"

	"github.com/ticketkit/ticketkit/events"
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
	return events.Outgoing{Subject: e.Subject, Data: e.Data, ID: e.MessageID}
}
