package mongostore

import (
	"context"
	"errors"
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

// MarkPublished implements tickets.Outbox: markOne for each ticket, at the
// highest version published gives it.
func (s *Store) MarkPublished(ctx context.Context, published []tickets.Change) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, "MarkPublished", "", err)
	}
	var order []string
	highest := make(map[string]int64)
	for _, c := range published {
		oid, ok := parseID(c.Ticket.ID)
		if !ok {
			continue
		}
		id := oid.Hex()
		v, seen := highest[id]
		if !seen {
			order = append(order, id)
		}
		if !seen || c.Ticket.Version > v {
			highest[id] = c.Ticket.Version
		}
	}
	for _, id := range order {
		if err := s.markOne(ctx, id, highest[id]); err != nil {
			return err
		}
	}
	return nil
}

// markOne pops entries off the front of the ticket's outbox while the first
// one has a version <= version, each
// with one single-document update guarded by what the outbox holds:
//
//	A  first <= version, no second entry:  $pop and $unset pendingSince; done
//	B  first <= version, second > version: $pop; done
//	C  first <= version, second <= version: $pop; try again
//
// so pendingSince disappears in the same write that empties the outbox.
// ($pull with a condition would do it in one update on MongoDB, but
// FerretDB matches the document and silently removes nothing.) A relay
// marks each change as it publishes it, so A or B usually ends it.
//
// When no guard matches, the first entry, if any, is newer than version:
// entries are only ever added with versions above every existing one, so
// there is nothing to do. Marking what is not pending, or an id that is no
// ticket's, is a no-op.
func (s *Store) markOne(ctx context.Context, id string, version int64) error {
	oid, ok := parseID(id)
	if !ok {
		return nil
	}
	first := bson.E{Key: fOutbox + ".0." + fVersion, Value: bson.D{{Key: "$lte", Value: version}}}
	pop := bson.E{Key: "$pop", Value: bson.D{{Key: fOutbox, Value: -1}}}
	steps := []struct {
		filter bson.D
		update bson.D
		last   bool
	}{
		{ // A
			filter: bson.D{{Key: fID, Value: oid}, first, {Key: fOutbox + ".1", Value: bson.D{{Key: "$exists", Value: false}}}},
			update: bson.D{pop, {Key: "$unset", Value: bson.D{{Key: fPendingSince, Value: ""}}}},
			last:   true,
		},
		{ // B
			filter: bson.D{{Key: fID, Value: oid}, first, {Key: fOutbox + ".1." + fVersion, Value: bson.D{{Key: "$gt", Value: version}}}},
			update: bson.D{pop},
			last:   true,
		},
		{ // C
			filter: bson.D{{Key: fID, Value: oid}, first, {Key: fOutbox + ".1." + fVersion, Value: bson.D{{Key: "$lte", Value: version}}}},
			update: bson.D{pop},
		},
	}
	doc, err := s.lockDoc(ctx, oid)
	if err != nil {
		return s.fail(ctx, "MarkPublished", oid.Hex(), err)
	}
	defer doc.unlock()
	for {
		popped := false
		for _, st := range steps {
			r, err := s.coll.UpdateOne(ctx, st.filter, st.update)
			if err != nil {
				return s.fail(ctx, "MarkPublished", oid.Hex(), err)
			}
			if r.MatchedCount == 0 {
				continue
			}
			if st.last {
				return nil
			}
			popped = true
			break
		}
		if popped {
			continue
		}
		// No step matched. Either nothing at or below version is left, or
		// another writer popped between two of the steps and each one
		// missed the state it was written for (without the document lock,
		// two processes marking one ticket do that). Only a fresh look
		// tells which.
		err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: oid}, first},
			options.FindOne().SetProjection(bson.D{{Key: fID, Value: 1}})).Err()
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return nil
		case err != nil:
			return s.fail(ctx, "MarkPublished", oid.Hex(), err)
		}
	}
}

// Wake implements tickets.Outbox: it receives after a Create or Update
// through this Store value succeeds. Signals coalesce.
func (s *Store) Wake() <-chan struct{} { return s.wake }
