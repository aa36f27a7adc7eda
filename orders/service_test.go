package orders_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/orders/orderstore"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/wire"
)

type fixture struct {
	svc     *orders.Service
	store   *orderstore.Store
	tickets store.Replica[orders.Ticket]
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ob, err := memstore.NewDB().NewOutbox()
	if err != nil {
		t.Fatal(err)
	}
	orderStore, err := memOrderStore(ob)
	if err != nil {
		t.Fatal(err)
	}
	copies, err := memstore.NewReplica[orders.Ticket](ob.DB(), "tickets")
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{store: orderStore, tickets: copies}
	f.svc = orders.NewService(f.store, orders.NewTickets(f.tickets))
	return f
}

// ticket makes a ticket known to the orders service, as ticket:created does.
func (f fixture) ticket(t *testing.T) string {
	t.Helper()
	id := ticketkit.NewID()
	e := wire.TicketCreated{ID: id, Title: "concert", Price: ticketkit.Cents(2000), UserID: ticketkit.NewID()}
	if err := (wire.TicketCopies{Replica: f.tickets}).OnTicketCreated(context.Background(), e, events.Metadata{}); err != nil {
		t.Fatal(err)
	}
	return id
}

func code(err error) string { return ticketkit.ErrorCode(err) }

func TestCreate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	user := ticketkit.NewID()
	for _, bad := range []string{"", "abc", `{"$gt":""}`} {
		if _, err := f.svc.Create(ctx, user, bad); code(err) != ticketkit.EINVALID {
			t.Errorf("Create(%q): %v, want EINVALID", bad, err)
		}
	}
	if _, err := f.svc.Create(ctx, user, ticketkit.NewID()); code(err) != ticketkit.ENOTFOUND {
		t.Errorf("unknown ticket: %v, want ENOTFOUND", err)
	}
	tk := f.ticket(t)
	p, err := f.svc.Create(ctx, user, tk)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Order
	if o.Status != orders.Created || o.UserID != user || o.Ticket.ID != tk || o.Ticket.Price != ticketkit.Cents(2000) || o.Version != 0 {
		t.Errorf("order %+v", o)
	}
	if d := time.Until(o.ExpiresAt); d < orders.ExpirationWindow-time.Minute || d > orders.ExpirationWindow {
		t.Errorf("expires in %v, want %v", d, orders.ExpirationWindow)
	}
	if p.Ticket.Title != "concert" || p.Ticket.Hold != o.ID {
		t.Errorf("ticket %+v", p.Ticket)
	}
	if _, err := f.svc.Create(ctx, ticketkit.NewID(), tk); !errors.Is(err, orders.ErrTicketReserved) || code(err) != ticketkit.EPRECONDITION {
		t.Errorf("second order of a held ticket: %v, want ERESERVED", err)
	}
	if _, err := f.svc.Cancel(ctx, user, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, ticketkit.NewID(), tk); err != nil {
		t.Errorf("order of a ticket whose order was cancelled: %v", err)
	}
}

