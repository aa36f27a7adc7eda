package tickets_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
	"github.com/ticketkit/ticketkit/wire"
)

var clock = func() time.Time { return time.Date(2026, 11, 27, 13, 45, 7, 123456789, time.UTC) }

// outboxOf is the outbox of a memstore Store, for reading back what the
// use cases recorded.
type outboxOf struct{ ob *memstore.Outbox }

func newService() (*tickets.Service, outboxOf) {
	ob, err := memstore.NewDB().NewOutbox()
	if err != nil {
		panic(err)
	}
	store, err := memTicketStore(ob)
	if err != nil {
		panic(err)
	}
	svc, err := tickets.NewService(store, tickets.WithClock(clock))
	if err != nil {
		panic(err)
	}
	return svc, outboxOf{ob}
}

// Pending publishes what the use cases recorded so far and returns it as
// the changes it stands for.
func (o outboxOf) Pending(ctx context.Context, _ int) ([]tickets.Change, error) {
	rec := eventstest.NewRecorder(nil)
	r, err := outbox.NewRelay(o.ob, rec)
	if err != nil {
		return nil, err
	}
	if err := r.Flush(ctx); err != nil {
		return nil, err
	}
	var out []tickets.Change
	for _, m := range rec.Messages() {
		switch events.Subject(m.Subject) {
		case wire.SubjectTicketCreated:
			e, err := events.Decode[wire.TicketCreated](m.Data)
			if err != nil {
				return nil, err
			}
			out = append(out, tickets.Change{Kind: tickets.Created, Ticket: tickets.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, UserID: e.UserID, Version: e.Version}})
		default:
			e, err := events.Decode[wire.TicketUpdated](m.Data)
			if err != nil {
				return nil, err
			}
			out = append(out, tickets.Change{Kind: tickets.Updated, Ticket: tickets.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, UserID: e.UserID, OrderID: e.OrderID, Version: e.Version}})
		}
	}
	return out, nil
}

func TestCreateReturnsTheTicketAndItsCreatedChange(t *testing.T) {
	svc, store := newService()
	ch, err := svc.Create(context.Background(), "user-1", tickets.Input{Title: "  concert ", Price: 2000})
	if err != nil {
		t.Fatal(err)
	}
	tk := ch.Ticket
	if ch.Kind != tickets.Created || !ticketkit.ValidID(tk.ID) || tk.Title != "concert" || tk.Price != 2000 ||
		tk.UserID != "user-1" || tk.Version != 0 || tk.OrderID != "" {
		t.Fatalf("Create = %+v", ch)
	}
	if want := clock().Truncate(time.Millisecond); !tk.CreatedAt.Equal(want) || !tk.UpdatedAt.Equal(want) {
		t.Fatalf("times = %v, %v; want %v", tk.CreatedAt, tk.UpdatedAt, want)
	}
	pending, _ := store.Pending(context.Background(), 10)
	tk.CreatedAt, tk.UpdatedAt = time.Time{}, time.Time{} // not on the wire
	if len(pending) != 1 || pending[0].Kind != tickets.Created || !reflect.DeepEqual(pending[0].Ticket, tk) {
		t.Fatalf("outbox = %+v, want the created change", pending)
	}
}

