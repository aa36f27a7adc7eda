package outbox

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors a Queue returns to the store writing through it.
var (
	// ErrLeaseExpired: the writer's lease was not renewed within half its
	// TTL (the database or the Relay is not keeping up), so another
	// instance may soon take its entries over; writing now could go
	// unnoticed by that takeover.
	ErrLeaseExpired = errors.New("outbox: the writer's lease has expired")
	// ErrClosed: the Relay of this Queue has closed.
	ErrClosed = errors.New("outbox: closed")
)

// Queue defaults.
const (
	DefaultTTL       = 5 * time.Second
	DefaultMaxQueued = 100_000
)

// Queue is one writer's side of the outbox: it numbers the entries the
// writer's store writes, hands the committed ones to the Relay in memory,
// and knows the writer's horizon. A store makes one per writer with
// NewQueue, right after creating the writer's lease, and calls Stamp
// before each write and then exactly one of Commit, Abandon or Unsure with
// the same entries. It is safe for concurrent use.
type Queue struct {
	writer    string
	ttl       time.Duration
	maxQueued int

	mu      sync.Mutex
	next    uint64               // the last sequence number reserved
	horizon uint64               // every seq <= horizon is settled
	open    map[uint64]time.Time // reserved and not settled, with the time reserved
	ready   []Entry              // committed, not yet taken by the Relay
	later   []Entry              // committed and delayed (Delay), by due time: not yet due
	sched   map[uint64]bool      // the seqs of later
	lookup  map[uint64]time.Time // only the store can tell: unsure writes, overflow
	valid   time.Time            // the lease fence: no Stamp after it
	refused uint64               // Stamps refused with ErrLeaseExpired
	closed  bool
	wake    chan struct{}
}

// QueueOption configures a Queue.
type QueueOption func(*Queue) error

// TTL sets how long a writer's heartbeat may stay still before another
// instance takes its entries over (DefaultTTL). The writer stops writing
// after half of it without a renewed lease. Every instance sharing a store
// should use the same TTL.
func TTL(d time.Duration) QueueOption {
	return func(q *Queue) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("outbox: TTL %v is under 10ms", d)
		}
		q.ttl = d
		return nil
	}
}

// MaxQueued bounds the committed entries held in memory for the Relay
// (DefaultMaxQueued). Past it, while the broker is down, entries are left
// in the database, and the Relay reads them back once it has caught up.
func MaxQueued(n int) QueueOption {
	return func(q *Queue) error {
		if n < 1 {
			return fmt.Errorf("outbox: MaxQueued %d is below 1", n)
		}
		q.maxQueued = n
		return nil
	}
}

// NewQueue returns the Queue of writer, whose lease the store has just
// created.
func NewQueue(writer string, opts ...QueueOption) (*Queue, error) {
	if writer == "" {
		return nil, errors.New("outbox: empty writer id")
	}
	q := &Queue{
		writer:    writer,
		ttl:       DefaultTTL,
		maxQueued: DefaultMaxQueued,
		open:      make(map[uint64]time.Time),
		lookup:    make(map[uint64]time.Time),
		sched:     make(map[uint64]bool),
		wake:      make(chan struct{}, 1),
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("outbox: nil QueueOption")
		}
		if err := o(q); err != nil {
			return nil, err
		}
	}
	q.valid = time.Now().Add(q.ttl / 2)
	return q, nil
}

// Writer returns the writer's id.
func (q *Queue) Writer() string { return q.writer }

// TTL returns the writer TTL (see the TTL option).
func (q *Queue) TTL() time.Duration { return q.ttl }

// Stamp reserves a sequence number for each entry and writes it, the
// writer and the time into es. It fails, reserving nothing, once the
// lease has expired or the Queue has closed. Deadline is when the
// write of es must be over: a store bounds the write by it, so that no
// write lands after another instance may have taken this one over.
func (q *Queue) Stamp(es []Entry) (deadline time.Time, err error) {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return time.Time{}, ErrClosed
	case now.After(q.valid):
		q.refused++
		return time.Time{}, ErrLeaseExpired
	}
	for i := range es {
		q.next++
		es[i].Writer, es[i].Seq, es[i].Time = q.writer, q.next, now
		q.open[q.next] = now
	}
	return q.valid, nil
}

// Commit hands entries whose write committed to the Relay.
func (q *Queue) Commit(es ...Entry) {
	if len(es) == 0 {
		return
	}
	q.mu.Lock()
	for _, e := range es {
		if _, ok := q.open[e.Seq]; !ok || e.Writer != q.writer {
			continue
		}
		if len(q.ready) >= q.maxQueued {
			q.lookup[e.Seq] = time.Time{} // look up at once, when there is room
			continue
		}
		q.queueLocked(e, time.Now())
	}
	q.mu.Unlock()
	q.notify()
}

// queueLocked hands committed entry e to the Relay: ready if it is due,
// else later, in due order; q.mu is held.
func (q *Queue) queueLocked(e Entry, now time.Time) {
	if e.Due(now) {
		q.ready = append(q.ready, e)
		return
	}
	i, _ := slices.BinarySearchFunc(q.later, e, func(a, b Entry) int { return a.NotBefore.Compare(b.NotBefore) })
	q.later = slices.Insert(q.later, i, e)
	q.sched[e.Seq] = true
}

// promoteLocked moves the delayed entries due at now to ready; they count
// in the backlog from their due time. q.mu is held.
func (q *Queue) promoteLocked(now time.Time) {
	n := 0
	for n < len(q.later) && q.later[n].Due(now) {
		e := q.later[n]
		delete(q.sched, e.Seq)
		if _, ok := q.open[e.Seq]; ok {
			q.open[e.Seq] = e.NotBefore
		}
		q.ready = append(q.ready, e)
		n++
	}
	if n > 0 {
		q.later = slices.Delete(q.later, 0, n)
	}
}

