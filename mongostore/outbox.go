package mongostore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit/tickets"
)

// maxPendingBatch bounds the cursor batch size of Pending.
const maxPendingBatch = 1000

// pendingDoc is what Pending reads of a ticket with pending changes.
type pendingDoc struct {
	ID        bson.ObjectID `bson:"_id"`
	UserID    string        `bson:"userId"`
	CreatedAt time.Time     `bson:"createdAt"`
	Outbox    []entry       `bson:"outbox"`
}

// Pending implements tickets.Outbox. It returns the changes of the tickets
// whose changes have been pending longest first, each ticket's in version
// order; a ticket cut off by limit contributes a prefix of its changes. A
// limit <= 0 returns no changes.
func (s *Store) Pending(ctx context.Context, limit int) ([]tickets.Change, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Every document with pendingSince holds at least one entry, so limit
	// documents are enough; the batch size says so without relying on it.
	filter := bson.D{{Key: fPendingSince, Value: bson.D{{Key: "$gte", Value: bson.DateTime(0)}}}}
	opts := options.Find().
		SetSort(bson.D{{Key: fPendingSince, Value: 1}, {Key: fID, Value: 1}}).
		SetProjection(bson.D{{Key: fUserID, Value: 1}, {Key: fCreatedAt, Value: 1}, {Key: fOutbox, Value: 1}}).
		SetBatchSize(int32(min(limit, maxPendingBatch)))
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, s.fail(ctx, "Pending", "", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))

	var out []tickets.Change
	for len(out) < limit && cur.Next(ctx) {
		var d pendingDoc
		if err := cur.Decode(&d); err != nil {
			return nil, s.fail(ctx, "Pending", "", err)
		}
		// Entries are pushed in version order and popped from the front;
		// sorting again costs nothing and keeps the no-gap promise even
		// for a document written by hand.
		slices.SortFunc(d.Outbox, func(a, b entry) int { return cmpInt64(a.Version, b.Version) })
		for _, e := range d.Outbox {
			if len(out) == limit {
				break
			}
			c, err := change(d, e)
			if err != nil {
				return nil, s.fail(ctx, "Pending", d.ID.Hex(), err)
			}
			out = append(out, c)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, s.fail(ctx, "Pending", "", err)
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// change turns an outbox entry back into the Change it records.
func change(d pendingDoc, e entry) (tickets.Change, error) {
	var kind tickets.ChangeKind
	switch e.Kind {
	case kindCreated:
		kind = tickets.Created
	case kindUpdated:
		kind = tickets.Updated
	default:
		return tickets.Change{}, fmt.Errorf("ticket %s: outbox entry for version %d has unknown kind %q", d.ID.Hex(), e.Version, e.Kind)
	}
	return tickets.Change{Kind: kind, Ticket: tickets.Ticket{
		ID:        d.ID.Hex(),
		Title:     e.Title,
		Price:     tickets.Money(e.Price),
		UserID:    d.UserID,
		OrderID:   e.OrderID,
		Version:   e.Version,
		CreatedAt: d.CreatedAt.UTC(),
		UpdatedAt: e.UpdatedAt.UTC(),
	}}, nil
}

// maxMarkBatch bounds the tickets one MarkPublished names in one filter;
// a larger batch is marked in parts of this size. (A variable for tests.)
var maxMarkBatch = 500

// mark is one ticket of a MarkPublished: its outbox is marked up to and
// including version.
type mark struct {
	id      bson.ObjectID
	version int64
}

// MarkPublished implements tickets.Outbox with as few writes as the state
// of the outboxes allows, holding the document locks of the whole batch:
//
//  1. One UpdateMany whose filter is an $or of {_id: X, version: {$lte: v}}
//     per ticket (see batchFilter): where the ticket's version is at most v, every entry of
//     its outbox is (an entry is pushed with the version the same write
//     sets, and versions only grow), so the update empties the outbox
//     ($set outbox: []) and $unsets pendingSince, in one single-document
//     write per ticket. That is the common case: a relay publishes every
//     pending change of a ticket and the ticket was not updated since.
//     When every ticket of the batch matched (an already marked one
//     matches too, and is left as it is), that was the only round trip.
//  2. Otherwise one Find, with an $or of {_id: X, "outbox.0.version":
//     {$lte: v}}, reads the outboxes that still hold entries at or below
//     their version: tickets updated since the relay read them (their
//     newer entries must stay) and nothing else.
//  3. Then one BulkWrite with an update per such ticket: $pullAll of
//     exactly the entries read at or below v. Concurrent writers cannot
//     make it wrong: an Update only pushes newer entries, which are not
//     in the list; another MarkPublished only removes entries, and
//     pulling what is gone is a no-op. Such a ticket keeps its newest
//     entry, so its pendingSince stays.
//
// Each ticket is marked by one single-document write, so per ticket it is
// all or nothing; across tickets it is not atomic, as tickets.Outbox
// allows. On MongoDB neither write needs the locks (the first's filter
// holds at the write, the second is right whatever happened since the
// read); on FerretDB 1.x, which runs each as a read and a write back, the
// locks keep this process's other writers out in between (see docLocks).
// ($pull with a
// condition would do 2 and 3 in one update on MongoDB, but FerretDB
// matches the document and silently removes nothing, hence $pullAll of
// exact entries; and $pop removes one entry per write.)
//
// Ids that are no valid ticket id, or no ticket's, are skipped.
func (s *Store) MarkPublished(ctx context.Context, published []tickets.Change) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, "MarkPublished", "", err)
	}
	var marks []mark
	index := make(map[bson.ObjectID]int)
	for _, c := range published {
		oid, ok := parseID(c.Ticket.ID)
		if !ok {
			continue
		}
		if i, ok := index[oid]; ok {
			marks[i].version = max(marks[i].version, c.Ticket.Version)
			continue
		}
		index[oid] = len(marks)
		marks = append(marks, mark{id: oid, version: c.Ticket.Version})
	}
	for len(marks) > 0 {
		n := min(len(marks), maxMarkBatch)
		if err := s.markPublished(ctx, marks[:n]); err != nil {
			return err
		}
		marks = marks[n:]
	}
	return nil
}