func TestCreateValidates(t *testing.T) {
	svc, store := newService()
	for _, tc := range []struct {
		user   string
		in     tickets.Input
		fields []string
	}{
		{"u", tickets.Input{Title: "", Price: 10}, []string{"title"}},
		{"u", tickets.Input{Title: "   ", Price: 10}, []string{"title"}},
		{"u", tickets.Input{Title: "ok", Price: 0}, []string{"price"}},
		{"u", tickets.Input{Title: "ok", Price: -1}, []string{"price"}},
		{"u", tickets.Input{Title: "ok", Price: ticketkit.MaxMoney + 1}, []string{"price"}},
		{"u", tickets.Input{Title: "", Price: 0}, []string{"title", "price"}},
		{"u", tickets.Input{Title: strings.Repeat("é", tickets.MaxTitleLen+1), Price: 1}, []string{"title"}},
		{"u", tickets.Input{Title: "bad \xff utf8", Price: 1}, []string{"title"}},
		{"u", tickets.Input{Title: "nul\x00byte", Price: 1}, []string{"title"}},
		{"", tickets.Input{Title: "ok", Price: 1}, []string{"userId"}},
	} {
		_, err := svc.Create(context.Background(), tc.user, tc.in)
		var te *ticketkit.Error
		if !errors.As(err, &te) || te.Code != ticketkit.EINVALID {
			t.Errorf("Create(%q, %+v) error = %v, want EINVALID", tc.user, tc.in, err)
			continue
		}
		var got []string
		for _, f := range te.Fields {
			got = append(got, f.Field)
			if f.Message == "" {
				t.Errorf("field %s has no message", f.Field)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("Create(%+v) fields = %v, want %v", tc.in, got, tc.fields)
		}
	}
	if _, err := svc.Create(context.Background(), "u", tickets.Input{Title: strings.Repeat("é", tickets.MaxTitleLen), Price: 1}); err != nil {
		t.Errorf("a title of exactly MaxTitleLen characters: %v", err)
	}
	pending, _ := store.Pending(context.Background(), 100)
	if len(pending) != 1 {
		t.Fatalf("%d changes recorded; only the one valid create should be", len(pending))
	}
}

func create(t *testing.T, svc *tickets.Service) tickets.Ticket {
	t.Helper()
	ch, err := svc.Create(context.Background(), "owner", tickets.Input{Title: "concert", Price: 2000})
	if err != nil {
		t.Fatal(err)
	}
	return ch.Ticket
}

func TestUpdateByOwnerBumpsVersion(t *testing.T) {
	svc, _ := newService()
	tk := create(t, svc)
	ch, err := svc.Update(context.Background(), tk.ID, "owner", tickets.Input{Title: "opera", Price: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Kind != tickets.Updated || ch.Ticket.Version != 1 || ch.Ticket.Title != "opera" || ch.Ticket.Price != 1234 {
		t.Fatalf("Update = %+v", ch)
	}
}

func TestUpdateRefusals(t *testing.T) {
	svc, _ := newService()
	ctx := context.Background()
	tk := create(t, svc)
	valid := tickets.Input{Title: "opera", Price: 1}
	if _, err := svc.Update(ctx, tk.ID, "intruder", valid); !errors.Is(err, ticketkit.ErrNotOwner) {
		t.Errorf("update by non-owner: %v, want not owner", err)
	}
	if _, err := svc.Update(ctx, ticketkit.NewID(), "owner", valid); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Errorf("update of missing ticket: %v, want not found", err)
	}
	if _, err := svc.Update(ctx, tk.ID, "owner", tickets.Input{}); !errors.Is(err, ticketkit.ErrInvalid) {
		t.Errorf("update with invalid input: %v, want invalid", err)
	}
	if _, err := svc.Reserve(ctx, tk.ID, ticketkit.NewID()); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Update(ctx, tk.ID, "owner", valid)
	if !errors.Is(err, tickets.ErrReserved) || ticketkit.ErrorMessage(err) != "Cannot edit a reserved ticket" {
		t.Errorf("update of reserved ticket: %v, want reserved", err)
	}
}

func TestReserveAndRelease(t *testing.T) {
	svc, store := newService()
	ctx := context.Background()
	tk := create(t, svc)
	order, other := ticketkit.NewID(), ticketkit.NewID()

	ch, err := svc.Reserve(ctx, tk.ID, order)
	if err != nil || ch.Kind != tickets.Updated || ch.Ticket.OrderID != order || ch.Ticket.Version != 1 {
		t.Fatalf("Reserve = %+v, %v", ch, err)
	}
	// A redelivered order:created for the same order changes nothing.
	ch, err = svc.Reserve(ctx, tk.ID, strings.ToUpper(order))
	if err != nil || ch.Kind != tickets.Unchanged || ch.Ticket.Version != 1 {
		t.Fatalf("Reserve again = %+v, %v; want unchanged", ch, err)
	}
	if _, err := svc.Reserve(ctx, tk.ID, other); !errors.Is(err, tickets.ErrReserved) {
		t.Fatalf("Reserve for another order: %v, want reserved", err)
	}
	// A cancellation of another order must not free this reservation; it
	// is recorded (so that order can't reserve the ticket later), and its
	// redelivery changes nothing.
	ch, err = svc.Release(ctx, tk.ID, other)
	if err != nil || ch.Kind != tickets.Updated || ch.Ticket.OrderID != order || ch.Ticket.Version != 2 {
		t.Fatalf("Release by other order = %+v, %v; want the reservation kept", ch, err)
	}
	if ch, err = svc.Release(ctx, tk.ID, other); err != nil || ch.Kind != tickets.Unchanged {
		t.Fatalf("Release by other order again = %+v, %v; want unchanged", ch, err)
	}
	ch, err = svc.Release(ctx, tk.ID, order)
	if err != nil || ch.Kind != tickets.Updated || ch.Ticket.OrderID != "" || ch.Ticket.Version != 3 {
		t.Fatalf("Release = %+v, %v", ch, err)
	}
	ch, err = svc.Release(ctx, tk.ID, order)
	if err != nil || ch.Kind != tickets.Unchanged || ch.Ticket.Version != 3 {
		t.Fatalf("Release again = %+v, %v; want unchanged", ch, err)
	}
	for _, bad := range []string{"", "x", `{"$gt":""}`} {
		if _, err := svc.Reserve(ctx, tk.ID, bad); !errors.Is(err, ticketkit.ErrInvalid) {
			t.Errorf("Reserve(order %q): %v, want invalid", bad, err)
		}
		if _, err := svc.Release(ctx, tk.ID, bad); !errors.Is(err, ticketkit.ErrInvalid) {
			t.Errorf("Release(order %q): %v, want invalid", bad, err)
		}
	}
	if _, err := svc.Reserve(ctx, ticketkit.NewID(), order); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Errorf("Reserve(missing ticket): %v, want not found", err)
	}
	pending, _ := store.Pending(ctx, 100)
	if len(pending) != 4 {
		t.Fatalf("outbox has %d changes; want created, reserved, the other order's release recorded, released", len(pending))
	}
}

// racyStore loses the compare-and-set race a fixed number of times, as if
// another writer kept getting in first.
type racyStore struct {
	*ticketstore.Store
	mu    sync.Mutex
	loses int
	calls int
}

func (s *racyStore) Update(ctx context.Context, t tickets.Ticket, expected int64) (tickets.Ticket, error) {
	s.mu.Lock()
	s.calls++
	lose := s.calls <= s.loses
	s.mu.Unlock()
	if lose {
		return tickets.Ticket{}, ticketkit.ErrConflict
	}
	return s.Store.Update(ctx, t, expected)
}

func TestUseCasesRetryLostRacesBoundedly(t *testing.T) {
	ob, err := memstore.NewDB().NewOutbox()
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memTicketStore(ob)
	if err != nil {
		t.Fatal(err)
	}
	store := &racyStore{Store: mem, loses: 3}
	svc, err := tickets.NewService(store)
	if err != nil {
		t.Fatal(err)
	}
	tk := create(t, svc)
	if _, err := svc.Reserve(context.Background(), tk.ID, ticketkit.NewID()); err != nil {
		t.Fatalf("Reserve after 3 lost races: %v", err)
	}
	free := create(t, svc)
	store.calls, store.loses = 0, 100
	_, err = svc.Update(context.Background(), free.ID, "owner", tickets.Input{Title: "x", Price: 1})
	if !errors.Is(err, ticketkit.ErrConflict) {
		t.Fatalf("Update that always loses: %v, want conflict", err)
	}
	if store.calls != 5 {
		t.Fatalf("Update tried %d times, want 5", store.calls)
	}
}

func TestErrorModel(t *testing.T) {
	wrapped := errors.Join(errors.New("context"), ticketkit.Errorf(ticketkit.ENOTFOUND, "Ticket %s is gone", "abc"))
	if !errors.Is(wrapped, ticketkit.ErrNotFound) || errors.Is(wrapped, ticketkit.ErrConflict) {
		t.Fatal("errors.Is must match by code through wrapping")
	}
	if got := ticketkit.ErrorCode(wrapped); got != ticketkit.ENOTFOUND {
		t.Fatalf("ErrorCode = %q", got)
	}
	if got := ticketkit.ErrorMessage(wrapped); got != "Ticket abc is gone" {
		t.Fatalf("ErrorMessage = %q", got)
	}
	plain := errors.New("mongo: connection refused at 10.0.0.1")
	if ticketkit.ErrorCode(plain) != ticketkit.EINTERNAL || ticketkit.ErrorMessage(plain) != "Internal error" {
		t.Fatal("a foreign error must be internal and keep its details out of the message")
	}
	if ticketkit.ErrorCode(nil) != "" || ticketkit.ErrorMessage(nil) != "" {
		t.Fatal("nil has no code or message")
	}
	cause := context.DeadlineExceeded
	err := ticketkit.Errorf(ticketkit.EINTERNAL, "Store timed out: %w", cause)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("Errorf with %w must keep the cause")
	}
}

