package memstore_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/store"
)

// A page of Find costs the page, not the collection: it allocated a
// record for every document and sorted them all, for each list (issue
// 20, finding 11). Measured in bytes allocated, which, unlike time, a
// busy machine doesn't change.
func TestFindPageDoesNotCopyTheCollection(t *testing.T) {
	const n, page = 50_000, 20
	ob, err := memstore.NewDB().NewOutbox(outbox.TTL(time.Hour)) // no relay renews it
	if err != nil {
		t.Fatal(err)
	}
	c, err := memstore.NewCollection[benchDoc](ob, "find")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ticketkit.NewID()
		if err := c.Insert(ctx, ids[i], benchDoc{Title: "t", Price: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := c.Find(ctx, nil, store.After(ids[n/2]), store.Limit(page))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != page || recs[0].ID != ids[n/2+1] || recs[page-1].ID != ids[n/2+page] {
		t.Fatalf("page after %s = %d records from %s, want %d from %s", ids[n/2], len(recs), recs[0].ID, page, ids[n/2+1])
	}
	const runs = 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := c.Find(ctx, nil, store.After(ids[n/2]), store.Limit(page)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// A page of 20 records is a few KiB; a copy of the collection's
	// 50,000 records is megabytes.
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 256<<10 {
		t.Fatalf("a page of %d among %d documents allocated %d bytes per Find", page, n, per)
	}
}
