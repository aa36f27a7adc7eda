package outbox

import (
	"context"
	"slices"
)

// Driver is an outbox store as a Relay drives it: one writer's Queue, and
// the leases through which the instances sharing the store coordinate.
// Implementations: memstore (in memory) and mongostore (MongoDB); the
// conformance suite in outboxtest is what each passes.
//
// All of it is off the hot path: Beat and Writers run once per beat, the
// others only when a writer has died, a write's outcome was unknown, or
// the Queue overflowed.
type Driver interface {
	// Queue returns the writer's Queue, through which its store's
	// committed entries arrive.
	Queue() *Queue

	// Beat renews the writer's lease, advancing its heartbeat counter, and
	// records p: every entry of the writer up to p.Horizon is settled
	// (the lease keeps the highest horizon it was given), and of those
	// above it up to p.Next only p.Pending are not. A lease that is gone
	// (retired by another instance that took it for dead) is created
	// again.
	Beat(ctx context.Context, p Progress) error

	// Writers lists the leases of the store, this writer's included.
	Writers(ctx context.Context) ([]Lease, error)

	// Claim makes claimant the owner of the takeover of l, if l is still
	// as read (same Beat and ClaimedBy): a compare-and-set, so one
	// instance wins.
	Claim(ctx context.Context, l Lease, claimant string) (bool, error)

	// Recover returns the writer's entries with a Seq above after, in any
	// order.
	Recover(ctx context.Context, writer string, after uint64) ([]Entry, error)

	// Retire deletes lease l once its entries are all settled, if its
	// Beat is still l.Beat (a writer that was only slow has beaten since
	// and keeps its lease). It reports whether it deleted it.
	Retire(ctx context.Context, l Lease) (bool, error)

	// DeadLetter durably records an entry the Relay gave up publishing,
	// with the reason, for an operator to inspect and replay.
	DeadLetter(ctx context.Context, e Entry, cause error) error
}

// Lease is a writer as the store records it.
type Lease struct {
	Writer string
	// Beat counts the writer's heartbeats; it stops moving when the
	// writer dies.
	Beat int64
	// Horizon is the writer's horizon at its last beat.
	Horizon uint64
	// Next and Pending are the rest of the writer's Progress at a recent
	// beat: a takeover recovers the entries above Horizon that are in
	// Pending or above Next.
	Next    uint64
	Pending []uint64
	// Released is set by a writer that closed leaving entries to publish
	// later (Delay): the others take it over at once, not after the TTL.
	Released bool
	// ClaimedBy is the writer taking it over, "" while nobody is.
	ClaimedBy string
}

// Progress is what a writer has settled, as a beat records it: every
// entry up to Horizon, and, of those above it up to Next, all but
// Pending (in order). Entries wait above the horizon while earlier ones
// are unsettled; delayed entries (Delay) wait there until their time, so
// without Pending a takeover would publish again every entry written
// after one of them. Next equals Horizon when there is no list (it would
// be too long): then everything above the horizon is pending.
type Progress struct {
	Horizon uint64
	Next    uint64
	Pending []uint64
	// Released hands the writer's entries over (Lease.Released): its
	// last beat, from Close.
	Released bool
}

// Unsettled reports whether the entry seq may still need publishing by
// whoever takes writer l over.
func (l Lease) Unsettled(seq uint64) bool {
	if seq <= l.Horizon {
		return false
	}
	if seq > l.Next {
		return true
	}
	_, found := slices.BinarySearch(l.Pending, seq)
	return found
}
