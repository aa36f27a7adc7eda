package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/telemetry"
)

// The Relay and its publishing rounds: collect what is due, publish it in
// one batch, settle what the broker acknowledged, dead-letter what it
// never will. Leases and takeover are in lease.go.

// Relay publishes a writer's committed entries on a transport, renews the
// writer's lease, and takes over the entries of dead writers sharing its
// store. See the package documentation. Run it for as long as the process
// writes; Flush and Close at shutdown.
type Relay struct {
	d   Driver
	q   *Queue
	t   events.Transport
	cfg relayConfig

	// beating has a slot per beat that may be in flight; Close takes
	// them all, so that its retirement of the lease comes after the last
	// beat, never before it (a later beat would create it again).
	beating     chan struct{}
	backlogWarn rate.Sometimes // at most every 10s
	watchWarn   rate.Sometimes // at most every 10s

	// turn is held by the one round running, Run's or Flush's; it is
	// taken with a select on the caller's ctx, so that a round stuck on a
	// broker never holds a Flush past its deadline.
	turn chan struct{}

	mu        sync.Mutex
	held      map[string]*chain // aggregate → entries waiting for a retry
	foreign   []item            // recovered entries of dead writers
	takeovers map[string]*takeover
	seen      map[string]seenBeat
	progress  chan struct{} // closed and replaced when anything settles
	failing   bool          // the last round published nothing and failed
	okCount   uint64        // entries published, for telling a poison entry from an outage
	beatFail  bool

	// The renewals, for the log line of a lapse (see checkLapse).
	lastBeat     time.Duration // how long the last beat took
	lastBeatErr  error         // its error
	flying       []time.Time   // when the beats in flight were sent
	lapseStart   time.Time     // when the current lapse began; zero while the lease is valid
	lapseRefused uint64        // the Queue's refusals when it began
	lapses       uint64

	published, deadLettered atomic.Uint64
	metrics                 relayMetrics
	tracer                  trace.Tracer
}

// item is an entry on its way, with the failures counted against it.
type item struct {
	e        Entry
	attempts int    // failed publishes
	strikes  int    // failed publishes that count towards MaxAttempts
	okSeen   uint64 // the Relay's okCount at the last attempt
}

// chain is an aggregate's entries held back behind a failed one, which
// is first; they go out again, in order, once it is due.
type chain struct {
	items []item
	due   time.Time
}

type takeover struct {
	lease     Lease
	remaining map[uint64]bool
}

type seenBeat struct {
	beat  int64
	since time.Time
}

// NewRelay returns a Relay of d's writer publishing to t.
func NewRelay(d Driver, t events.Transport, opts ...RelayOption) (*Relay, error) {
	if d == nil || d.Queue() == nil || t == nil {
		return nil, errors.New("outbox: NewRelay needs a driver with a queue and a transport")
	}
	cfg, err := newRelayConfig(d.Queue(), opts)
	if err != nil {
		return nil, err
	}
	r := &Relay{
		d: d, q: d.Queue(), t: t, cfg: cfg,
		turn:        make(chan struct{}, 1),
		beating:     make(chan struct{}, beatSlots(d.Queue().TTL(), cfg.beatEvery)),
		held:        make(map[string]*chain),
		takeovers:   make(map[string]*takeover),
		seen:        make(map[string]seenBeat),
		progress:    make(chan struct{}),
		backlogWarn: rate.Sometimes{Interval: 10 * time.Second},
		watchWarn:   rate.Sometimes{Interval: 10 * time.Second},
	}
	r.metrics = newRelayMetrics(r)
	r.tracer = telemetry.Tracer(TracerName)
	return r, nil
}

// beatSlots is how many beats may be in flight: those sent within half
// the TTL (a beat is given up after that), and one more.
func beatSlots(ttl, every time.Duration) int {
	return int((ttl/2+every-1)/every) + 1
}

// Stats is a Relay's backlog, for readiness checks, logs and metrics.
type Stats struct {
	// Backlog counts this writer's entries not yet settled: committed and
	// unpublished, being written, or being looked up.
	Backlog int
	// Oldest is the age of the oldest of them, 0 when there are none.
	Oldest time.Duration
	// Held counts entries waiting for a retry after a failed publish.
	Held int
	// Recovering counts entries of dead writers being published.
	Recovering int
	// Delayed counts delayed entries (Delay) not yet due, this writer's
	// and those taken over: they are in none of the other counts.
	Delayed int
	// Published and DeadLettered count since the Relay was made.
	Published, DeadLettered uint64
	// Lapses counts the times the writer's lease lapsed (no beat
	// confirmed within half the TTL), and Refused the writes the Queue
	// refused with ErrLeaseExpired, since the Relay was made.
	Lapses, Refused uint64
}

