package mongostore_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/store/storetest"
	"github.com/ticketkit/ticketkit/testenv"
)

// throughProxy returns a collection of db reached through a fault proxy,
// and the proxy.
func throughProxy(t *testing.T, db *mongo.Database) (*mongostore.Collection[storetest.Doc], *testenv.Proxy) {
	t.Helper()
	u, err := url.Parse(testenv.MongoURI(t))
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.StartProxy(t, u.Host)
	u.Host = p.Addr()
	client, err := mongo.Connect(options.Client().ApplyURI(u.String()).SetRetryWrites(false).SetServerSelectionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	})
	c, err := mongostore.NewCollection[storetest.Doc](newOutbox(t, client.Database(db.Name())), "docs")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureIndexes(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return c, p
}

// A write whose answer is lost is looked up before the store answers:
// stored means success, not stored means "unknown", never "unavailable",
// which invites a retry.
func TestUnconfirmedWritesAreLookedUp(t *testing.T) {
	db := testenv.Mongo(t)
	c, p := throughProxy(t, db)

	t.Run("InsertStoredButUnanswered", func(t *testing.T) {
		sprung := p.SwallowReply("insert\x00")
		wctx, cancel := context.WithTimeout(ctx(t), 2*time.Second)
		defer cancel()
		id := ticketkit.NewID()
		if err := c.Insert(wctx, id, storetest.Doc{Name: "lost answer"}, eventstest.Sample{ID: id, Title: "x"}); err != nil {
			t.Fatalf("Insert whose answer was lost: %v, want nil (it was stored)", err)
		}
		select {
		case <-sprung:
		default:
			t.Fatal("the proxy never saw the insert")
		}
		if r, err := c.Get(ctx(t), id); err != nil || r.Doc.Name != "lost answer" {
			t.Errorf("Get = %+v, %v", r, err)
		}
	})
	t.Run("InsertLost", func(t *testing.T) {
		sprung := p.SwallowRequest("insert\x00")
		wctx, cancel := context.WithTimeout(ctx(t), 2*time.Second)
		defer cancel()
		id := ticketkit.NewID()
		err := c.Insert(wctx, id, storetest.Doc{Name: "lost"}, eventstest.Sample{ID: id, Title: "x"})
		<-sprung
		if !errors.Is(err, ticketkit.ErrUnknown) || errors.Is(err, ticketkit.ErrUnavailable) {
			t.Fatalf("Insert that never arrived: %v, want EUNKNOWN (the store can't tell it from a late one)", err)
		}
		if _, err := c.Get(ctx(t), id); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Errorf("Get: %v, want ENOTFOUND", err)
		}
	})
	t.Run("UpdateStoredButUnanswered", func(t *testing.T) {
		id := ticketkit.NewID()
		if err := c.Insert(ctx(t), id, storetest.Doc{Name: "v0"}); err != nil {
			t.Fatal(err)
		}
		p.SwallowReply("findAndModify\x00")
		wctx, cancel := context.WithTimeout(ctx(t), 2*time.Second)
		defer cancel()
		r, err := c.Update(wctx, id, 0, storetest.Doc{Name: "v1"}, eventstest.Sample{ID: id, Title: "y", Version: 1})
		if err != nil || r.Version != 1 || r.Doc.Name != "v1" {
			t.Fatalf("Update whose answer was lost = %+v, %v; want version 1 (it was stored)", r, err)
		}
	})
	t.Run("NothingSent", func(t *testing.T) {
		p.Close()
		// The first call on the dropped connections fails: the driver
		// marks the server unknown, and the next one selects none.
		if err := c.Collection().Database().Client().Ping(ctx(t), nil); err == nil {
			t.Fatal("Ping through a closed proxy succeeded")
		}
		wctx, cancel := context.WithTimeout(ctx(t), 5*time.Second)
		defer cancel()
		id := ticketkit.NewID()
		err := c.Insert(wctx, id, storetest.Doc{Name: "unsent"}, eventstest.Sample{ID: id, Title: "x"})
		if !errors.Is(err, ticketkit.ErrUnavailable) {
			t.Fatalf("Insert with no server to send it to: %v, want EUNAVAILABLE", err)
		}
	})
}
