package memstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/store"
)

// Replica is a version-ordered copy of another service's aggregates of
// type T, kept in a collection of a DB: store.Replica in memory, with
// mongostore.Replica's semantics. Every Replica of one name on one DB
// shares its copies, as instances of a service share their database. It
// is safe for concurrent use.
type Replica[T any] struct {
	db   *DB
	name string
}

var _ store.Replica[struct{}] = (*Replica[struct{}])(nil)

// ReplicaOption configures NewReplica. There are none yet: the type is
// there so that both backends' constructors have one shape.
type ReplicaOption func(*replicaConfig) error

type replicaConfig struct{}

// NewReplica returns the replica kept in collection name of db.
func NewReplica[T any](db *DB, name string, opts ...ReplicaOption) (*Replica[T], error) {
	if db == nil || name == "" {
		return nil, errors.New("memstore: NewReplica needs a DB and a name")
	}
	var cfg replicaConfig
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("memstore: nil ReplicaOption")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &Replica[T]{db: db, name: name}, nil
}

// docsLocked returns the replica's collection; db.mu is held.
func (r *Replica[T]) docsLocked() *coll { return r.db.collLocked(r.name) }

// Apply implements store.Replica.
// Errors: EINVALID for an id that is no valid id or a negative version.
func (r *Replica[T]) Apply(ctx context.Context, id string, version int64, v T) (events.Ordering, error) {
	return r.change(ctx, id, version, func(cur *T, exists bool) (T, error) { return v, nil }, true)
}

// Modify implements store.Replica.
func (r *Replica[T]) Modify(ctx context.Context, id string, version int64, modify func(*T) error) (events.Ordering, error) {
	return r.change(ctx, id, version, func(cur *T, _ bool) (T, error) {
		next := *cur
		err := modify(&next)
		return next, err
	}, false)
}

// change writes version of id as next makes it from the stored copy, if
// it is the next version; snapshot says whether version 0 may create it.
func (r *Replica[T]) change(ctx context.Context, id string, version int64, next func(cur *T, exists bool) (T, error), snapshot bool) (events.Ordering, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	nid, ok := normID(id)
	if !ok || version < 0 {
		return 0, ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q or version %d", id, version)
	}
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	docs := r.docsLocked()
	stored := events.NoVersion
	d, exists := docs.docs[nid]
	var cur T
	if exists {
		stored = d.version
		cur = d.value.(T)
	}
	ord := events.CompareVersion(stored, version)
	if ord == events.Apply && !exists && !snapshot {
		ord = events.OutOfOrder // a change of a copy that isn't there yet
	}
	switch ord {
	case events.OutOfOrder:
		return ord, fmt.Errorf("%w: %s version %d, the replica holds %s", events.ErrOutOfOrder, nid, version, describeVersion(stored))
	case events.Duplicate:
		return ord, nil
	}
	v, err := next(&cur, exists)
	if err != nil {
		return 0, err
	}
	if !exists {
		docs.put(nid, &doc{version: version, value: v})
		return events.Apply, nil
	}
	d.version, d.value = version, v
	return events.Apply, nil
}

func describeVersion(v int64) string {
	if v == events.NoVersion {
		return "nothing"
	}
	return fmt.Sprintf("version %d", v)
}

// Claim implements store.Replica.
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
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	d, ok := r.docsLocked().docs[nid]
	switch {
	case !ok:
		return false, ticketkit.ErrNotFound
	case d.claim != prev:
		return false, nil
	}
	d.claim = next
	return true, nil
}

// Get implements store.Replica.
// Errors: ENOTFOUND, also for an id that is no valid id.
func (r *Replica[T]) Get(ctx context.Context, id string) (Record[T], error) {
	if err := ctx.Err(); err != nil {
		return Record[T]{}, err
	}
	nid, _ := normID(id)
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	d, ok := r.docsLocked().docs[nid]
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	return Record[T]{ID: nid, Version: d.version, Doc: d.value.(T), Claim: d.claim}, nil
}

// GetMany implements store.Replica; the map is keyed by lower-case id.
func (r *Replica[T]) GetMany(ctx context.Context, ids []string) (map[string]Record[T], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]Record[T], len(ids))
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	docs := r.docsLocked()
	for _, id := range ids {
		if nid, ok := normID(id); ok {
			if d, ok := docs.docs[nid]; ok {
				out[nid] = Record[T]{ID: nid, Version: d.version, Doc: d.value.(T), Claim: d.claim}
			}
		}
	}
	return out, nil
}
