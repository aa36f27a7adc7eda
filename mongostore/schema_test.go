package mongostore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/tickets"
)

func TestEnsureIndexesIsIdempotent(t *testing.T) {
	s, db := open(t) // has called it once
	if err := s.EnsureIndexes(ctx(t)); err != nil {
		t.Fatalf("EnsureIndexes again: %v", err)
	}
	// Another Store value, as another process would be, agrees too.
	other, err := mongostore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.EnsureIndexes(ctx(t)); err != nil {
		t.Fatalf("EnsureIndexes from a second Store: %v", err)
	}
	cur, err := db.Collection(mongostore.DefaultCollection).Indexes().List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var specs []struct {
		Name string `bson:"name"`
		Key  bson.D `bson:"key"`
	}
	if err := cur.All(ctx(t), &specs); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]bool)
	for _, sp := range specs {
		var keys []string
		for _, k := range sp.Key {
			keys = append(keys, k.Key)
		}
		got[strings.Join(keys, ",")] = true
	}
	for _, want := range []string{"_id", "userId,_id", "orderId,_id", "pendingSince,_id"} {
		if !got[want] {
			t.Errorf("no index on %s; indexes: %+v", want, specs)
		}
	}
	if len(specs) != 4 {
		t.Errorf("%d indexes, want 4: %+v", len(specs), specs)
	}
}

// raw reads the stored document of ticket id.
func raw(t *testing.T, coll *mongo.Collection, id string) bson.Raw {
	t.Helper()
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := coll.FindOne(ctx(t), bson.D{{Key: "_id", Value: oid}}).Raw()
	if err != nil {
		t.Fatalf("read document %s: %v", id, err)
	}
	return doc
}

// assertField checks the BSON type and value of a field of doc.
func assertField(t *testing.T, doc bson.Raw, key string, want any) {
	t.Helper()
	v, err := doc.LookupErr(strings.Split(key, ".")...)
	if err != nil {
		t.Fatalf("field %s: %v in %s", key, err, doc)
	}
	var ok bool
	switch w := want.(type) {
	case string:
		ok = v.Type == bson.TypeString && v.StringValue() == w
	case int64:
		ok = v.Type == bson.TypeInt64 && v.Int64() == w
	case time.Time:
		ok = v.Type == bson.TypeDateTime && v.Time().Equal(w)
	case bson.ObjectID:
		ok = v.Type == bson.TypeObjectID && v.ObjectID() == w
	default:
		t.Fatalf("assertField: unsupported %T", want)
	}
	if !ok {
		t.Fatalf("field %s = %s (%s), want %T %v", key, v, v.Type, want, want)
	}
}

func assertAbsent(t *testing.T, doc bson.Raw, key string) {
	t.Helper()
	if _, err := doc.LookupErr(key); err == nil {
		t.Fatalf("field %s present in %s", key, doc)
	}
}

func outboxLen(t *testing.T, doc bson.Raw) int {
	t.Helper()
	v, err := doc.LookupErr("outbox")
	if err != nil || v.Type != bson.TypeArray {
		t.Fatalf("outbox = %v (%v), want an array", v, err)
	}
	vals, err := v.Array().Values()
	if err != nil {
		t.Fatal(err)
	}
	return len(vals)
}

