// Package store is the storage API every ticketkit service writes its
// aggregates and keeps its copies of others' with, whatever the backend:
// a versioned Collection whose every write carries its events (the
// outbox), and a version-ordered Replica of another service's
// aggregates. memstore (in memory) and mongostore (MongoDB) implement
// both, with the same constructors and semantics, and pass the same
// conformance suite (storetest), in the manner of gocloud.dev/docstore.
// A service gets them from its backends with service.Collection and
// service.Replica, and needs no adapter of its own.
//
// Ids are the cluster's 24-hex ObjectIDs, read in either case and
// returned in lower case (ticketkit.CanonicalID). Errors are
// *ticketkit.Error: ENOTFOUND, ECONFLICT (the version moved on, or the id
// exists), EINVALID (a bad id for an insert), EUNAVAILABLE (nothing was
// written), EUNKNOWN (a write that may have been), EINTERNAL.
package store

import (
	"context"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/idempotency"
)

// Record is a document with its id and version.
type Record[T any] struct {
	ID      string
	Version int64
	Doc     T
	// Claim is a Replica's own mark on its copy (Replica.Claim); always
	// empty in a Collection.
	Claim string
}

// Filter selects documents by equality of their top-level fields, named
// as they are stored (a field's bson tag, else its json tag, else its
// name in lower case). A nil value matches a field that is absent, null
// or the zero value: {"orderId": nil} is an unreserved ticket.
type Filter map[string]any

// Immutable is implemented by a document type whose fields it names (as
// stored) are set by Insert and never changed by an update, whatever the
// document passed holds: an owner, a creation time. Both backends honour
// it, and an update returns the document as stored.
type Immutable interface {
	ImmutableFields() []string
}

// ImmutableFields returns the immutable fields of document type T, if it
// declares any (Immutable), for a backend.
func ImmutableFields[T any]() []string {
	var zero T
	if im, ok := any(zero).(Immutable); ok {
		return im.ImmutableFields()
	}
	return nil
}

// Unique is implemented by a document type whose fields it names (as
// stored, top-level) each hold a value no two documents of a Collection
// share: a user's email. Both backends enforce it in the write itself, so
// two simultaneous inserts of one value can't both succeed, whatever
// checked for it before: MongoDB's with a unique index on each field,
// which EnsureIndexes makes (service.Collection calls it), and memstore
// under its lock. An Insert or Update that would repeat a value is
// ECONFLICT, as an existing id is. As in MongoDB's non-sparse unique
// index, comparison is exact (case-sensitive for strings), and a zero
// value counts as a value.
type Unique interface {
	UniqueFields() []string
}

// UniqueFields returns the unique fields of document type T, if it
// declares any (Unique), for a backend.
func UniqueFields[T any]() []string {
	var zero T
	if u, ok := any(zero).(Unique); ok {
		return u.UniqueFields()
	}
	return nil
}

// FindOption configures Collection.Find.
type FindOption func(*FindOptions)

// FindOptions are Find's options, as a backend reads them.
type FindOptions struct {
	After string // only ids above this one (a page's cursor)
	Limit int    // at most this many; 0 is no limit
}

// After returns only documents whose id is above id, for paging.
func After(id string) FindOption { return func(o *FindOptions) { o.After = id } }

// Limit returns at most n documents.
func Limit(n int) FindOption { return func(o *FindOptions) { o.Limit = n } }

// FindOptionsOf applies opts, for a backend.
func FindOptionsOf(opts []FindOption) FindOptions {
	var o FindOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Collection is a versioned collection of T documents, written through
// one writer's outbox: each write stores its events with the document in
// one atomic single-document write, so a document is never saved without
// its events and no transaction is needed. It is safe for concurrent use.
type Collection[T any] interface {
	// Get returns document id. Errors: ENOTFOUND, also for a bad id.
	Get(ctx context.Context, id string) (Record[T], error)
	// Find returns the documents filter selects, in id order.
	Find(ctx context.Context, filter Filter, opts ...FindOption) ([]Record[T], error)
	// Insert stores v as version 0 of id, with an outbox entry per event.
	// If ctx carries an idempotency key (idempotency.NewContext), it is
	// stored with the document, in the same write: when an unexpired
	// key of an earlier Insert is the same, nothing is written and the
	// error is *idempotency.Replayed, naming the earlier document, if
	// its request was the same, idempotency.ErrReused if not.
	// A write the database did not confirm is looked up by id before
	// Insert returns: nil if it was stored, EUNKNOWN if that can't be
	// told, EUNAVAILABLE only when it was certainly not sent.
	// Errors: EINVALID for a bad id, ECONFLICT when id exists or when
	// a Unique field's value is another document's.
	Insert(ctx context.Context, id string, v T, evs ...events.Event) error
	// ByKey returns the document an Insert stored with idempotency key
	// k: for a create that finds the effect of its earlier attempt
	// before it gets to its Insert (an order whose ticket its first
	// attempt reserved). It marks ctx's request as replayed
	// (idempotency.MarkReplayed). Errors: ENOTFOUND when there is none
	// or the key expired, idempotency.ErrReused when k's request differs.
	ByKey(ctx context.Context, k idempotency.Key) (Record[T], error)
	// Update replaces the document if its version is expected, making it
	// expected+1, with an outbox entry per event. A write the database
	// did not confirm is looked up as Insert's is. Errors: ENOTFOUND,
	// ECONFLICT when the version differs or a Unique field's value is
	// another document's (nothing is written), EUNKNOWN.
	Update(ctx context.Context, id string, expected int64, v T, evs ...events.Event) (Record[T], error)
	// UpdateIf is Update that also requires guard of the stored document
	// (ECONFLICT when it doesn't hold): an owner, say.
	UpdateIf(ctx context.Context, id string, expected int64, guard Filter, v T, evs ...events.Event) (Record[T], error)
}

// Replica is a consuming service's version-ordered copy of another
// service's aggregates (the orders service's of the tickets, say). Events
// come at least once and in any order; each method decides with
// events.CompareVersion what an event means for the stored version, so
// a handler just returns its error: nil for Apply and Duplicate, one
// wrapping events.ErrOutOfOrder for an event that is early. It is safe
// for concurrent use, by any number of listeners and instances.
type Replica[T any] interface {
	// Get returns the copy of id. Errors: ENOTFOUND.
	Get(ctx context.Context, id string) (Record[T], error)
	// GetMany returns the copies of ids that exist, by id.
	GetMany(ctx context.Context, ids []string) (map[string]Record[T], error)
	// Apply stores doc as version of id: written if it is the next
	// version (0 for a new copy), nothing for an old one (Duplicate), and
	// an error wrapping events.ErrOutOfOrder for a later one.
	Apply(ctx context.Context, id string, version int64, doc T) (events.Ordering, error)
	// Modify is Apply for an event that is not a snapshot (one that
	// carries only what changed, as order:cancelled does): modify changes
	// the stored copy into version's. A copy that is not there yet is out
	// of order, as is a version beyond the next. An error from modify is
	// returned as it is, and nothing is written.
	Modify(ctx context.Context, id string, version int64, modify func(*T) error) (events.Ordering, error)
	// Claim sets the copy's own mark (Record.Claim) to next if it is
	// prev, in one conditional write, and reports whether it did: the
	// consuming service's decision on the copy (which order holds a
	// ticket), which Apply and Modify leave alone. Errors: ENOTFOUND.
	Claim(ctx context.Context, id, prev, next string) (bool, error)
}
