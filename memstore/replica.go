package memstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
)

// Replica is a version-ordered copy of another service's aggregates of
// type T, in memory, with mongostore.Replica's semantics: Apply writes the
// next version, acknowledges an old one (Duplicate) and refuses an early
// one with an error wrapping events.ErrOutOfOrder. It is safe for
// concurrent use.
type Replica[T any] struct {
	mu   sync.Mutex
	docs map[string]Record[T]
}

// NewReplica returns an empty Replica.
func NewReplica[T any]() *Replica[T] {
	return &Replica[T]{docs: make(map[string]Record[T])}
}

// Apply makes doc version of aggregate id if that is the next version;
// see mongostore.Replica.Apply.
// Errors: EINVALID for an id that is no valid id or a negative version.
func (r *Replica[T]) Apply(ctx context.Context, id string, version int64, doc T) (events.Ordering, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	nid, ok := normID(id)
	if !ok || version < 0 {
		return 0, ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q or version %d", id, version)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	stored := events.NoVersion
	if cur, ok := r.docs[nid]; ok {
		stored = cur.Version
	}
	switch ord := events.CompareVersion(stored, version); ord {
	case events.OutOfOrder:
		return ord, fmt.Errorf("%w: %s version %d, the replica holds version %d", events.ErrOutOfOrder, nid, version, stored)
	case events.Duplicate:
		return ord, nil
	}
	r.docs[nid] = Record[T]{ID: nid, Version: version, Doc: doc, Claim: r.docs[nid].Claim}
	return events.Apply, nil
}

// Claim sets the claim on the copy of aggregate id to next if it is prev
// now ("" for none), and reports whether it did; see
// mongostore.Replica.Claim.
// Errors: ENOTFOUND for an aggregate the replica doesn't hold, EINVALID
// for an id that is no valid id.
func (r *Replica[T]) Claim(ctx context.Context, id, prev, next string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	nid, ok := normID(id)
	if !ok {
		return false, ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q", id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.docs[nid]
	switch {
	case !ok:
		return false, ticketkit.ErrNotFound
	case rec.Claim != prev:
		return false, nil
	}
	rec.Claim = next
	r.docs[nid] = rec
	return true, nil
}

// Get returns the copy of aggregate id.
// Errors: ENOTFOUND, also for an id that is no valid id.
func (r *Replica[T]) Get(ctx context.Context, id string) (Record[T], error) {
	if err := ctx.Err(); err != nil {
		return Record[T]{}, err
	}
	nid, _ := normID(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.docs[nid]
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	return rec, nil
}

// GetMany returns the copies it holds of ids, by lower-case id.
func (r *Replica[T]) GetMany(ctx context.Context, ids []string) (map[string]Record[T], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]Record[T], len(ids))
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if nid, ok := normID(id); ok {
			if rec, ok := r.docs[nid]; ok {
				out[nid] = rec
			}
		}
	}
	return out, nil
}
