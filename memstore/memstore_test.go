package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/orders/orderstest"
	storesuite "github.com/ticketkit/ticketkit/store/storetest"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/outbox/outboxtest"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/tickets/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// doc is what the outbox suite's writes store.
type doc struct{ N int64 }

type suiteStore struct{ db *memstore.DB }

func (s suiteStore) Open(t *testing.T, opts ...outbox.QueueOption) outboxtest.Instance {
	ob, err := s.db.NewOutbox(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := memstore.NewCollection[doc](ob, "docs")
	if err != nil {
		t.Fatal(err)
	}
	return outboxtest.Instance{
		Driver: ob,
		Write: func(ctx context.Context, id string, v int64, evs ...events.Event) error {
			if v == 0 {
				return c.Insert(ctx, id, doc{}, evs...)
			}
			_, err := c.Update(ctx, id, v-1, doc{N: v}, evs...)
			return err
		},
	}
}

func TestOutboxConformance(t *testing.T) {
	outboxtest.Run(t, func(*testing.T) outboxtest.Store { return suiteStore{memstore.NewDB()} })
}

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		ob, err := memstore.NewDB().NewOutbox()
		if err != nil {
			t.Fatal(err)
		}
		s, err := memTicketStore(ob)
		if err != nil {
			t.Fatal(err)
		}
		return storetest.Store{Store: s, Outbox: ob}
	})
}

func TestStorageConformance(t *testing.T) {
	t.Run("Unique", func(t *testing.T) {
		storesuite.RunUnique(t, func(t *testing.T) store.Collection[storesuite.UniqueDoc] {
			ob, err := memstore.NewDB().NewOutbox()
			if err != nil {
				t.Fatal(err)
			}
			c, err := memstore.NewCollection[storesuite.UniqueDoc](ob, "users")
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
	t.Run("Collection", func(t *testing.T) {
		storesuite.RunCollection(t, func(t *testing.T) store.Collection[storesuite.Doc] {
			ob, err := memstore.NewDB().NewOutbox()
			if err != nil {
				t.Fatal(err)
			}
			c, err := memstore.NewCollection[storesuite.Doc](ob, "docs")
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
	t.Run("Replica", func(t *testing.T) {
		storesuite.RunReplica(t, func(t *testing.T) (store.Replica[storesuite.Doc], store.Replica[storesuite.Doc]) {
			db := memstore.NewDB()
			a, err := memstore.NewReplica[storesuite.Doc](db, "copies")
			if err != nil {
				t.Fatal(err)
			}
			b, err := memstore.NewReplica[storesuite.Doc](db, "copies")
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		})
	})
}

func TestOrdersConformance(t *testing.T) {
	orderstest.RunStore(t, func(t *testing.T) orders.Store {
		ob, err := memstore.NewDB().NewOutbox()
		if err != nil {
			t.Fatal(err)
		}
		s, err := memOrderStore(ob)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	orderstest.RunTickets(t, func(t *testing.T) (orders.Tickets, orderstest.Feed) {
		r, err := memstore.NewReplica[orders.Ticket](memstore.NewDB(), "tickets")
		if err != nil {
			t.Fatal(err)
		}
		return orders.NewTickets(r), func(ctx context.Context, id string, v int64, title string, price ticketkit.Money) error {
			_, err := r.Apply(ctx, id, v, orders.Ticket{Title: title, Price: price})
			return err
		}
	})
}

// A unique index made when the collection already holds documents of
// another type (another Collection of the same name on the DB) counts
// their missing field as one value, as MongoDB's index counts null, and
// never panics.
func TestUniqueOverOtherDocuments(t *testing.T) {
	db := memstore.NewDB()
	ob, err := db.NewOutbox()
	if err != nil {
		t.Fatal(err)
	}
	other, err := memstore.NewCollection[storesuite.Doc](ob, "users")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := other.Insert(ctx, ticketkit.NewID(), storesuite.Doc{Name: "not a user"}); err != nil {
		t.Fatal(err)
	}
	users, err := memstore.NewCollection[storesuite.UniqueDoc](ob, "users")
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Insert(ctx, ticketkit.NewID(), storesuite.UniqueDoc{Email: "a@example.com"}); err != nil {
		t.Errorf("Insert beside a document of another type: %v", err)
	}
	if err := users.Insert(ctx, ticketkit.NewID(), storesuite.UniqueDoc{Email: "a@example.com"}); !errors.Is(err, ticketkit.ErrConflict) {
		t.Errorf("a repeated email: %v, want ECONFLICT", err)
	}
}