// Stats returns the Relay's current figures.
func (r *Relay) Stats() Stats {
	n, oldest := r.q.backlog()
	s := Stats{Backlog: n, Published: r.published.Load(), DeadLettered: r.deadLettered.Load()}
	if !oldest.IsZero() {
		s.Oldest = time.Since(oldest)
	}
	_, s.Refused, _ = r.q.fence()
	s.Delayed = r.waiting()
	r.mu.Lock()
	s.Lapses = r.lapses
	for _, c := range r.held {
		s.Held += len(c.items)
	}
	s.Recovering = len(r.foreign)
	for _, t := range r.takeovers {
		s.Recovering += len(t.remaining)
	}
	r.mu.Unlock()
	return s
}

// Run publishes until ctx is done, then returns nil. It never gives up on
// its own: failures are retried with backoff and logged.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { r.renewLoop(ctx) })
	wg.Go(func() { r.watchLoop(ctx) })
	defer wg.Wait()

	backoff := r.cfg.minBackoff
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n, failed := r.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Hour
		switch {
		case failed:
			wait = jitter(backoff)
			backoff = min(2*backoff, r.cfg.maxBackoff)
		case n > 0:
			backoff = r.cfg.minBackoff
			continue
		default:
			backoff = r.cfg.minBackoff
			if d, ok := r.nextDue(); ok {
				wait = max(time.Until(d), time.Millisecond)
			}
			if d, ok := r.q.nextDue(); ok {
				wait = min(wait, max(time.Until(d), time.Millisecond))
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-r.q.wake:
		case <-timer.C:
		}
	}
}

func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d) }

// Flush publishes until this writer has nothing unsettled and no recovered
// entry is left, then returns nil; or, when ctx ends first, an error
// wrapping ctx's. It works whether Run runs or not, and returns by ctx's
// deadline even while a round is stuck on the broker.
func (r *Relay) Flush(ctx context.Context) error {
	for {
		if r.idle() {
			return nil
		}
		// The round runs apart: a transport that ignores ctx must not
		// keep Flush past its deadline.
		result := make(chan int, 1)
		go func() {
			n, _ := r.round(ctx)
			result <- n
		}()
		var n int
		select {
		case n = <-result:
		case <-ctx.Done():
			return r.flushErr(ctx)
		}
		// An unsure write (Queue.Unsure) is looked up once its TTL has
		// passed: here too, as a closing Relay's beats no longer do it.
		if r.q.due(time.Now()) {
			r.lookup(ctx)
		}
		if r.idle() {
			return nil
		}
		r.mu.Lock()
		progress := r.progress
		r.mu.Unlock()
		wait := 100 * time.Millisecond
		if n > 0 {
			wait = 0
		} else if d, ok := r.nextDue(); ok {
			wait = min(wait, max(time.Until(d), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return r.flushErr(ctx)
		case <-progress:
		case <-time.After(wait):
		}
	}
}

func (r *Relay) flushErr(ctx context.Context) error {
	s := r.Stats()
	return fmt.Errorf("outbox: flush: %w (%d entries unsettled, the oldest %v old)", ctx.Err(), s.Backlog, s.Oldest.Round(time.Millisecond))
}

// Close stops this writer from writing, flushes (see Flush), and retires
// its lease when everything is settled, so that no other instance needs
// to take it over. Stop Run before or after; it returns by ctx's deadline.
func (r *Relay) Close(ctx context.Context) error {
	r.q.close()
	defer r.metrics.close()
	if err := r.Flush(ctx); err != nil {
		return err
	}
	// Every beat slot: the beats in flight return first, and those
	// after this see the Queue closed.
	for range cap(r.beating) {
		select {
		case r.beating <- struct{}{}:
			defer func() { <-r.beating }()
		case <-ctx.Done():
			return fmt.Errorf("outbox: close: %w", ctx.Err())
		}
	}
	// Delayed entries not yet due stay in the store: the lease is left
	// to go stale, and another instance takes them over, as a dead
	// writer's, and publishes them at their time.
	if n := r.leaveDelayed(); n > 0 {
		// A last beat records exactly what is left, so that the takeover
		// publishes only that, and releases the lease, so that it comes
		// at once rather than after the TTL.
		p := r.q.progressNow()
		p.Released = true
		if err := r.d.Beat(ctx, p); err != nil {
			r.cfg.logger.Warn("outbox relay: the last beat failed; a takeover may publish some entries again", "writer", r.q.writer, "error", err)
		}
		r.cfg.logger.Info("outbox relay: delayed events left for another instance to publish at their time", "writer", r.q.writer, "delayed", n)
		return nil
	}
	leases, err := r.d.Writers(ctx)
	if err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	for _, l := range leases {
		if l.Writer == r.q.writer {
			if _, err := r.d.Retire(ctx, l); err != nil {
				return fmt.Errorf("outbox: close: retire the lease: %w", err)
			}
		}
	}
	return nil
}

// leaveDelayed drops the delayed entries this Relay holds that are not
// due, its own and those it took over, so that it never publishes them
// after Close: they are another instance's once this writer's lease goes
// stale. It returns how many it dropped.
func (r *Relay) leaveDelayed() int {
	n := r.q.dropLater()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.foreign[:0]
	for _, it := range r.foreign {
		if it.e.Due(now) {
			keep = append(keep, it)
		} else {
			n++
		}
	}
	clear(r.foreign[len(keep):])
	r.foreign = keep
	return n
}

// waiting counts the delayed entries this Relay holds that are not due:
// its own and those it took over.
func (r *Relay) waiting() int {
	n := r.q.scheduled()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range r.foreign {
		if !it.e.Due(now) {
			n++
		}
	}
	return n
}

func (r *Relay) idle() bool {
	if n, _ := r.q.backlog(); n > 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.held) > 0 {
		return false
	}
	now := time.Now()
	for _, it := range r.foreign {
		if it.e.Due(now) {
			return false
		}
	}
	return true
}

func (r *Relay) nextDue() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	for _, c := range r.held {
		if next.IsZero() || c.due.Before(next) {
			next = c.due
		}
	}
	for _, it := range r.foreign {
		if nb := it.e.NotBefore; !nb.IsZero() && (next.IsZero() || nb.Before(next)) {
			next = nb
		}
	}
	return next, !next.IsZero()
}

