package mongostore_test

import (
	"context"
	"sync/atomic"
	"testing"

	mongoevent "go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/testenv"
)

// With WithLeaseDatabase the lease's renewals go through a client of
// their own, so that they never wait for a connection behind the writes
// they fence (issue 20, item 10).
func TestBeatGoesThroughTheLeaseDatabase(t *testing.T) {
	db := testenv.Mongo(t)
	var updates atomic.Int32
	monitor := &mongoevent.CommandMonitor{Started: func(_ context.Context, e *mongoevent.CommandStartedEvent) {
		if e.CommandName == "update" && e.DatabaseName == db.Name() {
			updates.Add(1)
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMaxPoolSize(2).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })

	if _, err := mongostore.NewOutbox(ctx(t), db, mongostore.WithLeaseDatabase(client.Database("another"))); err == nil {
		t.Fatal("NewOutbox with a lease database of another name: no error")
	}
	ob, err := mongostore.NewOutbox(ctx(t), db, mongostore.WithLeaseDatabase(client.Database(db.Name())))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := ob.Beat(ctx(t), outbox.Progress{}); err != nil {
			t.Fatalf("Beat: %v", err)
		}
	}
	if n := updates.Load(); n != 3 {
		t.Fatalf("the lease client sent %d updates for 3 beats, want 3", n)
	}
	ls, err := ob.Writers(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Writer != ob.Queue().Writer() || ls[0].Beat != 3 {
		t.Fatalf("leases after 3 beats = %+v, want this writer's at beat 3", ls)
	}
}