func TestNewIDIsAnObjectIDAndUnique(t *testing.T) {
	seen := make(map[string]bool)
	for range 100000 {
		id := ticketkit.NewID()
		if !ticketkit.ValidID(id) || id != strings.ToLower(id) {
			t.Fatalf("NewID() = %q, not a lower-case 24-hex id", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %s", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "abc", strings.Repeat("g", 24), strings.Repeat("a", 25), `{"$gt":""}xxxxxxxxxxxxx`} {
		if ticketkit.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestPageSize(t *testing.T) {
	for limit, want := range map[int]int{-1: 20, 0: 20, 1: 1, 100: 100, 101: 100, 1 << 30: 100} {
		if got := (tickets.Filter{Limit: limit}).PageSize(); got != want {
			t.Errorf("PageSize(%d) = %d, want %d", limit, got, want)
		}
	}
}

func TestServiceReadsThroughItsStore(t *testing.T) {
	svc, _ := newService()
	tk := create(t, svc)
	got, err := svc.Get(context.Background(), tk.ID)
	if err != nil || !reflect.DeepEqual(got, tk) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, err := svc.Get(context.Background(), ticketkit.NewID()); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Fatalf("Get(missing) = %v", err)
	}
	page, err := svc.List(context.Background(), tickets.Filter{Unreserved: true})
	if err != nil || len(page.Tickets) != 1 || !reflect.DeepEqual(page.Tickets[0], tk) {
		t.Fatalf("List = %+v, %v", page, err)
	}
}

// An order:created that comes back after its order:cancelled (redelivered,
// or overtaken on the other subject) must not reserve the ticket for an
// order that is over.
func TestReserveIgnoresReleasedOrders(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService()
	tk := create(t, svc)
	order := ticketkit.NewID()
	if _, err := svc.Reserve(ctx, tk.ID, order); err != nil {
		t.Fatal(err)
	}
	if ch, err := svc.Release(ctx, tk.ID, order); err != nil || ch.Kind != tickets.Updated || ch.Ticket.Reserved() {
		t.Fatalf("Release = %+v, %v", ch, err)
	}
	if ch, err := svc.Reserve(ctx, tk.ID, order); err != nil || ch.Kind != tickets.Unchanged || ch.Ticket.Reserved() {
		t.Fatalf("Reserve of a released order = %+v, %v; want Unchanged, the ticket free", ch, err)
	}
	// The cancellation first: the creation arriving after it reserves nothing.
	late := ticketkit.NewID()
	if _, err := svc.Release(ctx, tk.ID, late); err != nil {
		t.Fatal(err)
	}
	if ch, err := svc.Reserve(ctx, tk.ID, late); err != nil || ch.Kind != tickets.Unchanged || ch.Ticket.Reserved() {
		t.Fatalf("Reserve after its own cancellation = %+v, %v; want Unchanged", ch, err)
	}
	// A live order still reserves it, and a stale cancellation of another
	// order leaves that reservation alone.
	live := ticketkit.NewID()
	if ch, err := svc.Reserve(ctx, tk.ID, live); err != nil || ch.Ticket.OrderID != live {
		t.Fatalf("Reserve(live) = %+v, %v", ch, err)
	}
	if ch, err := svc.Release(ctx, tk.ID, order); err != nil || ch.Ticket.OrderID != live {
		t.Fatalf("stale Release = %+v, %v; want the live reservation kept", ch, err)
	}
	// The list is bounded.
	for range 2 * tickets.MaxReleased {
		if _, err := svc.Release(ctx, tk.ID, ticketkit.NewID()); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := svc.Get(ctx, tk.ID)
	if len(got.Released) != tickets.MaxReleased {
		t.Fatalf("Released holds %d orders, want %d", len(got.Released), tickets.MaxReleased)
	}
}