// nextDue returns when the first delayed entry is due, if there is one.
func (q *Queue) nextDue() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.later) == 0 {
		return time.Time{}, false
	}
	return q.later[0].NotBefore, true
}

// dropLater forgets the delayed entries not due yet, leaving them open
// (the horizon stays below them, so a takeover recovers them), and
// returns how many there were.
func (q *Queue) dropLater() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.later)
	q.later = nil
	return n
}

// scheduled returns how many delayed entries are not due yet.
func (q *Queue) scheduled() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.later)
}

// Abandon settles entries whose write certainly did not happen (a
// conflict, a duplicate key, a rejected document).
func (q *Queue) Abandon(es ...Entry) {
	q.mu.Lock()
	for _, e := range es {
		if e.Writer == q.writer {
			q.settleLocked(e.Seq)
		}
	}
	q.mu.Unlock()
	q.notify()
}

// Unsure records entries whose write may or may not have committed (a
// timeout, a dropped connection). After the TTL the Relay asks the store
// (Driver.Recover): what it finds is published, the rest settled.
func (q *Queue) Unsure(es ...Entry) {
	now := time.Now()
	q.mu.Lock()
	for _, e := range es {
		if _, ok := q.open[e.Seq]; ok && e.Writer == q.writer {
			q.lookup[e.Seq] = now
		}
	}
	q.mu.Unlock()
}

func (q *Queue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// settleLocked marks seq settled and moves the horizon; q.mu is held.
func (q *Queue) settleLocked(seq uint64) {
	delete(q.open, seq)
	delete(q.lookup, seq)
	for q.horizon < q.next {
		if _, open := q.open[q.horizon+1]; open {
			break
		}
		q.horizon++
	}
}

// Settled reports whether this writer's entry seq is settled (published,
// dead-lettered or never written), so that a store may drop it from its
// document.
func (q *Queue) Settled(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, open := q.open[seq]
	return seq <= q.next && !open
}

// The Relay's side.

// take removes and returns up to n ready entries in commit order, leaving
// in place those of aggregates for which held says so (their earlier
// entries wait for a retry).
func (q *Queue) take(n int, held func(aggregate string) bool) []Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.promoteLocked(time.Now())
	if len(q.ready) == 0 || n <= 0 {
		return nil
	}
	var out []Entry
	keep := q.ready[:0]
	for _, e := range q.ready {
		if len(out) < n && !held(e.Aggregate) {
			out = append(out, e)
		} else {
			keep = append(keep, e)
		}
	}
	clear(q.ready[len(keep):])
	q.ready = keep
	return out
}

func (q *Queue) settle(seqs ...uint64) {
	q.mu.Lock()
	for _, s := range seqs {
		q.settleLocked(s)
	}
	q.mu.Unlock()
}

// maxPending bounds Progress.Pending: past it, a beat records no list,
// and a takeover recovers everything above the horizon.
const maxPending = 10_000

// progressNow returns the writer's Progress.
func (q *Queue) progressNow() Progress {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := Progress{Horizon: q.horizon, Next: q.horizon}
	if len(q.open) > maxPending {
		return p
	}
	p.Next = q.next
	p.Pending = make([]uint64, 0, len(q.open))
	for seq := range q.open {
		p.Pending = append(p.Pending, seq)
	}
	slices.Sort(p.Pending)
	return p
}

// horizonNow returns the horizon.
func (q *Queue) horizonNow() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.horizon
}

// renew moves the lease fence after a successful beat that started at
// began.
func (q *Queue) renew(began time.Time) {
	q.mu.Lock()
	if v := began.Add(q.ttl / 2); v.After(q.valid) {
		q.valid = v
	}
	q.mu.Unlock()
}

// fence returns the lease fence, how many Stamps it refused so far, and
// whether the Queue has closed.
func (q *Queue) fence() (valid time.Time, refused uint64, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.valid, q.refused, q.closed
}

// due returns whether some lookup is due: an overflowed entry, once the
// ready queue has room again, or an unsure one after the TTL.
func (q *Queue) due(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, since := range q.lookup {
		if since.IsZero() && len(q.ready) < q.maxQueued/2 || !since.IsZero() && now.Sub(since) >= q.ttl {
			return true
		}
	}
	return false
}

// found takes what the store holds of this writer above the horizon:
// entries that were looked up are queued, and lookups that are due and
// not found are settled (an unsure write that did not happen).
func (q *Queue) found(es []Entry, now time.Time) (queued, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	have := make(map[uint64]bool, len(es))
	slices.SortFunc(es, func(a, b Entry) int { return cmpUint(a.Seq, b.Seq) })
	for _, e := range es {
		have[e.Seq] = true
		if _, ok := q.lookup[e.Seq]; ok && e.Writer == q.writer {
			delete(q.lookup, e.Seq)
			q.queueLocked(e, now)
			queued++
		}
	}
	for seq, since := range q.lookup {
		if !have[seq] && !since.IsZero() && now.Sub(since) >= q.ttl {
			q.settleLocked(seq)
			dropped++
		}
	}
	return queued, dropped
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// backlog returns how many entries are not settled and when the oldest
// was reserved (a delayed one: when it became due). Delayed entries not
// yet due are not part of it: they are not late.
func (q *Queue) backlog() (n int, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.open) == len(q.sched) {
		return 0, time.Time{}
	}
	if len(q.sched) == 0 {
		return len(q.open), q.open[q.horizon+1]
	}
	for seq, t := range q.open {
		if !q.sched[seq] && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	return len(q.open) - len(q.sched), oldest
}

func (q *Queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}
