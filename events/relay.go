package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ticketkit/ticketkit/tickets"
)

// Relay publishes the changes a Store recorded in its outbox and marks them
// published: the second half of the transactional outbox. Because the
// change was committed with the ticket, an event is published if and only
// if its change happened, whatever crashes in between (at least once:
// after a crash between publish and mark, the event goes out again with the
// same MessageID).
//
// A round reads up to BatchSize pending changes, publishes them as one
// batch and marks them with one MarkPublished call. A ticket's changes are
// published in version order. If one fails, that ticket's later changes in
// the same round are not marked, so they go out again after it; consumers
// order by version (CompareVersion) either way.
type Relay struct {
	outbox    tickets.Outbox
	transport Transport
	cfg       config
	mu        sync.Mutex // one round at a time, so Run and Flush never race
}

// NewRelay returns a Relay from outbox to t. BatchSize, PollInterval,
// Backoff, WithLogger and WithHooks apply.
func NewRelay(outbox tickets.Outbox, t Transport, opts ...Option) (*Relay, error) {
	cfg, err := newConfig(opts, forRelay)
	if err != nil {
		return nil, err
	}
	return &Relay{outbox: outbox, transport: t, cfg: cfg}, nil
}

// Run publishes until ctx is done, then returns nil. It wakes on every
// write through its Store, polls for others' writes, and backs off while
// the broker or the store fails; it never gives up on its own.
func (r *Relay) Run(ctx context.Context) error {
	backoff := r.cfg.minBackoff
	failing := false
	poll := time.NewTimer(r.cfg.pollInterval)
	defer poll.Stop()
	for {
		published, more, err := r.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.cfg.pollInterval
		switch {
		case err != nil:
			if !failing {
				r.cfg.logger.Warn("outbox relay: round failed; retrying with backoff", "error", err)
			}
			failing = true
			wait = rand.N(backoff) + backoff/2
			backoff = min(2*backoff, r.cfg.maxBackoff)
		case failing:
			r.cfg.logger.Info("outbox relay: publishing again", "published", published)
			failing = false
			backoff = r.cfg.minBackoff
		}
		if err == nil && more {
			continue
		}
		poll.Reset(wait)
		var wake <-chan struct{}
		if err == nil {
			wake = r.outbox.Wake() // a write doesn't mend a failing broker
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case <-wake:
		}
	}
}

// Flush publishes until the outbox is empty, retrying failures with
// backoff, and returns nil once it is; or ctx's error, wrapped, if ctx ends
// first. It is safe to call while Run runs: for a test that wants to see
// the events, or at shutdown after the last write.
func (r *Relay) Flush(ctx context.Context) error {
	backoff := r.cfg.minBackoff
	for {
		_, _, err := r.round(ctx)
		if err == nil {
			var pending []tickets.Change
			if pending, err = r.outbox.Pending(ctx, 1); err == nil {
				if len(pending) == 0 {
					return nil
				}
				backoff = r.cfg.minBackoff
				continue
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("events: flush outbox: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(rand.N(backoff) + backoff/2):
		}
		backoff = min(2*backoff, r.cfg.maxBackoff)
	}
}

// round publishes one batch of pending changes. more reports a full batch,
// so there may be more waiting.
func (r *Relay) round(ctx context.Context) (published int, more bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changes, err := r.outbox.Pending(ctx, r.cfg.batchSize)
	if err != nil {
		return 0, false, fmt.Errorf("events: read outbox: %w", err)
	}
	if len(changes) == 0 {
		return 0, false, nil
	}
	msgs := make([]Outgoing, len(changes))
	errs := make([]error, len(changes))
	var unpublishable []int
	for i, c := range changes {
		msgs[i], errs[i] = changeMessage(c)
		if errs[i] != nil {
			// A change without an event would block its ticket forever.
			r.cfg.logger.Error("outbox relay: dropping a change that has no event", "ticket", c.Ticket.ID, "version", c.Ticket.Version, "error", errs[i])
			unpublishable = append(unpublishable, i)
		}
	}
	errs = publishBatch(ctx, r.transport, r.cfg.hooks, msgs, errs)
	for _, i := range unpublishable {
		errs[i] = nil
	}

	// Mark each ticket up to the end of its run of successes, all of
	// them in one call: one write for the round, not one per ticket.
	var marks []tickets.Change // the last success of each ticket
	last := make(map[string]int)
	broken := make(map[string]bool)
	var failed []error
	for i, c := range changes {
		id := c.Ticket.ID
		if broken[id] {
			continue
		}
		if errs[i] != nil {
			broken[id] = true
			failed = append(failed, errs[i])
			continue
		}
		if j, ok := last[id]; ok {
			marks[j] = c // Pending gives a ticket's changes in version order
		} else {
			last[id] = len(marks)
			marks = append(marks, c)
		}
		published++
	}
	if len(marks) > 0 {
		if err := r.outbox.MarkPublished(ctx, marks); err != nil {
			return published, false, fmt.Errorf("events: mark the changes of %d tickets published: %w", len(marks), err)
		}
	}
	if len(failed) > 0 {
		return published, false, fmt.Errorf("events: %d of %d changes not published: %w", len(changes)-published, len(changes), errors.Join(failed...))
	}
	return published, len(changes) == r.cfg.batchSize, nil
}

func changeMessage(c tickets.Change) (Outgoing, error) {
	e, err := FromChange(c)
	if err != nil {
		return Outgoing{}, err
	}
	data, err := Encode(e)
	if err != nil {
		return Outgoing{}, err
	}
	return Outgoing{Subject: string(e.Subject()), Data: data, ID: MessageID(e.Subject(), c.Ticket.ID, c.Ticket.Version)}, nil
}
