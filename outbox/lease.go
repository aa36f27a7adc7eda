package outbox

// Leases and takeover: each Relay renews its writer's lease (beat), and
// watches the other writers' leases; a lease that stopped beating is
// claimed, its unsettled entries recovered and published by the claimant,
// and a writer whose entries are all settled is retired. The publishing
// rounds are in relay.go.

import (
	"context"
	"errors"
	"time"
)

// beatLoop renews the lease and watches the other writers until ctx ends.
func (r *Relay) beatLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.beatEvery)
	defer t.Stop()
	for {
		r.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// beat is one heartbeat: renew the lease with the horizon, take over dead
// writers, retire finished takeovers, and look up what only the store
// knows of this writer.
func (r *Relay) beat(ctx context.Context) {
	select {
	case r.beating <- struct{}{}:
		defer func() { <-r.beating }()
	case <-ctx.Done():
		return
	}
	r.q.mu.Lock()
	closed := r.q.closed
	r.q.mu.Unlock()
	if closed {
		return
	}
	began := time.Now()
	err := r.d.Beat(ctx, r.q.horizonNow())
	if err == nil {
		r.q.renew(began)
	}
	if r.logBeat(err) != nil {
		return
	}
	leases, err := r.d.Writers(ctx)
	if r.logBeat(err) != nil {
		return
	}
	r.watch(ctx, leases, time.Now())
	r.retireFinished(ctx)
	if r.q.due(time.Now()) {
		r.lookup(ctx)
	}
	// An outbox falling behind hides behind fast writes: say so, every
	// ten seconds at most, once the oldest entry is older than the TTL.
	if n, oldest := r.q.backlog(); n > 0 && time.Since(oldest) > r.q.ttl {
		r.backlogWarn.Do(func() {
			r.cfg.logger.Warn("outbox relay: events are waiting", "backlog", n, "oldest", time.Since(oldest).Round(time.Millisecond), "held", r.Stats().Held)
		})
	}
}

func (r *Relay) logBeat(err error) error {
	if err != nil && ctxDone(err) {
		return err
	}
	r.mu.Lock()
	was := r.beatFail
	r.beatFail = err != nil
	r.mu.Unlock()
	switch {
	case err != nil && !was:
		r.cfg.logger.Warn("outbox relay: cannot renew the writer's lease; writes stop after half the TTL", "writer", r.q.writer, "error", err)
	case err == nil && was:
		r.cfg.logger.Info("outbox relay: lease renewed again", "writer", r.q.writer)
	}
	return err
}

func ctxDone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// watch decides which writers are dead, claims them and recovers their
// entries. A writer is dead when its beat has not moved for the TTL on
// this Relay's own clock.
func (r *Relay) watch(ctx context.Context, leases []Lease, now time.Time) {
	ttl := r.q.ttl
	alive := make(map[string]bool, len(leases))
	r.mu.Lock()
	present := make(map[string]bool, len(leases))
	for _, l := range leases {
		present[l.Writer] = true
		s, ok := r.seen[l.Writer]
		if !ok || s.beat != l.Beat {
			r.seen[l.Writer] = seenBeat{beat: l.Beat, since: now}
			alive[l.Writer] = true
		} else if now.Sub(s.since) < ttl {
			alive[l.Writer] = true
		}
	}
	for w := range r.seen {
		if !present[w] {
			delete(r.seen, w)
		}
	}
	var dead []Lease
	for _, l := range leases {
		_, taking := r.takeovers[l.Writer]
		if l.Writer == r.q.writer || alive[l.Writer] || taking {
			continue
		}
		if l.ClaimedBy != "" && l.ClaimedBy != r.q.writer && alive[l.ClaimedBy] {
			continue
		}
		dead = append(dead, l)
	}
	r.mu.Unlock()

	for _, l := range dead {
		ok, err := r.d.Claim(ctx, l, r.q.writer)
		if err != nil || !ok {
			continue
		}
		es, err := r.d.Recover(ctx, l.Writer, l.Horizon)
		if err != nil {
			r.cfg.logger.Warn("outbox relay: could not read a dead writer's entries; trying again", "dead", l.Writer, "error", err)
			continue // still claimed by us; next beat sees it dead and claims again
		}
		t := &takeover{lease: l, remaining: make(map[uint64]bool, len(es))}
		items := make([]item, 0, len(es))
		for _, e := range sortEntries(es) {
			if e.Writer == l.Writer && e.Seq > l.Horizon && !t.remaining[e.Seq] {
				t.remaining[e.Seq] = true
				items = append(items, item{e: e})
			}
		}
		r.cfg.logger.Info("outbox relay: taking over a dead writer's entries", "dead", l.Writer, "horizon", l.Horizon, "entries", len(items))
		r.mu.Lock()
		r.takeovers[l.Writer] = t
		r.foreign = append(r.foreign, items...)
		r.mu.Unlock()
		r.q.notify()
	}
}

func (r *Relay) retireFinished(ctx context.Context) {
	r.mu.Lock()
	var finished []*takeover
	for _, t := range r.takeovers {
		if len(t.remaining) == 0 {
			finished = append(finished, t)
		}
	}
	r.mu.Unlock()
	for _, t := range finished {
		if _, err := r.d.Retire(ctx, t.lease); err != nil {
			continue
		}
		r.cfg.logger.Info("outbox relay: dead writer's entries published; lease retired", "dead", t.lease.Writer)
		r.mu.Lock()
		delete(r.takeovers, t.lease.Writer)
		r.mu.Unlock()
	}
}

// lookup reads this writer's entries above its horizon back from the
// store, for the writes the Queue could not hand over.
func (r *Relay) lookup(ctx context.Context) {
	es, err := r.d.Recover(ctx, r.q.writer, r.q.horizonNow())
	if err != nil {
		r.cfg.logger.Warn("outbox relay: could not read this writer's entries back", "error", err)
		return
	}
	queued, dropped := r.q.found(es, time.Now())
	if queued+dropped > 0 {
		r.cfg.logger.Info("outbox relay: read entries back from the store", "queued", queued, "never written", dropped)
		r.q.notify()
	}
}
