// Package mongostore implements tickets.Store and tickets.Outbox on MongoDB,
// with the official driver (go.mongodb.org/mongo-driver/v2), and Replica,
// the version-ordered copy of the tickets that a consuming service (the
// orders service) keeps from the tickets events. It works on a
// standalone mongod (no replica set needed) and on FerretDB 1.24, because it
// uses no multi-document transactions, no change streams, no aggregation
// pipeline updates and no $expr.
//
// The caller owns the *mongo.Client: New takes a *mongo.Database and never
// connects or disconnects. Call EnsureIndexes once at startup (it is
// idempotent); the store is correct without the indexes, only slower.
//
// # Document layout
//
// Each ticket is one document in the collection ("tickets" unless
// WithCollection says otherwise):
//
//	{
//	  _id:          ObjectId,        // Ticket.ID; ids are hex ObjectIds, read case-insensitively
//	  title:        string,
//	  price:        int64,           // cents, exact (tickets.Money)
//	  userId:       string,
//	  orderId:      string,          // absent while the ticket is not reserved
//	  version:      int64,           // 0 at creation, +1 per update
//	  createdAt:    date,            // BSON dates keep milliseconds
//	  updatedAt:    date,
//	  outbox:       [ entry, ... ],  // changes not yet published, in version order
//	  pendingSince: date             // present exactly while outbox is not empty
//	}
//
// and each outbox entry is a snapshot of the ticket right after a change:
//
//	{kind: "created"|"updated", version: int64, title, price: int64, orderId, updatedAt: date}
//
// An entry does not repeat userId and createdAt: they never change, so
// Pending reads them from the document. (Update could not copy them into
// the entry anyway without a pipeline update, since the caller's ticket is
// not trusted for them.)
//
// # The outbox, without transactions
//
// The transactional outbox pattern needs a ticket and its event to be
// written atomically. Here both live in the same document, and MongoDB
// applies every single-document write atomically, filter included, so no
// transaction is needed (FerretDB 1.x needs help; see below):
//
//   - Create inserts the ticket with its "created" entry already in outbox.
//   - Update is one findAndModify filtered on {_id, version: expected}: it
//     $sets the new fields, $incs version, $pushes the "updated" entry and
//     $mins pendingSince. Either all of it happens or, when another writer
//     moved the version on, none of it (ECONFLICT).
//   - MarkPublished marks a batch of tickets, each up to a version v, with
//     one UpdateMany whose filter is an $or of {_id, version: {$lte: v}}:
//     a ticket at version v or below has nothing above v in its outbox, so
//     the update empties outbox and $unsets pendingSince in one write.
//     Only when some ticket was updated past v since (its newer entries
//     must stay) does it read those outboxes (one Find) and $pullAll
//     exactly their entries up to v (one BulkWrite, an update per ticket),
//     which leaves the newest entry and pendingSince in place.
//
// So an outbox that is not empty holds a run of consecutive versions ending
// at the ticket's version (every write pushes the entry of the version it
// sets, and entries only leave from the front), pendingSince exists exactly while a ticket has
// unpublished changes, and holds (roughly) when the oldest of them was
// written. Each ticket's part of every write is one single-document update,
// so a ticket is marked all or nothing; a batch is not atomic across
// tickets, which tickets.Outbox allows.
//
// # FerretDB 1.x and atomicity
//
// The above relies on the server applying a filtered single-document
// update atomically. MongoDB does. FerretDB 1.x (SQLite and PostgreSQL
// backends) does not: it reads the matching document, applies the update
// operators in Go and writes the whole document back by _id, without
// checking the filter again. Two concurrent Updates at the same version can
// then both succeed, and a MarkPublished racing an Update can write back
// the document as it was before the Update, silently dropping the change
// and its event. Only inserts (unique _id) are atomic there.
//
// So every Store in a process serializes its writes to each ticket
// document (Update and MarkPublished; Create is an insert) with a
// process-wide striped lock that honours the context: Update holds its
// document's, MarkPublished those of every document of its batch for all
// of its calls, taking the distinct stripes in ascending order so that two
// batches cannot deadlock (Updates of those tickets wait for the batch,
// a round trip or three). That makes bare
// FerretDB correct for any number of goroutines and Store values in one
// process; processes sharing one bare FerretDB 1.x server are not
// protected from each other. (The FerretDB that devservers runs for the
// tests sits behind a proxy that serializes all writes, which makes it
// atomic like MongoDB; the tests check the Store both with and without its
// locks.) On MongoDB the lock only queues this process's writers to a hot
// ticket: the server's compare-and-set is what keeps separate processes
// correct. The lock also remembers the last version this process wrote to
// each (striped) document, so an Update that is certainly stale fails with
// ECONFLICT without a round trip.
//
// The price of keeping changes in the ticket is that a ticket whose changes
// nobody publishes grows with each update: reads of it get slower (FerretDB
// parses the whole document even for a projection), and MongoDB's 16 MiB
// document limit would stop its updates after some 100,000 unpublished
// changes. A running relay keeps each outbox at a change or two.
//
// # Finding pending work
//
// Pending queries {pendingSince: {$gte: <epoch>}} sorted by
// {pendingSince: 1, _id: 1}, which the index of the same keys serves on
// MongoDB: the scan touches only tickets with pending changes, oldest first,
// and stops as soon as limit changes are collected. Tickets with nothing
// pending have no pendingSince, so they fall outside the index range no
// matter how many there are.
//
// FerretDB 1.24 (SQLite backend) accepts the same indexes but pushes down
// only a filter that is exactly {_id: X}; Pending, List and every other
// filtered read or update are then a scan of the collection that decodes
// each document, which is correct, only slower. That is why MarkPublished
// names a whole batch in one $or filter: one scan per batch (two more
// calls, one of them a scan, when some ticket was marked in part) instead
// of one or more per ticket. Index options FerretDB lacks (partial indexes)
// are not used.
//
// # FerretDB differences this package avoids
//
//   - $pull with a condition ({$pull: {outbox: {version: {$lte: v}}}}) and
//     $elemMatch match the document but remove or match nothing, silently;
//     hence $pullAll of the exact entries read, where part of an outbox
//     goes.
//   - findAndModify rejects a projection ("fields"), so Update reads the
//     whole document back.
//   - partialFilterExpression is not implemented, so the pending index is a
//     plain one.
//   - $unset of an array element removes the element (MongoDB sets it to
//     null), so array elements are never $unset.
//   - createIndexes naming several indexes that already exist panics the
//     server's connection handler, so EnsureIndexes creates one at a time.
//   - Updates are not atomic with their filter; see "FerretDB 1.x and
//     atomicity" above.
//
// # Replicas
//
// A Replica keeps {_id, title, price, version} per ticket and applies
// TicketCreated and TicketUpdated events in version order with
// events.CompareVersion: the next version is written by an insert (version
// 0) or an update guarded by {version: v-1}; a version already held is
// acknowledged and ignored; an early one is refused with an error wrapping
// events.ErrOutOfOrder so the broker brings it back. Its writes take the
// same per-document lock as the Store's, for the same FerretDB reason,
// with the same limit: one process on bare FerretDB 1.x is safe, several
// are not. See Replica.
//
// # Errors and user input
//
// Every error is a *tickets.Error. mongo.ErrNoDocuments is ENOTFOUND, a
// duplicate key ECONFLICT; everything else, timeouts and cancellations
// included, is EINTERNAL with a generic message and the driver's error as
// the cause, so errors.Is(err, context.DeadlineExceeded) still works.
// Filters are built only from typed values (ObjectIds, strings, integers)
// in bson.D documents, with field names that are constants, so a title,
// user id, order id or cursor such as "$gt" or `{"$ne":null}` is only ever
// data.
package mongostore