// TestDocumentLayout pins the stored layout the package doc describes:
// ObjectId _id, int64 cents, BSON dates, orderId only while reserved, the
// outbox of snapshots and pendingSince exactly while it is not empty.
func TestDocumentLayout(t *testing.T) {
	s, db := open(t, mongostore.WithCollection("resale_tickets"))
	coll := db.Collection("resale_tickets")
	tk := newTicket("user-1", "concert")
	tk.ID = strings.ToUpper(tk.ID) // stored by value, read back in lower case
	mustCreate(t, s, tk)
	id := strings.ToLower(tk.ID)
	oid, _ := bson.ObjectIDFromHex(id)

	doc := raw(t, coll, id)
	assertField(t, doc, "_id", oid)
	assertField(t, doc, "title", "concert")
	assertField(t, doc, "price", int64(1250))
	assertField(t, doc, "userId", "user-1")
	assertField(t, doc, "version", int64(0))
	assertField(t, doc, "createdAt", tk.CreatedAt)
	assertField(t, doc, "updatedAt", tk.UpdatedAt)
	assertAbsent(t, doc, "orderId")
	if n := outboxLen(t, doc); n != 1 {
		t.Fatalf("outbox has %d entries, want 1", n)
	}
	assertField(t, doc, "outbox.0.kind", "created")
	assertField(t, doc, "outbox.0.version", int64(0))
	assertField(t, doc, "outbox.0.title", "concert")
	assertField(t, doc, "outbox.0.price", int64(1250))
	assertField(t, doc, "outbox.0.updatedAt", tk.UpdatedAt)
	if v, err := doc.LookupErr("pendingSince"); err != nil || v.Type != bson.TypeDateTime {
		t.Fatalf("pendingSince = %v (%v), want a date", v, err)
	}
	if n, err := db.Collection(mongostore.DefaultCollection).CountDocuments(ctx(t), bson.D{}); err != nil || n != 0 {
		t.Fatalf("default collection holds %d documents (%v), want 0 with WithCollection", n, err)
	}

	got, err := s.Get(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	reserved := got
	reserved.OrderID = tickets.NewID()
	reserved.Price = tickets.Cents(99_999_999_99)
	reserved.UpdatedAt = got.UpdatedAt.Add(time.Minute)
	if _, err := s.Update(ctx(t), reserved, 0); err != nil {
		t.Fatal(err)
	}
	doc = raw(t, coll, id)
	assertField(t, doc, "orderId", reserved.OrderID)
	assertField(t, doc, "price", int64(99_999_999_99))
	assertField(t, doc, "version", int64(1))
	assertField(t, doc, "outbox.1.kind", "updated")
	assertField(t, doc, "outbox.1.version", int64(1))
	assertField(t, doc, "outbox.1.orderId", reserved.OrderID)
	assertField(t, doc, "outbox.1.updatedAt", reserved.UpdatedAt)

	released := reserved
	released.OrderID = ""
	if _, err := s.Update(ctx(t), released, 1); err != nil {
		t.Fatal(err)
	}
	doc = raw(t, coll, id)
	assertAbsent(t, doc, "orderId")
	assertField(t, doc, "version", int64(2))
	if n := outboxLen(t, doc); n != 3 {
		t.Fatalf("outbox has %d entries, want 3", n)
	}

	if err := s.MarkPublished(ctx(t), []tickets.Change{at(id, 1)}); err != nil {
		t.Fatal(err)
	}
	doc = raw(t, coll, id)
	if n := outboxLen(t, doc); n != 1 {
		t.Fatalf("outbox has %d entries after marking up to version 1, want 1", n)
	}
	assertField(t, doc, "outbox.0.version", int64(2))
	if _, err := doc.LookupErr("pendingSince"); err != nil {
		t.Fatal("pendingSince gone while a change is pending")
	}
	if err := s.MarkPublished(ctx(t), []tickets.Change{at(strings.ToUpper(id), 2)}); err != nil {
		t.Fatal(err)
	}
	doc = raw(t, coll, id)
	if n := outboxLen(t, doc); n != 0 {
		t.Fatalf("outbox has %d entries after marking all, want 0", n)
	}
	assertAbsent(t, doc, "pendingSince")
}

// TestOperatorShapedValuesStayData goes beyond storetest: operator-shaped
// ids never match anything in Get, Update or MarkPublished, and
// operator-shaped titles, user ids and order ids are stored as plain BSON
// strings and found only by exact equality.
func TestOperatorShapedValuesStayData(t *testing.T) {
	s, db := open(t)
	coll := db.Collection(mongostore.DefaultCollection)
	weird := []string{"$gt", `{"$gt":""}`, `{"$ne":null}`, "$where", "a.b", "$set.title", `{"$regex":".*"}`, "this.userId == this.userId"}
	var created []tickets.Ticket
	for _, w := range weird {
		created = append(created, mustCreate(t, s, newTicket(w, w)))
	}
	plain := mustCreate(t, s, newTicket("plain-user", "plain"))

	for i, w := range weird {
		tk := created[i]
		tk.OrderID = w // reserve it with an operator-shaped order id
		got, err := s.Update(ctx(t), tk, 0)
		if err != nil {
			t.Fatalf("Update with orderId %q: %v", w, err)
		}
		if got.OrderID != w {
			t.Fatalf("orderId stored as %q, want %q", got.OrderID, w)
		}
		doc := raw(t, coll, tk.ID)
		assertField(t, doc, "title", w)
		assertField(t, doc, "userId", w)
		assertField(t, doc, "orderId", w)
		assertField(t, doc, "outbox.1.orderId", w)
	}

	for _, id := range []string{`{"$gt":""}`, `{"$ne":null}`, "$gt", "$where", `{"_id":{"$exists":true}}`, strings.Repeat("0", 23) + "$"} {
		if _, err := s.Get(ctx(t), id); !errors.Is(err, tickets.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want not found", id, err)
		}
		attack := plain
		attack.ID, attack.Title = id, "overwritten"
		if _, err := s.Update(ctx(t), attack, 0); !errors.Is(err, tickets.ErrNotFound) {
			t.Errorf("Update(id %q) error = %v, want not found", id, err)
		}
		if err := s.MarkPublished(ctx(t), []tickets.Change{at(id, 1<<62)}); err != nil {
			t.Errorf("MarkPublished(%q): %v", id, err)
		}
		if _, err := s.List(ctx(t), tickets.Filter{After: id}); tickets.ErrorCode(err) != tickets.EINVALID {
			t.Errorf("List(After %q) error = %v, want EINVALID", id, err)
		}
	}
	// Nothing above touched any ticket or its outbox.
	got, err := s.Get(ctx(t), plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "plain" || got.Version != 0 {
		t.Fatalf("plain ticket changed: %+v", got)
	}
	if p := mustPending(t, s, 100); len(p) != 2*len(weird)+1 {
		t.Fatalf("outbox has %d changes, want %d", len(p), 2*len(weird)+1)
	}

	for _, userID := range []string{`{"$exists":true}`, `{"$gt":""}x`, "$", ".*"} {
		page, err := s.List(ctx(t), tickets.Filter{UserID: userID})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Tickets) != 0 {
			t.Fatalf("List(UserID %q) matched %d tickets, want 0", userID, len(page.Tickets))
		}
	}
	// Reserved with operator-shaped order ids, the weird tickets are not
	// unreserved; the plain one is.
	page, err := s.List(ctx(t), tickets.Filter{Unreserved: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 1 || page.Tickets[0].ID != plain.ID {
		t.Fatalf("List(Unreserved) = %+v, want only the plain ticket", page.Tickets)
	}
}