// round publishes one batch. It reports how many entries settled and
// whether the batch failed as a whole.
func (r *Relay) round(ctx context.Context) (settled int, failed bool) {
	select {
	case r.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, false
	}
	defer func() { <-r.turn }()

	batch := r.collect(time.Now())
	if len(batch) == 0 {
		return 0, false
	}
	msgs := make([]events.Outgoing, len(batch))
	var spans []trace.Span
	for i, it := range batch {
		msgs[i] = it.e.Outgoing()
		if len(it.e.Header) == 0 {
			continue // written outside any trace: nothing to continue
		}
		// A producer span in the trace of the request that wrote the
		// entry, seconds ago and maybe on another instance.
		if spans == nil {
			spans = make([]trace.Span, len(batch))
		}
		hm, span := telemetry.StartPublishSpan(telemetry.Extract(context.Background(), it.e.Header), r.tracer, it.e.Subject, it.e.Header)
		msgs[i].Header, spans[i] = events.Header(hm), span
	}
	start := time.Now()
	errs := r.t.PublishBatch(ctx, msgs)
	r.metrics.published(time.Since(start), errs)
	for i, span := range spans {
		if span != nil {
			var err error
			if i < len(errs) {
				err = errs[i]
			}
			telemetry.EndSpan(span, err)
		}
	}
	return r.settleBatch(ctx, batch, errs)
}

// collect takes the next batch: the held chains that are due, recovered
// entries, then fresh ones. A batch holds at most one entry per
// aggregate, and none of an aggregate held back, so that one relay
// publishes each aggregate's events in version order even when some fail.
func (r *Relay) collect(now time.Time) []item {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.cfg.batchSize
	var batch []item
	in := make(map[string]bool)
	for agg, c := range r.held {
		if len(batch) >= n {
			break
		}
		if now.Before(c.due) {
			continue
		}
		batch = append(batch, c.items[0])
		in[agg] = true
		if c.items = c.items[1:]; len(c.items) == 0 {
			delete(r.held, agg)
		}
	}
	free := func(agg string) bool {
		_, held := r.held[agg]
		if held || in[agg] {
			return false
		}
		in[agg] = true
		return true
	}
	keep := r.foreign[:0]
	for _, it := range r.foreign {
		if len(batch) < n && it.e.Due(now) && free(it.e.Aggregate) {
			batch = append(batch, it)
		} else {
			keep = append(keep, it)
		}
	}
	clear(r.foreign[len(keep):])
	r.foreign = keep
	for _, e := range r.q.take(n-len(batch), func(agg string) bool { return !free(agg) }) {
		batch = append(batch, item{e: e, okSeen: r.okCount})
	}
	return batch
}

