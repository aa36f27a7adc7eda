// Package storetest is the conformance suite of the storage API (package
// store): every backend's Collection and Replica pass it, so a service
// written on one runs unchanged on the other. memstore and mongostore run
// it in their tests.
package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/idempotency"
	"github.com/ticketkit/ticketkit/store"
)

// Doc is the suite's document type.
type Doc struct {
	Name  string `bson:"name" json:"name"`
	Owner string `bson:"owner,omitempty" json:"owner,omitempty"`
	N     int64  `bson:"n" json:"n"`
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// RunCollection runs the suite on the collections open returns: each
// call a new, empty one.
func RunCollection(t *testing.T, open func(t *testing.T) store.Collection[Doc]) {
	t.Run("InsertGet", func(t *testing.T) {
		c, ctx := open(t), ctxFor(t)
		id := ticketkit.NewID()
		if err := c.Insert(ctx, strings.ToUpper(id), Doc{Name: "a", N: 1}); err != nil {
			t.Fatal(err)
		}
		r, err := c.Get(ctx, id)
		if err != nil || r.ID != id || r.Version != 0 || r.Doc != (Doc{Name: "a", N: 1}) {
			t.Fatalf("Get = %+v, %v", r, err)
		}
		if err := c.Insert(ctx, id, Doc{}); !errors.Is(err, ticketkit.ErrConflict) {
			t.Errorf("second Insert: %v, want ECONFLICT", err)
		}
		if err := c.Insert(ctx, "nope", Doc{}); !errors.Is(err, ticketkit.ErrInvalid) {
			t.Errorf("Insert of a bad id: %v, want EINVALID", err)
		}
		for _, missing := range []string{ticketkit.NewID(), "nope", "$where"} {
			if _, err := c.Get(ctx, missing); !errors.Is(err, ticketkit.ErrNotFound) {
				t.Errorf("Get(%q): %v, want ENOTFOUND", missing, err)
			}
		}
	})
	t.Run("IdempotencyKey", func(t *testing.T) { runIdempotency(t, open) })
	t.Run("ConcurrentInsertsEachTheirOwnOutcome", func(t *testing.T) {
		// Concurrent inserts, a quarter of them of ids that exist: those
		// fail alone, whatever a backend gathers into one write.
		c, ctx := open(t), ctxFor(t)
		const n = 32
		ids := make([]string, n)
		for i := range ids {
			ids[i] = ticketkit.NewID()
			if i%4 == 0 {
				if err := c.Insert(ctx, ids[i], Doc{Name: "first"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = c.Insert(ctx, ids[i], Doc{Name: "second", N: int64(i)}) })
		}
		wg.Wait()
		for i, err := range errs {
			want := "second"
			if i%4 == 0 {
				want = "first"
				if !errors.Is(err, ticketkit.ErrConflict) {
					t.Errorf("insert %d of an existing id: %v, want ECONFLICT", i, err)
				}
			} else if err != nil {
				t.Errorf("insert %d: %v", i, err)
			}
			if r, err := c.Get(ctx, ids[i]); err != nil || r.Doc.Name != want {
				t.Errorf("document %d = %+v, %v; want %q", i, r, err, want)
			}
		}
	})
	t.Run("CompareAndSet", func(t *testing.T) {
		c, ctx := open(t), ctxFor(t)
		id := ticketkit.NewID()
		if err := c.Insert(ctx, id, Doc{Name: "a", Owner: "alice"}); err != nil {
			t.Fatal(err)
		}
		r, err := c.Update(ctx, id, 0, Doc{Name: "b", Owner: "alice"})
		if err != nil || r.Version != 1 || r.Doc.Name != "b" {
			t.Fatalf("Update = %+v, %v", r, err)
		}
		if _, err := c.Update(ctx, id, 0, Doc{Name: "stale"}); !errors.Is(err, ticketkit.ErrConflict) {
			t.Errorf("Update of an old version: %v, want ECONFLICT", err)
		}
		if _, err := c.UpdateIf(ctx, id, 1, store.Filter{"owner": "bob"}, Doc{Name: "theft", Owner: "bob"}); !errors.Is(err, ticketkit.ErrConflict) {
			t.Errorf("UpdateIf with a false guard: %v, want ECONFLICT", err)
		}
		if r, err := c.UpdateIf(ctx, id, 1, store.Filter{"owner": "alice"}, Doc{Name: "c", Owner: "alice"}); err != nil || r.Version != 2 {
			t.Errorf("UpdateIf with a true guard: %+v, %v", r, err)
		}
		if _, err := c.Update(ctx, ticketkit.NewID(), 0, Doc{}); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Errorf("Update of a missing document: %v, want ENOTFOUND", err)
		}
		if r, err := c.Get(ctx, id); err != nil || r.Version != 2 || r.Doc.Name != "c" {
			t.Errorf("after the updates: %+v, %v", r, err)
		}
	})
	t.Run("Find", func(t *testing.T) {
		c, ctx := open(t), ctxFor(t)
		var ids []string
		for i, owner := range []string{"alice", "", "alice", "bob", "alice"} {
			id := ticketkit.NewID()
			ids = append(ids, id)
			if err := c.Insert(ctx, id, Doc{Name: "d", Owner: owner, N: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		names := func(rs []store.Record[Doc]) (out []int64) {
			for _, r := range rs {
				out = append(out, r.Doc.N)
			}
			return out
		}
		for _, tc := range []struct {
			name   string
			filter store.Filter
			opts   []store.FindOption
			want   []int64
		}{
			{"all", nil, nil, []int64{0, 1, 2, 3, 4}},
			{"by owner", store.Filter{"owner": "alice"}, nil, []int64{0, 2, 4}},
			{"absent", store.Filter{"owner": nil}, nil, []int64{1}},
			{"two fields", store.Filter{"owner": "alice", "n": int64(2)}, nil, []int64{2}},
			{"page", store.Filter{"owner": "alice"}, []store.FindOption{store.After(ids[0]), store.Limit(1)}, []int64{2}},
			{"operator-shaped value", store.Filter{"owner": `{"$ne":""}`}, nil, nil},
		} {
			rs, err := c.Find(ctx, tc.filter, tc.opts...)
			if got := names(rs); err != nil || len(got) != len(tc.want) || (len(got) > 0 && !equal(got, tc.want)) {
				t.Errorf("Find %s = %v, %v; want %v", tc.name, got, err, tc.want)
			}
		}
		if _, err := c.Find(ctx, nil, store.After("nope")); !errors.Is(err, ticketkit.ErrInvalid) {
			t.Errorf("Find after a bad cursor: %v, want EINVALID", err)
		}
	})
}

func equal(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// RunReplica runs the suite on the replicas open returns: each call a
// new, empty replica, as two handles on it (two instances of a service
// sharing its database).
func RunReplica(t *testing.T, open func(t *testing.T) (a, b store.Replica[Doc])) {
	t.Run("VersionOrder", func(t *testing.T) {
		a, b := open(t)
		ctx, id := ctxFor(t), ticketkit.NewID()
		apply := func(r store.Replica[Doc], v int64, want events.Ordering) {
			t.Helper()
			got, err := r.Apply(ctx, id, v, Doc{Name: "v", N: v})
			if got != want || (want == events.OutOfOrder) != errors.Is(err, events.ErrOutOfOrder) || (want != events.OutOfOrder && err != nil) {
				t.Fatalf("Apply v%d = %v, %v; want %v", v, got, err, want)
			}
		}
		apply(a, 1, events.OutOfOrder)
		apply(b, 0, events.Apply)
		apply(a, 0, events.Duplicate) // the other instance's write is seen
		apply(a, 1, events.Apply)
		rec, err := b.Get(ctx, strings.ToUpper(id))
		if err != nil || rec.ID != id || rec.Version != 1 || rec.Doc.N != 1 {
			t.Fatalf("Get = %+v, %v", rec, err)
		}
	})
	t.Run("Modify", func(t *testing.T) {
		a, b := open(t)
		ctx, id := ctxFor(t), ticketkit.NewID()
		rename := func(d *Doc) error { d.Name = "renamed"; return nil }
		if ord, err := a.Modify(ctx, id, 1, rename); ord != events.OutOfOrder || !errors.Is(err, events.ErrOutOfOrder) {
			t.Fatalf("Modify of a copy not there yet = %v, %v; want out of order", ord, err)
		}
		if _, err := a.Apply(ctx, id, 0, Doc{Name: "orig", Owner: "alice", N: 7}); err != nil {
			t.Fatal(err)
		}
		if ord, err := a.Modify(ctx, id, 2, rename); ord != events.OutOfOrder || !errors.Is(err, events.ErrOutOfOrder) {
			t.Fatalf("Modify past the next version = %v, %v; want out of order", ord, err)
		}
		boom := errors.New("boom")
		if _, err := b.Modify(ctx, id, 1, func(*Doc) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("Modify whose function fails: %v", err)
		}
		if ord, err := b.Modify(ctx, id, 1, rename); ord != events.Apply || err != nil {
			t.Fatalf("Modify = %v, %v", ord, err)
		}
		if ord, err := a.Modify(ctx, id, 1, rename); ord != events.Duplicate || err != nil {
			t.Fatalf("Modify again = %v, %v; want duplicate", ord, err)
		}
		rec, err := a.Get(ctx, id)
		if err != nil || rec.Version != 1 || rec.Doc != (Doc{Name: "renamed", Owner: "alice", N: 7}) {
			t.Fatalf("after Modify: %+v, %v", rec, err)
		}
	})
	t.Run("Claim", func(t *testing.T) {
		a, b := open(t)
		ctx, id := ctxFor(t), ticketkit.NewID()
		if _, err := a.Claim(ctx, id, "", "x"); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Fatalf("Claim of a missing copy: %v", err)
		}
		if _, err := a.Apply(ctx, id, 0, Doc{Name: "c"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			r          store.Replica[Doc]
			prev, next string
			want       bool
		}{{a, "", "x", true}, {b, "", "y", false}, {b, "x", "y", true}, {a, "y", "", true}, {b, "", "z", true}} {
			if got, err := c.r.Claim(ctx, id, c.prev, c.next); got != c.want || err != nil {
				t.Fatalf("Claim(%q→%q) = %v, %v; want %v", c.prev, c.next, got, err, c.want)
			}
		}
		if _, err := a.Apply(ctx, id, 1, Doc{Name: "d"}); err != nil {
			t.Fatal(err)
		}
		if rec, err := b.Get(ctx, id); err != nil || rec.Claim != "z" || rec.Doc.Name != "d" {
			t.Fatalf("Apply must leave the claim alone: %+v, %v", rec, err)
		}
	})
	t.Run("GetMany", func(t *testing.T) {
		a, _ := open(t)
		ctx := ctxFor(t)
		x, y := ticketkit.NewID(), ticketkit.NewID()
		for _, id := range []string{x, y} {
			if _, err := a.Apply(ctx, id, 0, Doc{Name: id}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := a.GetMany(ctx, []string{strings.ToUpper(x), y, ticketkit.NewID(), "nope"})
		if err != nil || len(got) != 2 || got[x].Doc.Name != x || got[y].Doc.Name != y {
			t.Fatalf("GetMany = %+v, %v", got, err)
		}
	})
}

// runIdempotency checks that an idempotency key in Insert's context makes
// a repeat write nothing, and a reuse with another request fail.
func runIdempotency(t *testing.T, open func(t *testing.T) store.Collection[Doc]) {
	c, ctx := open(t), ctxFor(t)
	k := idempotency.New("alice", "key-1", []byte("POST /docs {a}"), 0)
	kctx := idempotency.NewContext(ctx, k)
	first := ticketkit.NewID()
	if err := c.Insert(kctx, first, Doc{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := idempotency.ReplayedID(kctx); ok {
		t.Error("the first Insert was marked replayed")
	}
	// The same key and request again, under a new id: nothing written.
	again := idempotency.New("alice", "key-1", []byte("POST /docs {a}"), 0)
	actx := idempotency.NewContext(ctx, again)
	var replayed *idempotency.Replayed
	if err := c.Insert(actx, ticketkit.NewID(), Doc{Name: "a"}); !errors.As(err, &replayed) || replayed.ID != first {
		t.Fatalf("repeated Insert: %v, want Replayed{%s}", err, first)
	}
	if id, ok := idempotency.ReplayedID(actx); !ok || id != first {
		t.Errorf("ReplayedID = %q, %v", id, ok)
	}
	// The same key with another request.
	other := idempotency.NewContext(ctx, idempotency.New("alice", "key-1", []byte("POST /docs {b}"), 0))
	if err := c.Insert(other, ticketkit.NewID(), Doc{Name: "b"}); !errors.Is(err, idempotency.ErrReused) {
		t.Errorf("Insert with a reused key: %v, want ErrReused", err)
	}
	if _, err := c.ByKey(ctx, idempotency.New("alice", "key-1", []byte("POST /docs {b}"), 0)); !errors.Is(err, idempotency.ErrReused) {
		t.Errorf("ByKey with another request: %v, want ErrReused", err)
	}
	// Another caller's same key is another key.
	bob := idempotency.NewContext(ctx, idempotency.New("bob", "key-1", []byte("POST /docs {a}"), 0))
	if err := c.Insert(bob, ticketkit.NewID(), Doc{Name: "a"}); err != nil {
		t.Errorf("Insert with bob's key-1: %v", err)
	}
	if r, err := c.ByKey(ctx, k); err != nil || r.ID != first || r.Doc.Name != "a" {
		t.Errorf("ByKey = %+v, %v", r, err)
	}
	if _, err := c.ByKey(ctx, idempotency.New("alice", "key-2", nil, 0)); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Errorf("ByKey of an unused key: %v, want ENOTFOUND", err)
	}
	if all, err := c.Find(ctx, store.Filter{}); err != nil || len(all) != 2 {
		t.Errorf("Find: %d documents, %v; want 2 (alice's and bob's)", len(all), err)
	}

	// An expired key is forgotten: the next Insert with it creates.
	old := idempotency.New("carol", "key-1", []byte("x"), 0)
	old.Expires = time.Now().Add(-time.Minute)
	oldID := ticketkit.NewID()
	if err := c.Insert(idempotency.NewContext(ctx, old), oldID, Doc{Name: "old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ByKey(ctx, old); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Errorf("ByKey of an expired key: %v, want ENOTFOUND", err)
	}
	fresh := idempotency.New("carol", "key-1", []byte("y"), 0)
	freshID := ticketkit.NewID()
	if err := c.Insert(idempotency.NewContext(ctx, fresh), freshID, Doc{Name: "new"}); err != nil {
		t.Fatalf("Insert with an expired key: %v", err)
	}
	if r, err := c.ByKey(ctx, fresh); err != nil || r.ID != freshID {
		t.Errorf("ByKey after the expired key was taken = %+v, %v", r, err)
	}

	// Concurrent repeats: one document, every other attempt replayed.
	race := ticketkit.NewID()
	const n = 8
	errs := make(chan error, n)
	ids := make(chan string, n)
	for i := range n {
		go func() {
			id := race
			if i > 0 {
				id = ticketkit.NewID()
			}
			err := c.Insert(idempotency.NewContext(ctx, idempotency.New("dave", "k", []byte("r"), 0)), id, Doc{Name: "race"})
			if err == nil {
				ids <- id
			}
			errs <- err
		}()
	}
	created := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			created++
		case errors.As(err, &replayed):
		default:
			t.Errorf("concurrent Insert: %v", err)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent Inserts with one key created a document, want 1", created, n)
	}
	made := <-ids
	if docs, err := c.Find(ctx, store.Filter{"name": "race"}); err != nil || len(docs) != 1 || docs[0].ID != made {
		t.Errorf("Find race = %+v, %v", docs, err)
	}
}

// UniqueDoc is the document type of RunUnique: its email is unique
// (store.Unique).
type UniqueDoc struct {
	Email string `bson:"email" json:"email"`
	Name  string `bson:"name" json:"name"`
}

// UniqueFields implements store.Unique.
func (UniqueDoc) UniqueFields() []string { return []string{"email"} }

// RunUnique checks that a Unique field's value is held by one document at
// most: a second Insert or an Update to a taken value is ECONFLICT and
// writes nothing, a value freed by an update can be taken, and of
// simultaneous inserts of one value exactly one succeeds. open returns a
// new, empty collection, its indexes made.
func RunUnique(t *testing.T, open func(t *testing.T) store.Collection[UniqueDoc]) {
	c, ctx := open(t), ctxFor(t)
	a, b := ticketkit.NewID(), ticketkit.NewID()
	if err := c.Insert(ctx, a, UniqueDoc{Email: "a@example.com", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Insert(ctx, b, UniqueDoc{Email: "a@example.com", Name: "b"}); !errors.Is(err, ticketkit.ErrConflict) {
		t.Fatalf("Insert of a taken email: %v, want ECONFLICT", err)
	}
	if _, err := c.Get(ctx, b); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Errorf("the refused Insert was stored: %v", err)
	}
	if err := c.Insert(ctx, b, UniqueDoc{Email: "A@example.com", Name: "b"}); err != nil {
		t.Fatalf("Insert of another email (case differs): %v", err)
	}
	if _, err := c.Update(ctx, b, 0, UniqueDoc{Email: "a@example.com", Name: "b"}); !errors.Is(err, ticketkit.ErrConflict) {
		t.Errorf("Update to a taken email: %v, want ECONFLICT", err)
	}
	if r, err := c.Get(ctx, b); err != nil || r.Version != 0 || r.Doc.Email != "A@example.com" {
		t.Errorf("after the refused Update: %+v, %v", r, err)
	}
	// a's email freed, then taken by b; a's own update keeps its value.
	if _, err := c.Update(ctx, a, 0, UniqueDoc{Email: "z@example.com", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, a, 1, UniqueDoc{Email: "z@example.com", Name: "a2"}); err != nil {
		t.Errorf("Update keeping its own email: %v", err)
	}
	if _, err := c.Update(ctx, b, 0, UniqueDoc{Email: "a@example.com", Name: "b"}); err != nil {
		t.Errorf("Update to a freed email: %v", err)
	}
	if rs, err := c.Find(ctx, store.Filter{"email": "a@example.com"}); err != nil || len(rs) != 1 || rs[0].ID != b {
		t.Errorf("Find(a@) = %+v, %v; want b alone", rs, err)
	}

	// Simultaneous inserts of one value: exactly one succeeds.
	const n = 16
	errs := make(chan error, n)
	for range n {
		go func() { errs <- c.Insert(ctx, ticketkit.NewID(), UniqueDoc{Email: "race@example.com"}) }()
	}
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, ticketkit.ErrConflict):
			t.Errorf("a losing Insert: %v, want ECONFLICT", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d simultaneous inserts of one email succeeded, want 1", won, n)
	}
	if rs, err := c.Find(ctx, store.Filter{"email": "race@example.com"}); err != nil || len(rs) != 1 {
		t.Errorf("Find(race@) = %d documents, %v; want 1", len(rs), err)
	}
}