// Two simultaneous orders of one ticket: the Node service can create both.
func TestConcurrentOrdersOneWins(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tk := f.ticket(t)
	var won, refused atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := f.svc.Create(ctx, ticketkit.NewID(), tk)
			switch code(err) {
			case "":
				won.Add(1)
			case ticketkit.EPRECONDITION:
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || refused.Load() != 15 {
		t.Fatalf("%d created, %d refused; want 1 and 15", won.Load(), refused.Load())
	}
}

// A claim whose order never got written holds only for HoldGrace.
func TestClaimWithoutOrder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	at := func(d time.Duration) string {
		b, _ := hex.DecodeString(ticketkit.NewID())
		binary.BigEndian.PutUint32(b, uint32(time.Now().Add(-d).Unix()))
		return hex.EncodeToString(b)
	}
	fresh, stale := f.ticket(t), f.ticket(t)
	if ok, err := f.tickets.Claim(ctx, fresh, "", at(0)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := f.tickets.Claim(ctx, stale, "", at(orders.HoldGrace+time.Second)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := f.svc.Create(ctx, ticketkit.NewID(), fresh); code(err) != ticketkit.EPRECONDITION {
		t.Errorf("ticket claimed just now by an order being written: %v, want ERESERVED", err)
	}
	if _, err := f.svc.Create(ctx, ticketkit.NewID(), stale); err != nil {
		t.Errorf("ticket claimed long ago by an order never written: %v, want it free", err)
	}
}

func TestGetAndList(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice, bob := ticketkit.NewID(), ticketkit.NewID()
	a1, _ := f.svc.Create(ctx, alice, f.ticket(t))
	a2, _ := f.svc.Create(ctx, alice, f.ticket(t))
	if _, err := f.svc.Create(ctx, bob, f.ticket(t)); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(ctx, alice, a1.Order.ID)
	if err != nil || got.Order != a1.Order || got.Ticket.Title != "concert" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if _, err := f.svc.Get(ctx, bob, a1.Order.ID); !errors.Is(err, ticketkit.ErrNotOwner) {
		t.Errorf("someone else's order: %v, want ENOTOWNER", err)
	}
	for _, id := range []string{ticketkit.NewID(), "nope"} {
		if _, err := f.svc.Get(ctx, alice, id); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ENOTFOUND", id, err)
		}
	}
	list, err := f.svc.List(ctx, alice)
	if err != nil || len(list) != 2 || list[0].Order.ID != a1.Order.ID || list[1].Order.ID != a2.Order.ID || list[1].Ticket.Title != "concert" {
		t.Errorf("List = %+v, %v", list, err)
	}
}

// expiration:complete and payment:created carry no version: their
// redeliveries must change nothing.
func TestStatusEventsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	user := ticketkit.NewID()
	expired, _ := f.svc.Create(ctx, user, f.ticket(t))
	for i, want := range []bool{true, false, false} {
		c, err := f.svc.Expire(ctx, expired.Order.ID)
		if err != nil || c.Changed != want || c.Order.Status != orders.Cancelled {
			t.Fatalf("Expire #%d = %+v, %v; want changed %v", i+1, c, err, want)
		}
	}
	if _, err := f.svc.Pay(ctx, expired.Order.ID); !errors.Is(err, orders.ErrPaidCancelled) {
		t.Errorf("payment of a cancelled order: %v", err)
	}
	paid, _ := f.svc.Create(ctx, user, f.ticket(t))
	for i, want := range []bool{true, false} {
		c, err := f.svc.Pay(ctx, paid.Order.ID)
		if err != nil || c.Changed != want || c.Order.Status != orders.Complete {
			t.Fatalf("Pay #%d = %+v, %v; want changed %v", i+1, c, err, want)
		}
	}
	if c, err := f.svc.Expire(ctx, paid.Order.ID); err != nil || c.Changed || c.Order.Status != orders.Complete {
		t.Errorf("expiration of a complete order: %+v, %v; want nothing", c, err)
	}
	if _, err := f.svc.Cancel(ctx, user, paid.Order.ID); !errors.Is(err, orders.ErrCompleted) {
		t.Errorf("cancel of a complete order: %v", err)
	}
	if _, err := f.svc.Expire(ctx, ticketkit.NewID()); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Errorf("expiration of an unknown order: %v", err)
	}
	if c, err := f.svc.Cancel(ctx, user, expired.Order.ID); err != nil || c.Changed {
		t.Errorf("cancel of a cancelled order: %+v, %v; want nothing", c, err)
	}
	if _, err := f.svc.Cancel(ctx, ticketkit.NewID(), paid.Order.ID); !errors.Is(err, ticketkit.ErrNotOwner) {
		t.Errorf("cancel of someone else's order: %v", err)
	}
}

func TestFromOrder(t *testing.T) {
	o := orders.Order{ID: ticketkit.NewID(), UserID: ticketkit.NewID(), Status: orders.Created,
		ExpiresAt: time.Date(2026, 11, 27, 13, 45, 7, 123e6, time.UTC), Ticket: orders.TicketRef{ID: ticketkit.NewID(), Price: ticketkit.Cents(1250)}}
	evs := wire.FromOrder(o)
	if len(evs) != 1 {
		t.Fatalf("created: %v", evs)
	}
	b, err := events.Encode(evs[0])
	want := `{"id":"` + o.ID + `","version":0,"status":"created","userId":"` + o.UserID + `","expiresAt":"2026-11-27T13:45:07.123Z","ticket":{"id":"` + o.Ticket.ID + `","price":12.5}}`
	if err != nil || string(b) != want {
		t.Errorf("order:created %s, %v; want %s", b, err, want)
	}
	o.Status, o.Version = orders.Cancelled, 1
	b, _ = events.Encode(wire.FromOrder(o)[0])
	if want := `{"id":"` + o.ID + `","version":1,"ticket":{"id":"` + o.Ticket.ID + `"}}`; string(b) != want {
		t.Errorf("order:cancelled %s, want %s", b, want)
	}
	o.Status, o.Version = orders.Complete, 1
	if evs := wire.FromOrder(o); len(evs) != 0 {
		t.Errorf("complete publishes %v, want nothing (as the Node service)", evs)
	}
}
