package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/tickets"
)

// Replica is a consuming service's copy of the tickets, kept up to date
// from the tickets service's events: what the cluster's orders service
// keeps to price and reserve tickets without asking the tickets service.
// It is safe for concurrent use, by any number of listeners.
//
// Each ticket is one document in the collection ("tickets" unless
// WithCollection says otherwise), with exactly the fields the orders
// service keeps:
//
//	{_id: ObjectId, title: string, price: int64 (cents, exact), version: int64}
//
// # Version order
//
// Events come at least once and in any order (redeliveries, queue group
// members running in parallel). ApplyCreated and ApplyUpdated therefore
// decide with events.CompareVersion what an event means for the stored
// version:
//
//   - Apply, the next version: written in one atomic single-document write
//     guarded by the version, an insert for version 0 and an update
//     filtered on {_id, version: v-1} for the others.
//   - Duplicate, a version already held: nothing is written and the
//     handler returns nil, so the broker is acknowledged and stops
//     redelivering.
//   - OutOfOrder, a version beyond the next: nothing is written and the
//     handler returns an error wrapping events.ErrOutOfOrder, so the
//     Listener leaves the message unacknowledged and it comes back after
//     the ack wait, by when the missing version has had its chance.
//
// The write is tried first, as if the event were the next version, which
// it usually is; only when the insert meets an existing ticket (duplicate
// key) or the guard matches nothing does the Replica read the stored
// version and classify the event. A newer version is never overwritten:
// every write names the version it replaces.
//
// # FerretDB 1.x
//
// The version guard is enough on MongoDB, which applies a filtered update
// atomically. FerretDB 1.x does not (see the package documentation): two
// deliveries of one event can both pass the guard {version: v-1}, and if
// a third writer applies v+1 between the read and the write-back of the
// second, that write-back sets the ticket back to v. Version v+1 was
// acknowledged, so the replica would then stay behind for good, every
// later event waiting for it. With WithDocumentLocks a Replica holds a
// per-document lock of its own for the whole write-and-recheck of an
// event, which makes bare FerretDB correct for any number of listeners on
// that Replica in one process. Several processes consuming into one bare
// FerretDB 1.x server are not protected from each other; on MongoDB, or
// FerretDB behind a proxy that serializes writes as the tests' devservers
// does, the guard alone keeps them correct, and no lock is taken.
//
// # Errors
//
// Database failures are *tickets.Error values as the Store's are
// (EINTERNAL, cause kept), so the handler fails and the broker redelivers.
// An event that no Listener would decode (bad id, negative version,
// non-positive price) is EINVALID; OutOfOrder is a plain error wrapping
// events.ErrOutOfOrder, which the Listener logs at debug level only.
type Replica struct {
	coll  *mongo.Collection
	log   *slog.Logger
	locks *docLocks // nil unless WithDocumentLocks
}

// ReplicaTicket is a ticket as a Replica keeps it.
type ReplicaTicket struct {
	ID      string
	Title   string
	Price   tickets.Money
	Version int64
}

// replicaDoc is a replica document as stored.
type replicaDoc struct {
	ID      bson.ObjectID `bson:"_id"`
	Title   string        `bson:"title"`
	Price   int64         `bson:"price"`
	Version int64         `bson:"version"`
}

func (d replicaDoc) ticket() ReplicaTicket {
	return ReplicaTicket{ID: d.ID.Hex(), Title: d.Title, Price: tickets.Money(d.Price), Version: d.Version}
}

// NewReplica returns a Replica on db, which the caller keeps owning, as
// with New. WithCollection and WithLogger apply; the logger gets every
// event's outcome at Debug level and database errors at Error level. New
// does no I/O.
func NewReplica(db *mongo.Database, opts ...Option) (*Replica, error) {
	cfg, err := newConfig(db, opts)
	if err != nil {
		return nil, err
	}
	r := &Replica{coll: db.Collection(cfg.collection), log: cfg.logger}
	if cfg.docLocks {
		r.locks = newDocLocks()
	}
	return r, nil
}

// EnsureIndexes prepares the collection; call it once at startup. Every
// read and write of a Replica is by _id, which needs no secondary index,
// so it only creates the collection if it does not exist yet, rather than
// leaving that to the first racing inserts of a fresh deployment. Calling
// it again, or from several processes, is harmless.
func (r *Replica) EnsureIndexes(ctx context.Context) error {
	err := r.coll.Database().CreateCollection(ctx, r.coll.Name())
	var se mongo.ServerError
	if err == nil || (errors.As(err, &se) && se.HasErrorCode(codeNamespaceExists)) {
		return nil
	}
	return r.fail(ctx, "EnsureIndexes", "", err)
}

// codeNamespaceExists is the server's answer to creating a collection
// that exists (MongoDB and FerretDB alike).
const codeNamespaceExists = 48

// Get returns the replicated ticket with the given id.
// Errors: ENOTFOUND, also for an id that is not a valid id; EINTERNAL.
func (r *Replica) Get(ctx context.Context, id string) (ReplicaTicket, error) {
	oid, ok := parseID(id)
	if !ok {
		return ReplicaTicket{}, tickets.ErrNotFound
	}
	var d replicaDoc
	if err := r.coll.FindOne(ctx, byID(oid)).Decode(&d); err != nil {
		return ReplicaTicket{}, r.fail(ctx, "Replica.Get", oid.Hex(), err)
	}
	return d.ticket(), nil
}

