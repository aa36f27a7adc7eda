package mongostore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	mongoevent "go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/store/storetest"
	"github.com/ticketkit/ticketkit/testenv"
)

// Concurrent inserts with WithGroupCommit go out in fewer insert
// commands than inserts, and each keeps its own outcome: in a batch
// where some documents exist already, those fail with ECONFLICT alone,
// and every other one is stored with its event.
func TestGroupCommitKeepsEachOutcome(t *testing.T) {
	db := testenv.Mongo(t)
	var inserts atomic.Int32
	monitor := &mongoevent.CommandMonitor{Started: func(_ context.Context, e *mongoevent.CommandStartedEvent) {
		if e.CommandName == "insert" && e.DatabaseName == db.Name() {
			inserts.Add(1)
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	ob := newOutbox(t, client.Database(db.Name()))
	c, err := mongostore.NewCollection[storetest.Doc](ob, "docs", mongostore.WithGroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureIndexes(ctx(t)); err != nil {
		t.Fatal(err)
	}
	const n = 64
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ticketkit.NewID()
	}
	// Every fourth id exists already.
	for i := 0; i < n; i += 4 {
		if err := c.Insert(ctx(t), ids[i], storetest.Doc{Name: "first"}); err != nil {
			t.Fatal(err)
		}
	}
	before := inserts.Load()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = c.Insert(ctx(t), ids[i], storetest.Doc{Name: "second"}, eventstest.Sample{ID: ids[i], Title: "t"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i%4 == 0 && !errors.Is(err, ticketkit.ErrConflict):
			t.Errorf("insert %d of an existing id: %v, want ECONFLICT", i, err)
		case i%4 != 0 && err != nil:
			t.Errorf("insert %d: %v", i, err)
		}
	}
	for i, id := range ids {
		r, err := c.Get(ctx(t), id)
		want := "second"
		if i%4 == 0 {
			want = "first"
		}
		if err != nil || r.Doc.Name != want {
			t.Errorf("document %d = %+v, %v; want %q", i, r, err, want)
		}
	}
	commands := inserts.Load() - before
	t.Logf("%d concurrent inserts in %d insert commands", n, commands)
	if commands >= n {
		t.Errorf("%d insert commands for %d concurrent inserts: nothing was gathered", commands, n)
	}
	if msgs := published(t, ob); len(msgs) != n-n/4 {
		t.Errorf("%d events published, want %d (one per stored insert)", len(msgs), n-n/4)
	}
}
