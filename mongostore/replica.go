package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/store"
)

// Replica is a consuming service's version-ordered copy of another
// service's aggregates, of any document type T: what the orders service
// keeps of the tickets, or the payments service of the orders. Each
// aggregate is one document {_id, version, ...T's fields}.
//
// # Version order
//
// Events come at least once and in any order (redeliveries, queue group
// members running in parallel). Apply therefore decides with
// events.CompareVersion what an event means for the stored version:
//
//   - Apply, the next version: written in one atomic single-document write
//     guarded by the version, an insert for version 0 and an update
//     filtered on {_id, version: v-1} for the others.
//   - Duplicate, a version already held: nothing is written and the
//     error is nil, so the handler acknowledges it.
//   - OutOfOrder, a version beyond the next: nothing is written and the
//     error wraps events.ErrOutOfOrder, so the Listener leaves the message
//     unacknowledged and it comes back after the ack wait.
//
// The write is tried first, as if the event were the next version, which
// it usually is; only when the insert meets an existing document or the
// guard matches nothing does the Replica read the stored version and
// classify the event. A newer version is never overwritten.
//
// # FerretDB 1.x
//
// The version guard is enough on MongoDB, which applies a filtered update
// atomically. FerretDB 1.x does not (see the package documentation): two
// deliveries of one event can both pass the guard {version: v-1}, and if
// a third writer applies v+1 between the read and the write-back of the
// second, that write-back sets the document back to v. With
// WithDocumentLocks a Replica holds a per-document lock of its own for the
// whole write-and-recheck of an event, which makes bare FerretDB correct
// for any number of listeners on that Replica in one process; several
// processes on one bare FerretDB 1.x are not protected from each other.
type Replica[T any] struct {
	coll   *mongo.Collection
	log    *slog.Logger
	locks  *docLocks // nil unless WithDocumentLocks
	fields []string
}

var _ store.Replica[struct{}] = (*Replica[struct{}])(nil)

// NewReplica returns the Replica in collection name of db, which the
// caller keeps owning. WithLogger and WithDocumentLocks apply; the logger
// gets every event's outcome at Debug level and database errors at Error
// level. It does no I/O.
func NewReplica[T any](db *mongo.Database, name string, opts ...ReplicaOption) (*Replica[T], error) {
	cfg, err := newConfig(db, name, opts, ReplicaOption.applyReplica)
	if err != nil {
		return nil, err
	}
	fields, err := topFields(reflect.TypeFor[T]())
	if err != nil {
		return nil, fmt.Errorf("mongostore: %w", err)
	}
	r := &Replica[T]{coll: db.Collection(name), log: cfg.logger, fields: fields}
	if cfg.docLocks {
		r.locks = newDocLocks()
	}
	return r, nil
}

// codeNamespaceExists is the server's answer to creating a collection
// that exists (MongoDB and FerretDB alike).
const codeNamespaceExists = 48

// EnsureIndexes prepares the collection; call it once at startup. Every
// read and write of a Replica is by _id, which needs no secondary index,
// so it only creates the collection if it does not exist yet, rather than
// leaving that to the first racing inserts of a fresh deployment. It is
// idempotent.
func (r *Replica[T]) EnsureIndexes(ctx context.Context) error {
	err := r.coll.Database().CreateCollection(ctx, r.coll.Name())
	var se mongo.ServerError
	if err == nil || (errors.As(err, &se) && se.HasErrorCode(codeNamespaceExists)) {
		return nil
	}
	return r.fail(ctx, "EnsureIndexes", "", err)
}

// Collection returns the underlying collection, for queries of the
// service's own; write only through Apply.
func (r *Replica[T]) Collection() *mongo.Collection { return r.coll }

// Get returns the copy of aggregate id.
// Errors: ENOTFOUND, also for an id that is no valid id; EINTERNAL.
func (r *Replica[T]) Get(ctx context.Context, id string) (Record[T], error) {
	oid, ok := parseID(id)
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	var d record[T]
	if err := r.coll.FindOne(ctx, byID(oid)).Decode(&d); err != nil {
		return Record[T]{}, r.fail(ctx, "Replica.Get", oid.Hex(), err)
	}
	return d.public(), nil
}

