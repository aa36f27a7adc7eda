// Package mongostore is the MongoDB backend of the storage API (package
// store), with the official driver (go.mongodb.org/mongo-driver/v2):
// Outbox, the outbox.Driver of one process; Collection, a versioned
// collection of any document type whose every write carries its outbox
// entries; Replica, the version-ordered copy of another service's
// aggregates that a consuming service keeps from their events. It knows no
// domain: the tickets and orders stores are tickets/ticketstore and
// orders/orderstore, on a Collection of either backend. memstore has the
// same constructors and semantics in memory, and both pass
// store/storetest. It works on a
// standalone mongod (no replica set needed) and on
// FerretDB 1.24, because it uses no multi-document transactions, no change
// streams, no aggregation pipeline updates and no $expr.
//
// The caller owns the *mongo.Client: nothing here connects, disconnects or
// drops anything. Make one Outbox per process (NewOutbox inserts its
// lease), the collections on it, call EnsureIndexes once at startup, and
// run an outbox.Relay on the Outbox.
//
// # Document layout
//
// A Collection's document is T's fields beside three of its own:
//
//	{
//	  _id:     ObjectId,          // ids are 24-hex ObjectIds, read case-insensitively
//	  version: int64,             // 0 at insert, +1 per update
//	  ...T's fields...,
//	  outbox:  [ entry, ... ]     // the document's latest events
//	}
//
// and each entry is one encoded event and its place in its writer's
// sequence:
//
//	{w: writer id, s: seq, v: version, subject, data: binary, mid: message id, at: date}
//
// A ticket's fields (Store) are {title, price: int64 cents, userId,
// orderId (absent while not reserved), createdAt, updatedAt}. The writers'
// leases are documents {_id: writer id, beat, horizon, claimedBy, colls,
// started} in "outbox_writers", and dead letters go to "outbox_dead".
//
// # The outbox, without transactions, without a write per event
//
// Insert is one insert of the document with its entries. Update is one
// update filtered on {_id, version: expected} that $sets the fields, $incs
// nothing (it sets version+1), and $pushes the entries: either all of it
// happens or, when another writer moved the version on, none of it
// (ECONFLICT). MongoDB applies a single-document write atomically, filter
// included, so the document and its events are committed together.
//
// After the write, the entries go to the writer's Queue in memory, and the
// Relay publishes them from there: the hot path reads nothing back. Nor
// does it write anything per published event: the Relay records the
// writer's horizon in its lease with its heartbeat (one update by _id per
// beat). Entries therefore stay in their documents. When a document holds
// 16 entries (the update's filter also requires "outbox.15" not to
// exist), the update reads the document and the leases instead and $sets
// the outbox to the entries no horizon covers plus the new ones, guarded
// by the version. A ticket that is only created keeps its one entry.
//
// Recovery (Outbox.Recover) finds a writer's entries above its horizon
// with {"outbox.w": W, "outbox.s": {$gt: H}}, which the {outbox.w,
// outbox.s} index serves on MongoDB with the writer's range of the index.
// It runs only when a writer died, a write's outcome was unknown, or the
// Queue overflowed during an outage, never per write.
//
// # FerretDB 1.x
//
// FerretDB 1.24 is the tests' server. What this package does about its
// differences:
//
//   - Filtered updates are not atomic: FerretDB reads the matching
//     document, applies the operators in Go and writes the whole document
//     back by _id, without checking the filter again (FerretDB #2168). Two
//     Updates at one version can then both succeed. WithDocumentLocks
//     serializes a Collection's (or Replica's) writes to each document in
//     the process: correct for one process on a bare FerretDB 1.x, not
//     for several. devservers, the tests' harness, puts FerretDB behind a
//     proxy that lets one write through at a time, which makes it atomic
//     like MongoDB; the tests run both ways. MongoDB needs no lock, and
//     none is taken by default.
//   - Only a filter that is exactly {_id: X} is pushed down to SQLite;
//     anything else decodes every document in Go. And even {_id: X} is a
//     table scan in SQLite (its unique index is on another expression), so
//     every write of a document by _id costs a scan: the reason the outbox
//     writes nothing per event.
//   - $elemMatch with field conditions is refused ("unknown operator"),
//     hence Recover's dotted paths and the filtering of entries in Go.
//   - findAndModify rejects a projection; $pull with a condition removes
//     nothing; $unset of an array element removes it; partial indexes are
//     not implemented. None of them is used.
//   - createIndexes naming several indexes that already exist panics the
//     server's connection handler, so EnsureIndexes creates one at a time.
//
// # Replicas
//
// A Replica[T] keeps {_id, version, ...T's fields} per aggregate of
// another service and applies its events in version order with
// events.CompareVersion: the next version is written by an insert (version
// 0) or an update guarded by {version: v-1}; a version already held is
// acknowledged and ignored; an early one is refused with an error wrapping
// events.ErrOutOfOrder so the broker brings it back. GetMany reads several
// at once, for list joins; Modify applies an event that is not a snapshot
// to the stored copy. The orders service's copy of the tickets is a
// Replica of orders.Ticket ({title, price}), fed by wire.TicketCopies.
// See Replica.
//
// # Errors and user input
//
// Every error is a *ticketkit.Error. mongo.ErrNoDocuments is ENOTFOUND, a
// duplicate key ECONFLICT; everything else, timeouts and cancellations
// included, is EINTERNAL with a generic message and the driver's error as
// the cause, so errors.Is(err, context.DeadlineExceeded) still works.
// Filters are built only from typed values (ObjectIds, strings, integers)
// in bson.D documents, with field names that are constants, so a title,
// user id, order id or cursor such as "$gt" or `{"$ne":null}` is only ever
// data.
package mongostore