// settleBatch records the fate of each entry of a published batch.
func (r *Relay) settleBatch(ctx context.Context, batch []item, errs []error) (settled int, failed bool) {
	now := time.Now()
	errOf := func(i int) error {
		if i >= len(errs) {
			return errors.New("outbox: the transport returned no result")
		}
		return errs[i]
	}
	anyOK := false
	for i := range batch {
		if errOf(i) == nil {
			anyOK = true
			break
		}
	}
	broken := make(map[string]*chain)
	var done []item
	type dead struct {
		it  item
		err error
	}
	var deadLetters []dead
	var firstErr error
	for i, it := range batch {
		if c, ok := broken[it.e.Aggregate]; ok {
			// After a failure of its aggregate: goes again, after it.
			it.attempts, it.strikes = 0, 0
			c.items = append(c.items, it)
			continue
		}
		err := errOf(i)
		if err == nil {
			done = append(done, it)
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		it.attempts++
		r.mu.Lock()
		othersWent := r.okCount > it.okSeen
		it.okSeen = r.okCount
		r.mu.Unlock()
		if anyOK || othersWent || events.IsPermanent(err) {
			it.strikes++
		}
		if it.strikes >= r.cfg.maxAttempts || events.IsPermanent(err) {
			deadLetters = append(deadLetters, dead{it, err})
			continue
		}
		backoff := r.cfg.minBackoff << min(it.attempts-1, 20)
		broken[it.e.Aggregate] = &chain{items: []item{it}, due: now.Add(jitter(min(backoff, r.cfg.maxBackoff)))}
	}

	for _, d := range deadLetters {
		if err := r.deadLetter(ctx, d.it.e, d.err); err != nil {
			// Not recorded: keep it, and try again later.
			d.it.strikes--
			broken[d.it.e.Aggregate] = &chain{items: append([]item{d.it}, chainItems(broken[d.it.e.Aggregate])...), due: now.Add(r.cfg.maxBackoff)}
			continue
		}
		done = append(done, d.it)
	}

	r.mu.Lock()
	for agg, c := range broken {
		if old, ok := r.held[agg]; ok {
			old.items = append(old.items, c.items...)
		} else {
			r.held[agg] = c
		}
	}
	wasFailing := r.failing
	r.failing = !anyOK && firstErr != nil
	r.mu.Unlock()

	switch {
	case r.failing && !wasFailing:
		r.cfg.logger.Warn("outbox relay: publishing fails; retrying with backoff", "error", firstErr)
	case !r.failing && wasFailing && anyOK:
		r.cfg.logger.Info("outbox relay: publishing again")
	}
	r.settle(done)
	return len(done), r.failing
}

func chainItems(c *chain) []item {
	if c == nil {
		return nil
	}
	return c.items
}

func (r *Relay) deadLetter(ctx context.Context, e Entry, cause error) error {
	if err := r.d.DeadLetter(context.WithoutCancel(ctx), e, cause); err != nil {
		r.cfg.logger.Error("outbox relay: could not record a dead letter; keeping the entry", "aggregate", e.Aggregate, "version", e.Version, "subject", e.Subject, "error", err)
		return err
	}
	r.deadLettered.Add(1)
	r.cfg.logger.Error("outbox relay: dead-lettered an entry that could not be published",
		"aggregate", e.Aggregate, "version", e.Version, "subject", e.Subject, "messageId", e.MessageID,
		"writer", e.Writer, "seq", e.Seq, "bytes", len(e.Data), "error", cause)
	if r.cfg.onDeadLetter != nil {
		r.cfg.onDeadLetter(ctx, e, cause)
	}
	return nil
}

// settle records entries as done: this writer's move its horizon, a dead
// writer's count down its takeover.
func (r *Relay) settle(items []item) {
	if len(items) == 0 {
		return
	}
	var own []uint64
	r.mu.Lock()
	r.okCount += uint64(len(items))
	for _, it := range items {
		if it.e.Writer == r.q.writer {
			own = append(own, it.e.Seq)
		} else if t, ok := r.takeovers[it.e.Writer]; ok {
			delete(t.remaining, it.e.Seq)
		}
	}
	close(r.progress)
	r.progress = make(chan struct{})
	r.mu.Unlock()
	// Counted before they settle: a Flush that returns once they have
	// must find them in Stats.
	r.published.Add(uint64(len(items)))
	r.q.settle(own...)
}

// sortEntries orders entries by aggregate, then version, so a recovered
// aggregate's events go out in order.
func sortEntries(es []Entry) []Entry {
	slices.SortFunc(es, func(a, b Entry) int {
		switch {
		case a.Aggregate != b.Aggregate:
			if a.Aggregate < b.Aggregate {
				return -1
			}
			return 1
		case a.Version != b.Version:
			if a.Version < b.Version {
				return -1
			}
			return 1
		}
		return cmpUint(a.Seq, b.Seq)
	})
	return es
}