// ApplyCreated applies e in version order (see Replica) and reports what
// it did: Apply (written) or Duplicate (nothing to do), both with a nil
// error, or OutOfOrder with an error wrapping events.ErrOutOfOrder.
func (r *Replica) ApplyCreated(ctx context.Context, e events.TicketCreated) (events.Ordering, error) {
	if err := e.Validate(); err != nil {
		return 0, invalidEvent(e.Subject(), err)
	}
	return r.apply(ctx, e.Subject(), e.ID, e.Version, e.Title, e.Price)
}

// ApplyUpdated is ApplyCreated for a TicketUpdated. The order id is not
// replicated: the orders service knows its own orders.
func (r *Replica) ApplyUpdated(ctx context.Context, e events.TicketUpdated) (events.Ordering, error) {
	if err := e.Validate(); err != nil {
		return 0, invalidEvent(e.Subject(), err)
	}
	return r.apply(ctx, e.Subject(), e.ID, e.Version, e.Title, e.Price)
}

// OnTicketCreated is an events.Handler for ticket:created:
//
//	events.Listen(ctx, transport, "orders-service", replica.OnTicketCreated, events.DeliverAll())
//
// It returns nil for an applied or duplicate event, so the Listener
// acknowledges it, and an error otherwise, so the broker redelivers it;
// except for an invalid event (EINVALID), which no redelivery can mend:
// that error is events.Permanent, so the Listener dead-letters it at once.
// (The Listener's Decode already dead-letters every payload that fails the
// same validation, so only events built by hand get that far.)
func (r *Replica) OnTicketCreated(ctx context.Context, e events.TicketCreated, _ events.Metadata) error {
	_, err := r.ApplyCreated(ctx, e)
	return handlerError(err)
}

// OnTicketUpdated is OnTicketCreated for ticket:updated.
func (r *Replica) OnTicketUpdated(ctx context.Context, e events.TicketUpdated, _ events.Metadata) error {
	_, err := r.ApplyUpdated(ctx, e)
	return handlerError(err)
}

func handlerError(err error) error {
	if tickets.ErrorCode(err) == tickets.EINVALID {
		return events.Permanent(err)
	}
	return err
}

var (
	_ events.Handler[events.TicketCreated] = (*Replica)(nil).OnTicketCreated
	_ events.Handler[events.TicketUpdated] = (*Replica)(nil).OnTicketUpdated
)

func invalidEvent(subject events.Subject, err error) error {
	return &tickets.Error{Code: tickets.EINVALID, Message: fmt.Sprintf("Invalid %s event: %v", subject, err), Err: err}
}

// maxApplyAttempts bounds the write-then-recheck cycle. A recheck that
// says Apply means another process moved the ticket to the version just
// before ours between our write and our read, so the next write almost
// always settles it; more rounds mean something keeps rewriting the
// ticket, and the event is better redelivered later.
const maxApplyAttempts = 4

// apply writes version of ticket id if it is the next one; see Replica.
func (r *Replica) apply(ctx context.Context, subject events.Subject, id string, version int64, title string, price tickets.Money) (events.Ordering, error) {
	oid, ok := parseID(id)
	if !ok { // Validate checked it; parseID also lower-cases
		return 0, invalidEvent(subject, fmt.Errorf("invalid id %q", id))
	}
	op := "Replica.Apply(" + string(subject) + ")"
	attrs := func(extra ...slog.Attr) []slog.Attr {
		return append([]slog.Attr{slog.String("subject", string(subject)), slog.String("id", oid.Hex()), slog.Int64("version", version)}, extra...)
	}
	unlock, err := r.locks.lock(ctx, oid)
	if err != nil {
		return 0, r.fail(ctx, op, oid.Hex(), err)
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		written, err := r.write(ctx, replicaDoc{ID: oid, Title: title, Price: int64(price), Version: version})
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
			return ord, fmt.Errorf("%w: ticket %s version %d, the replica holds %s", events.ErrOutOfOrder, oid.Hex(), version, describeVersion(stored))
		}
		// Apply: the ticket reached version-1 after our write missed it.
		if attempt == maxApplyAttempts {
			return 0, r.fail(ctx, op, oid.Hex(), fmt.Errorf("ticket %s kept changing under %d attempts to apply version %d", oid.Hex(), attempt, version))
		}
	}
}

// write makes d the stored document if d.Version is the next version:
// an insert for version 0, else an update guarded by the previous
// version. It reports false, with no error, when the guard failed.
func (r *Replica) write(ctx context.Context, d replicaDoc) (bool, error) {
	if d.Version == 0 {
		_, err := r.coll.InsertOne(ctx, d)
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return err == nil, err
	}
	filter := bson.D{{Key: fID, Value: d.ID}, {Key: fVersion, Value: d.Version - 1}}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: fTitle, Value: d.Title},
		{Key: fPrice, Value: d.Price},
		{Key: fVersion, Value: d.Version},
	}}}
	res, err := r.coll.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// storedVersion returns the version of ticket oid, or events.NoVersion if
// the replica has never seen it.
func (r *Replica) storedVersion(ctx context.Context, oid bson.ObjectID) (int64, error) {
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

func (r *Replica) fail(ctx context.Context, op, id string, err error) error {
	return failure(ctx, r.log, op, id, err)
}
