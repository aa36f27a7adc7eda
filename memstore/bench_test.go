package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/store"
)

type benchDoc struct {
	Title string `bson:"title"`
	Price int64  `bson:"price"`
}

// BenchmarkFindPage lists a page of 20 from the middle of a collection
// of n documents, as GET /api/tickets does: its cost should not grow
// with n (it was a scan and a sort of all n; issue 20, finding 11).
func BenchmarkFindPage(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			ob, err := memstore.NewDB().NewOutbox(outbox.TTL(time.Hour)) // no relay renews it
			if err != nil {
				b.Fatal(err)
			}
			c, err := memstore.NewCollection[benchDoc](ob, "bench")
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			ids := make([]string, n)
			for i := range ids {
				ids[i] = ticketkit.NewID()
				if err := c.Insert(ctx, ids[i], benchDoc{Title: "t", Price: int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			cursor := ids[n/2]
			b.ReportAllocs()
			for b.Loop() {
				recs, err := c.Find(ctx, nil, store.After(cursor), store.Limit(20))
				if err != nil || len(recs) != 20 {
					b.Fatalf("Find = %d records, %v", len(recs), err)
				}
			}
		})
	}
}
