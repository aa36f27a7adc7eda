package outbox

// Leases and takeover: each Relay renews its writer's lease (beat), and
// watches the other writers' leases; a lease that stopped beating is
// claimed, its unsettled entries recovered and published by the claimant,
// and a writer whose entries are all settled is retired. The publishing
// rounds are in relay.go.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// renewLoop renews the lease every beat interval until ctx ends. A
// beat doesn't wait for the one before it to return: on a database that
// answers in seconds, serial beats would space the renewals by a round
// trip each, and the fence (half the TTL from the start of the last
// beat that returned) would lapse whenever a round trip took over a
// quarter of the TTL. Beats in flight are bounded by the slots of
// r.beating, and each by half the TTL, after which it can no longer
// move the fence. Watching the other writers is another loop
// (watchLoop), so its reads never delay a renewal either.
func (r *Relay) renewLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.beatEvery)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		r.checkLapse(time.Now())
		select {
		case r.beating <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-r.beating }()
			r.renew(ctx)
		}()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renew is one beat: it renews the lease with the horizon and, when the
// store confirms it, moves the fence to half the TTL after the beat was
// sent. The caller holds a slot of r.beating.
func (r *Relay) renew(ctx context.Context) {
	r.q.mu.Lock()
	closed := r.q.closed
	r.q.mu.Unlock()
	if closed {
		return
	}
	began := time.Now()
	r.inFlight(began, true)
	defer r.inFlight(began, false)
	// A beat returning later than half the TTL after it was sent can't
	// move the fence: give up on it then, and say so.
	bctx, cancel := context.WithDeadline(ctx, began.Add(r.q.ttl/2))
	err := r.d.Beat(bctx, r.q.progressNow())
	cancel()
	took := time.Since(began)
	if ctx.Err() != nil {
		return // stopping: not a failure of the store
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("the beat took over half the writer TTL (%v): %w", r.q.ttl/2, err)
	}
	r.metrics.beat(took, err)
	if err == nil {
		r.q.renew(began)
	}
	r.mu.Lock()
	r.lastBeat, r.lastBeatErr = took, err
	was := r.beatFail
	r.beatFail = err != nil
	r.mu.Unlock()
	switch {
	case err != nil && !was:
		r.cfg.logger.Warn("outbox relay: cannot renew the writer's lease; writes stop after half the TTL", "writer", r.q.writer, "took", took.Round(time.Millisecond), "error", err)
	case err == nil && was:
		r.cfg.logger.Info("outbox relay: lease renewed again", "writer", r.q.writer, "took", took.Round(time.Millisecond))
	}
	r.checkLapse(time.Now())
}

// inFlight records a beat sent at began as in flight, or no longer.
func (r *Relay) inFlight(began time.Time, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.flying = append(r.flying, began)
	} else if i := slices.Index(r.flying, began); i >= 0 {
		r.flying = slices.Delete(r.flying, i, i+1)
	}
}

// checkLapse logs, once per lapse, that the fence has passed, with what
// the beats were doing: the last one's latency or error, and how long
// the oldest in flight has been waiting. It logs at Info when the lease
// is renewed after a lapse, with the writes refused meanwhile.
func (r *Relay) checkLapse(now time.Time) {
	valid, refused, closed := r.q.fence()
	if closed {
		return // no renewals any more, by design
	}
	r.mu.Lock()
	lapsed := now.After(valid)
	var warn, info []any
	switch {
	case lapsed && r.lapseStart.IsZero():
		r.lapseStart, r.lapseRefused = valid, refused
		r.lapses++
		warn = []any{"writer", r.q.writer, "sinceLastRenewal", now.Sub(valid.Add(-r.q.ttl / 2)).Round(time.Millisecond), "ttl", r.q.ttl,
			"lastBeatTook", r.lastBeat.Round(time.Millisecond), "beatsInFlight", len(r.flying)}
		if len(r.flying) > 0 {
			warn = append(warn, "oldestInFlight", now.Sub(slices.MinFunc(r.flying, time.Time.Compare)).Round(time.Millisecond))
		}
		if r.lastBeatErr != nil {
			warn = append(warn, "error", r.lastBeatErr)
		}
	case !lapsed && !r.lapseStart.IsZero():
		info = []any{"writer", r.q.writer, "lapsed", now.Sub(r.lapseStart).Round(time.Millisecond), "refused", refused - r.lapseRefused}
		r.lapseStart = time.Time{}
	}
	r.mu.Unlock()
	switch {
	case warn != nil:
		r.cfg.logger.Warn("outbox relay: the writer's lease lapsed; writes are refused until a beat returns within half the TTL", warn...)
	case info != nil:
		r.cfg.logger.Info("outbox relay: the writer's lease is valid again", info...)
	}
}

// watchLoop watches the other writers, every beat interval, until ctx
// ends.
func (r *Relay) watchLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.beatEvery)
	defer t.Stop()
	for {
		r.look(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// look takes over dead writers, retires finished takeovers, and looks up
// what only the store knows of this writer.
func (r *Relay) look(ctx context.Context) {
	leases, err := r.d.Writers(ctx)
	if err != nil {
		if !ctxDone(err) {
			r.watchWarn.Do(func() {
				r.cfg.logger.Warn("outbox relay: cannot read the writers' leases", "error", err)
			})
		}
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
		switch {
		case l.Released: // closed, leaving delayed entries: take them now
		case !ok || s.beat != l.Beat:
			r.seen[l.Writer] = seenBeat{beat: l.Beat, since: now}
			alive[l.Writer] = true
		case now.Sub(s.since) < ttl:
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
			if e.Writer == l.Writer && l.Unsettled(e.Seq) && !t.remaining[e.Seq] {
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
