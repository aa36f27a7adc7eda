package eventstest

import (
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
)

// Handled records what Listeners did with each delivery, so that a test
// waits until a message was acknowledged, retried or dead-lettered rather
// than sleeping: pass Hooks() to the Listeners (events.WithHooks), then
// Await. It is safe for concurrent use.
type Handled struct {
	mu      sync.Mutex
	list    []Delivery
	changed chan struct{}
}

// Delivery is one delivery as a Listener dealt with it.
type Delivery struct {
	Meta    events.Metadata
	Outcome events.Outcome
}

// NewHandled returns an empty Handled.
func NewHandled() *Handled { return &Handled{changed: make(chan struct{})} }

// Hooks returns the hooks that feed h; Handled.Hooks().Published is nil.
func (h *Handled) Hooks() events.Hooks {
	return events.Hooks{Handled: func(meta events.Metadata, _ time.Duration, outcome events.Outcome) {
		h.mu.Lock()
		h.list = append(h.list, Delivery{meta, outcome})
		close(h.changed)
		h.changed = make(chan struct{})
		h.mu.Unlock()
	}}
}

// Count returns how many deliveries on subject ended with outcome.
func (h *Handled) Count(subject events.Subject, outcome events.Outcome) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, d := range h.list {
		if d.Meta.Subject == string(subject) && d.Outcome == outcome {
			n++
		}
	}
	return n
}

// Deliveries returns every delivery recorded so far, in order.
func (h *Handled) Deliveries() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Delivery(nil), h.list...)
}

// Await waits until at least n deliveries on subject ended with outcome;
// after AwaitTimeout it fails t.
func (h *Handled) Await(t testing.TB, subject events.Subject, outcome events.Outcome, n int) {
	t.Helper()
	deadline := time.After(AwaitTimeout)
	for {
		h.mu.Lock()
		changed := h.changed
		h.mu.Unlock()
		if h.Count(subject, outcome) >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: %d deliveries %v within %v, want %d", subject, h.Count(subject, outcome), outcome, AwaitTimeout, n)
		}
	}
}