// GetMany returns the copies of the aggregates ids names that the Replica
// holds, by id (lower-case hex), in one query: for joining a list with
// what it refers to. Ids that are no valid id, or unknown, are left out.
func (r *Replica[T]) GetMany(ctx context.Context, ids []string) (map[string]Record[T], error) {
	oids := make([]bson.ObjectID, 0, len(ids))
	for _, id := range ids {
		if oid, ok := parseID(id); ok {
			oids = append(oids, oid)
		}
	}
	out := make(map[string]Record[T], len(oids))
	if len(oids) == 0 {
		return out, nil
	}
	cur, err := r.coll.Find(ctx, bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: oids}}}})
	if err != nil {
		return nil, r.fail(ctx, "Replica.GetMany", "", err)
	}
	var docs []record[T]
	if err := cur.All(ctx, &docs); err != nil {
		return nil, r.fail(ctx, "Replica.GetMany", "", err)
	}
	for _, d := range docs {
		out[d.ID.Hex()] = d.public()
	}
	return out, nil
}

// Claim sets the claim on the copy of aggregate id to next if it is prev
// now ("" for none), and reports whether it did. The claim is the
// replica's own mark, which Apply leaves alone: what the service decided
// about the aggregate, such as which of its orders reserves a ticket. It
// is a conditional write, so of callers that read the same claim and try
// to replace it, exactly one succeeds, on MongoDB as across processes;
// on FerretDB 1.x that needs WithDocumentLocks, and holds only within the
// process (see the package documentation).
// Errors: ENOTFOUND for an aggregate the replica doesn't hold, EINVALID
// for an id that is no valid id, EINTERNAL.
func (r *Replica[T]) Claim(ctx context.Context, id, prev, next string) (bool, error) {
	oid, ok := parseID(id)
	if !ok {
		return false, ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q", id)
	}
	unlock, err := r.locks.lock(ctx, oid)
	if err != nil {
		return false, r.fail(ctx, "Replica.Claim", oid.Hex(), err)
	}
	defer unlock()
	filter := bson.D{{Key: fID, Value: oid}, {Key: fClaim, Value: prev}}
	if prev == "" {
		filter[1].Value = bson.D{{Key: "$exists", Value: false}}
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: fClaim, Value: next}}}}
	if next == "" {
		update = bson.D{{Key: "$unset", Value: bson.D{{Key: fClaim, Value: ""}}}}
	}
	res, err := r.coll.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, r.fail(ctx, "Replica.Claim", oid.Hex(), err)
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	v, err := r.storedVersion(ctx, oid)
	if err != nil {
		return false, r.fail(ctx, "Replica.Claim", oid.Hex(), err)
	}
	if v == events.NoVersion {
		return false, ticketkit.ErrNotFound
	}
	return false, nil
}

// maxApplyAttempts bounds the write-then-recheck cycle. A recheck that
// says Apply means another process moved the aggregate to the version just
// before ours between our write and our read, so the next write almost
// always settles it; more rounds mean something keeps rewriting it, and
// the event is better redelivered later.
const maxApplyAttempts = 4

// Apply makes doc version of aggregate id if that is the next version,
// and reports what it did: Apply (written) or Duplicate (nothing to do),
// both with a nil error, or OutOfOrder with an error wrapping
// events.ErrOutOfOrder. See Replica.
// Errors: EINVALID for an id that is no valid id or a negative version,
// EINTERNAL.
func (r *Replica[T]) Apply(ctx context.Context, id string, version int64, doc T) (events.Ordering, error) {
	oid, ok := parseID(id)
	if !ok || version < 0 {
		return 0, ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q or version %d", id, version)
	}
	op := "Replica.Apply"
	attrs := func(extra ...slog.Attr) []slog.Attr {
		return append([]slog.Attr{slog.String("collection", r.coll.Name()), slog.String("id", oid.Hex()), slog.Int64("version", version)}, extra...)
	}
	unlock, err := r.locks.lock(ctx, oid)
	if err != nil {
		return 0, r.fail(ctx, op, oid.Hex(), err)
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		written, err := r.write(ctx, oid, version, doc)
		if err != nil {
			return 0, r.fail(ctx, op, oid.Hex(), err)
		}
		if written {
			r.log.LogAttrs(ctx, slog.LevelDebug, "mongostore: replica applied event", attrs()...)
			return events.Apply, nil
		}
		stored, err := r.storedVersion(ctx, oid)
		if err != nil {
			return 0, r.fail(ctx, op, oid.Hex(), err)
		}
		switch ord := events.CompareVersion(stored, version); ord {
		case events.Duplicate:
			r.log.LogAttrs(ctx, slog.LevelDebug, "mongostore: replica ignored a duplicate event", attrs(slog.Int64("stored", stored))...)
			return ord, nil
		case events.OutOfOrder:
			r.log.LogAttrs(ctx, slog.LevelDebug, "mongostore: replica deferred an early event", attrs(slog.Int64("stored", stored))...)
			return ord, fmt.Errorf("%w: %s version %d, the replica holds %s", events.ErrOutOfOrder, oid.Hex(), version, describeVersion(stored))
		}
		// Apply: the document reached version-1 after our write missed it.
		if attempt == maxApplyAttempts {
			return 0, r.fail(ctx, op, oid.Hex(), fmt.Errorf("%s kept changing under %d attempts to apply version %d", oid.Hex(), attempt, version))
		}
	}
}

