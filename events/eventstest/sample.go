package eventstest

import (
	"errors"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
)

// The subjects of the suites' own events. They belong to no application,
// so a transport or an outbox is tested without any domain's contract.
const (
	SubjectSample        events.Subject = "sample:created"
	SubjectSampleUpdated events.Subject = "sample:updated"
)

// Sample is the event the conformance suites publish: an aggregate's
// first version, shaped like an application's creation event (an id, a
// version, a few fields) and validated like one, so that poison is
// dead-lettered.
type Sample struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Price   int64  `json:"price"`
	UserID  string `json:"userId"`
	Version int64  `json:"version"`
}

// SampleUpdated is a later version of a Sample's aggregate.
type SampleUpdated Sample

// Subject implements events.Event.
func (Sample) Subject() events.Subject { return SubjectSample }

// Subject implements events.Event.
func (SampleUpdated) Subject() events.Subject { return SubjectSampleUpdated }

// Validate is the check events.Decode runs: a 24-hex id, a version and a
// positive price.
func (e Sample) Validate() error {
	switch {
	case !ticketkit.ValidID(e.ID):
		return errors.New("id must be a 24-hex id")
	case e.Version < 0:
		return errors.New("version must not be negative")
	case e.Price <= 0:
		return errors.New("price must be greater than 0")
	}
	return nil
}

// Validate is the check events.Decode runs.
func (e SampleUpdated) Validate() error { return Sample(e).Validate() }