// batchFilter is {_id: {$in: ids}, $or: clauses}, each clause naming one
// of ids. The $in says nothing the $or does not, but it goes first: MongoDB
// plans it as one scan of the _id index, and FerretDB, which evaluates
// every filter in Go on every document of the collection, rejects almost
// all of them on it instead of trying each clause of the $or on each
// (that made a 100-ticket batch 6 to 8 times slower than one scan).
func batchFilter(ids []bson.ObjectID, clauses bson.A) bson.D {
	return bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "$or", Value: clauses}}
}

// markPublished marks up to maxMarkBatch distinct tickets; see
// MarkPublished.
func (s *Store) markPublished(ctx context.Context, marks []mark) error {
	ids := make([]bson.ObjectID, len(marks))
	for i, m := range marks {
		ids[i] = m.id
	}
	locks, err := s.lockDocs(ctx, ids)
	if err != nil {
		return s.fail(ctx, "MarkPublished", "", err)
	}
	defer locks.unlock()

	// 1. Whole outboxes.
	whole := make(bson.A, len(marks))
	for i, m := range marks {
		whole[i] = bson.D{{Key: fID, Value: m.id}, {Key: fVersion, Value: bson.D{{Key: "$lte", Value: m.version}}}}
	}
	empty := bson.D{
		{Key: "$set", Value: bson.D{{Key: fOutbox, Value: bson.A{}}}},
		{Key: "$unset", Value: bson.D{{Key: fPendingSince, Value: ""}}},
	}
	r, err := s.coll.UpdateMany(ctx, batchFilter(ids, whole), empty)
	if err != nil {
		return s.fail(ctx, "MarkPublished", "", err)
	}
	if r.MatchedCount >= int64(len(marks)) {
		return nil
	}

	// 2. Outboxes still holding entries at or below their version.
	partial := make(bson.A, len(marks))
	for i, m := range marks {
		partial[i] = bson.D{{Key: fID, Value: m.id}, {Key: fOutbox + ".0." + fVersion, Value: bson.D{{Key: "$lte", Value: m.version}}}}
	}
	cur, err := s.coll.Find(ctx, batchFilter(ids, partial),
		options.Find().SetProjection(bson.D{{Key: fOutbox, Value: 1}}))
	if err != nil {
		return s.fail(ctx, "MarkPublished", "", err)
	}
	var docs []struct {
		ID     bson.ObjectID `bson:"_id"`
		Outbox []bson.Raw    `bson:"outbox"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return s.fail(ctx, "MarkPublished", "", err)
	}

	// 3. Pull exactly those entries.
	version := make(map[bson.ObjectID]int64, len(marks))
	for _, m := range marks {
		version[m.id] = m.version
	}
	var pulls []mongo.WriteModel
	for _, d := range docs {
		var done bson.A
		for _, e := range d.Outbox {
			if v, ok := e.Lookup(fVersion).AsInt64OK(); ok && v <= version[d.ID] {
				done = append(done, e)
			}
		}
		if len(done) == 0 {
			continue
		}
		pulls = append(pulls, mongo.NewUpdateOneModel().
			SetFilter(byID(d.ID)).
			SetUpdate(bson.D{{Key: "$pullAll", Value: bson.D{{Key: fOutbox, Value: done}}}}))
	}
	if len(pulls) == 0 {
		return nil
	}
	if _, err := s.coll.BulkWrite(ctx, pulls); err != nil {
		return s.fail(ctx, "MarkPublished", "", err)
	}
	return nil
}

// Wake implements tickets.Outbox: it receives after a Create or Update
// through this Store value succeeds. Signals coalesce.
func (s *Store) Wake() <-chan struct{} { return s.wake }