// Modify implements store.Replica: it reads the copy, applies modify to it
// and writes it back guarded by the version it read, retrying a lost race.
// Errors: EINVALID for an id that is no valid id or a version below 1,
// EINTERNAL; modify's own, as it returned them.
func (r *Replica[T]) Modify(ctx context.Context, id string, version int64, modify func(*T) error) (events.Ordering, error) {
	oid, ok := parseID(id)
	if !ok || version < 0 {
		return 0, ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q or version %d", id, version)
	}
	const op = "Replica.Modify"
	unlock, err := r.locks.lock(ctx, oid)
	if err != nil {
		return 0, r.fail(ctx, op, oid.Hex(), err)
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		var cur record[T]
		stored := events.NoVersion
		err := r.coll.FindOne(ctx, byID(oid)).Decode(&cur)
		switch {
		case err == nil:
			stored = cur.Version
		case !errors.Is(err, mongo.ErrNoDocuments):
			return 0, r.fail(ctx, op, oid.Hex(), err)
		}
		ord := events.CompareVersion(stored, version)
		if ord == events.Apply && stored == events.NoVersion {
			ord = events.OutOfOrder // a change of a copy that isn't there yet
		}
		switch ord {
		case events.Duplicate:
			return ord, nil
		case events.OutOfOrder:
			return ord, fmt.Errorf("%w: %s version %d, the replica holds %s", events.ErrOutOfOrder, oid.Hex(), version, describeVersion(stored))
		}
		doc := cur.Doc
		if err := modify(&doc); err != nil {
			return 0, err
		}
		written, err := r.write(ctx, oid, version, doc)
		if err != nil {
			return 0, r.fail(ctx, op, oid.Hex(), err)
		}
		if written {
			return events.Apply, nil
		}
		if attempt == maxApplyAttempts {
			return 0, r.fail(ctx, op, oid.Hex(), fmt.Errorf("%s kept changing under %d attempts to apply version %d", oid.Hex(), attempt, version))
		}
	}
}

// write makes doc the stored document if version is the next one: an
// insert for version 0, else an update guarded by the previous version.
// It reports false, with no error, when the guard failed.
func (r *Replica[T]) write(ctx context.Context, oid bson.ObjectID, version int64, doc T) (bool, error) {
	if version == 0 {
		_, err := r.coll.InsertOne(ctx, record[T]{ID: oid, Doc: doc})
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return err == nil, err
	}
	set, unset, err := fieldsOf(r.fields, doc)
	if err != nil {
		return false, err
	}
	set = append(set, bson.E{Key: fVersion, Value: version})
	filter := bson.D{{Key: fID, Value: oid}, {Key: fVersion, Value: version - 1}}
	res, err := r.coll.UpdateOne(ctx, filter, updateDoc(set, unset))
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// storedVersion returns the version of aggregate oid, or events.NoVersion
// if the replica has never seen it.
func (r *Replica[T]) storedVersion(ctx context.Context, oid bson.ObjectID) (int64, error) {
	var v struct {
		Version int64 `bson:"version"`
	}
	err := r.coll.FindOne(ctx, byID(oid), options.FindOne().SetProjection(bson.D{{Key: fVersion, Value: 1}})).Decode(&v)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return events.NoVersion, nil
	case err != nil:
		return 0, err
	}
	return v.Version, nil
}

func describeVersion(v int64) string {
	if v == events.NoVersion {
		return "no version"
	}
	return fmt.Sprintf("version %d", v)
}

func (r *Replica[T]) fail(ctx context.Context, op, id string, err error) error {
	return failure(ctx, r.log, op, id, err)
}
