// Package storetest is the conformance suite every tickets.Store passes:
// the in-memory store in its own tests, mongostore against a real server.
// A store that passes it can replace any other without its users noticing.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

// Store is what the suite tests: a tickets.Store together with the
// outbox.Driver its writes go through, because every write must record its
// event atomically.
type Store struct {
	tickets.Store
	Outbox outbox.Driver
}

// published flushes the store's outbox through a Relay and returns what
// it published, in order.
func published(t *testing.T, s Store) []events.Outgoing {
	t.Helper()
	rec := eventstest.NewRecorder(nil)
	r, err := outbox.NewRelay(s.Outbox, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return rec.Messages()
}

// Run runs the suite. open must return an empty store each time it is
// called; it may register cleanup on the t it gets.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(*testing.T, Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"CreateRejectsDuplicateAndInvalidIDs", testCreateRejects},
		{"OperatorShapedInputIsData", testOperatorShapedInput},
		{"ListFiltersAndPages", testList},
		{"ListDefaultLimit", testListDefaultLimit},
		{"ListRejectsBadCursor", testListBadCursor},
		{"UpdateIncrementsVersion", testUpdateIncrementsVersion},
		{"UpdateRejectsStaleVersion", testUpdateRejectsStale},
		{"ConcurrentUpdatesOneWinner", testConcurrentUpdates},
		{"UniqueIDs", testUniqueIDs},
		{"ReleasedOrdersAreKept", testReleasedKept},
		{"OutboxRecordsEveryChange", testOutboxRecords},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// newTicket returns a valid new ticket with times at the millisecond
// precision every database keeps.
func newTicket(userID, title string) tickets.Ticket {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return tickets.Ticket{
		ID:        ticketkit.NewID(),
		Title:     title,
		Price:     ticketkit.Cents(1250),
		UserID:    userID,
		CreatedAt: now,
		UpdatedAt: now,
	}
}

func mustCreate(t *testing.T, s Store, tk tickets.Ticket) tickets.Ticket {
	t.Helper()
	if err := s.Create(ctx(t), tk); err != nil {
		t.Fatalf("Create(%s): %v", tk.ID, err)
	}
	return tk
}

func mustUpdate(t *testing.T, s Store, tk tickets.Ticket) tickets.Ticket {
	t.Helper()
	got, err := s.Update(ctx(t), tk, tk.Version)
	if err != nil {
		t.Fatalf("Update(%s, version %d): %v", tk.ID, tk.Version, err)
	}
	return got
}

func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := ticketkit.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func assertEqual(t *testing.T, got, want tickets.Ticket) {
	t.Helper()
	if got.ID != want.ID || got.Title != want.Title || got.Price != want.Price ||
		got.UserID != want.UserID || got.OrderID != want.OrderID || got.Version != want.Version ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("ticket =\n  %+v\nwant\n  %+v", got, want)
	}
}

func testRoundTrip(t *testing.T, s Store) {
	want := newTicket("user-1", "concert")
	mustCreate(t, s, want)
	got, err := s.Get(ctx(t), want.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	assertEqual(t, got, want)

	// The Node services cast ids case-insensitively; so do stores.
	got, err = s.Get(ctx(t), strings.ToUpper(want.ID))
	if err != nil {
		t.Fatalf("Get(upper-case id): %v", err)
	}
	assertEqual(t, got, want)
}

func testNotFound(t *testing.T, s Store) {
	mustCreate(t, s, newTicket("user-1", "concert"))
	for _, id := range []string{ticketkit.NewID(), "not-an-id", "", "$gt", `{"$gt":""}`, strings.Repeat("z", 24)} {
		_, err := s.Get(ctx(t), id)
		if !errors.Is(err, ticketkit.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want not found", id, err)
		}
	}
	missing := newTicket("user-1", "ghost")
	_, err := s.Update(ctx(t), missing, 0)
	if !errors.Is(err, ticketkit.ErrNotFound) {
		t.Errorf("Update(missing) error = %v, want not found", err)
	}
}

func testCreateRejects(t *testing.T, s Store) {
	tk := mustCreate(t, s, newTicket("user-1", "concert"))
	dup := newTicket("user-2", "imposter")
	dup.ID = tk.ID
	assertCode(t, s.Create(ctx(t), dup), ticketkit.ECONFLICT)
	got, err := s.Get(ctx(t), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, tk)

	for _, id := range []string{"", "abc", "$gt", strings.Repeat("g", 24)} {
		bad := newTicket("user-1", "bad id")
		bad.ID = id
		assertCode(t, s.Create(ctx(t), bad), ticketkit.EINVALID)
	}
}

// testOperatorShapedInput stores values that a careless database adapter
// would turn into query operators, and checks that they stay plain data.
func testOperatorShapedInput(t *testing.T, s Store) {
	weird := []string{"$gt", `{"$gt":""}`, "$where", "a.b", "$set.title"}
	var created []tickets.Ticket
	for _, w := range weird {
		tk := newTicket(w, w)
		created = append(created, mustCreate(t, s, tk))
	}
	mustCreate(t, s, newTicket("plain-user", "plain"))
	for i, w := range weird {
		got, err := s.Get(ctx(t), created[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, created[i])
		page, err := s.List(ctx(t), tickets.Filter{UserID: w})
		if err != nil {
			t.Fatalf("List(UserID %q): %v", w, err)
		}
		if len(page.Tickets) != 1 || page.Tickets[0].ID != created[i].ID {
			t.Fatalf("List(UserID %q) = %+v, want only ticket %s", w, page.Tickets, created[i].ID)
		}
	}
	page, err := s.List(ctx(t), tickets.Filter{UserID: `{"$ne":null}`})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 0 {
		t.Fatalf("List(UserID {$ne:null}) matched %d tickets, want 0", len(page.Tickets))
	}
}

func ids(ts []tickets.Ticket) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// listAll follows cursors from the first page to the last.
func listAll(t *testing.T, s Store, f tickets.Filter) (all []string, pages int) {
	t.Helper()
	for {
		page, err := s.List(ctx(t), f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		if len(page.Tickets) > f.PageSize() {
			t.Fatalf("List(%+v) returned %d tickets, limit is %d", f, len(page.Tickets), f.PageSize())
		}
		pages++
		all = append(all, ids(page.Tickets)...)
		if page.Next == "" {
			return all, pages
		}
		if pages > 100 {
			t.Fatalf("List(%+v) never ends", f)
		}
		f.After = page.Next
	}
}

func testList(t *testing.T, s Store) {
	// Seven tickets: users a and b alternate; tickets 1 and 4 are reserved.
	var all, unreserved, userA, userAUnreserved []string
	for i := range 7 {
		user := "user-a"
		if i%2 == 1 {
			user = "user-b"
		}
		tk := mustCreate(t, s, newTicket(user, fmt.Sprintf("ticket %d", i)))
		if i == 1 || i == 4 {
			tk.OrderID = ticketkit.NewID()
			mustUpdate(t, s, tk)
		}
		all = append(all, tk.ID)
		if tk.OrderID == "" {
			unreserved = append(unreserved, tk.ID)
		}
		if user == "user-a" {
			userA = append(userA, tk.ID)
			if tk.OrderID == "" {
				userAUnreserved = append(userAUnreserved, tk.ID)
			}
		}
	}
	for _, tc := range []struct {
		filter    tickets.Filter
		want      []string
		wantPages int
	}{
		{tickets.Filter{Limit: 3}, all, 3},
		{tickets.Filter{Limit: 7}, all, 1},
		{tickets.Filter{Limit: 100}, all, 1},
		{tickets.Filter{Limit: 2, Unreserved: true}, unreserved, 3},
		{tickets.Filter{Limit: 3, UserID: "user-a"}, userA, 2},
		{tickets.Filter{Limit: 1, UserID: "user-a", Unreserved: true}, userAUnreserved, 3},
		{tickets.Filter{UserID: "nobody"}, nil, 1},
	} {
		got, pages := listAll(t, s, tc.filter)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("List(%+v) ids = %v, want %v (in id order)", tc.filter, got, tc.want)
		}
		if pages != tc.wantPages {
			t.Errorf("List(%+v) took %d pages, want %d", tc.filter, pages, tc.wantPages)
		}
	}
}

func testListDefaultLimit(t *testing.T, s Store) {
	for i := range tickets.DefaultLimit + 1 {
		mustCreate(t, s, newTicket("user-a", fmt.Sprint("ticket ", i)))
	}
	page, err := s.List(ctx(t), tickets.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != tickets.DefaultLimit || page.Next == "" {
		t.Fatalf("List() = %d tickets, next %q; want %d and a cursor", len(page.Tickets), page.Next, tickets.DefaultLimit)
	}
	page, err = s.List(ctx(t), tickets.Filter{After: page.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 1 || page.Next != "" {
		t.Fatalf("second page = %d tickets, next %q; want 1 and no cursor", len(page.Tickets), page.Next)
	}
}

func testListBadCursor(t *testing.T, s Store) {
	mustCreate(t, s, newTicket("user-a", "concert"))
	for _, cursor := range []string{"nope", "$gt", `{"$gt":""}`, strings.Repeat("x", 24)} {
		_, err := s.List(ctx(t), tickets.Filter{After: cursor})
		assertCode(t, err, ticketkit.EINVALID)
	}
}

func testUpdateIncrementsVersion(t *testing.T, s Store) {
	orig := mustCreate(t, s, newTicket("owner", "concert"))
	tk := orig
	for v := int64(1); v <= 3; v++ {
		tk.Title = fmt.Sprint("concert ", v)
		tk.Price = ticketkit.Cents(1000 + v)
		tk.UpdatedAt = tk.UpdatedAt.Add(time.Second)
		// An update naming another owner is refused, and changes nothing.
		forged := tk
		forged.UserID = "someone-else"
		if _, err := s.Update(ctx(t), forged, v-1); !errors.Is(err, ticketkit.ErrConflict) {
			t.Fatalf("Update naming another owner: %v, want ECONFLICT", err)
		}
		// CreatedAt never changes, whatever the caller sends.
		attempt := tk
		attempt.CreatedAt = time.Unix(0, 0).UTC()
		got, err := s.Update(ctx(t), attempt, v-1)
		if err != nil {
			t.Fatalf("Update to version %d: %v", v, err)
		}
		tk.Version = v
		assertEqual(t, got, tk)
		stored, err := s.Get(ctx(t), tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, stored, tk)
	}
	tk.OrderID = ticketkit.NewID()
	got := mustUpdate(t, s, tk)
	if got.OrderID != tk.OrderID || got.Version != 4 {
		t.Fatalf("after reserve: %+v", got)
	}
	got.OrderID = ""
	got = mustUpdate(t, s, got)
	if got.OrderID != "" || got.Version != 5 {
		t.Fatalf("after release: %+v", got)
	}
}

func testUpdateRejectsStale(t *testing.T, s Store) {
	tk := mustCreate(t, s, newTicket("owner", "concert"))
	tk.Title = "first"
	winner := mustUpdate(t, s, tk)

	stale := tk
	stale.Title = "stale"
	for _, expected := range []int64{0, 2, -1} {
		_, err := s.Update(ctx(t), stale, expected)
		if !errors.Is(err, ticketkit.ErrConflict) {
			t.Fatalf("Update at version %d error = %v, want conflict", expected, err)
		}
	}
	got, err := s.Get(ctx(t), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, winner)
	if msgs := published(t, s); len(msgs) != 2 {
		t.Fatalf("published %d events after 1 create, 1 update and rejected updates; want 2", len(msgs))
	}
}

func testConcurrentUpdates(t *testing.T, s Store) {
	const writers = 50
	tk := mustCreate(t, s, newTicket("owner", "concert"))
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := tk
			mine.Title = fmt.Sprint("writer ", i)
			<-start
			_, errs[i] = s.Update(ctx(t), mine, 0)
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won version 1", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ticketkit.ErrConflict):
			t.Fatalf("writer %d: error = %v, want conflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got, err := s.Get(ctx(t), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Title != fmt.Sprint("writer ", winner) {
		t.Fatalf("stored %+v, want version 1 written by writer %d", got, winner)
	}
}

func testUniqueIDs(t *testing.T, s Store) {
	seen := make(map[string]bool)
	for i := range 50 {
		tk := mustCreate(t, s, newTicket("owner", fmt.Sprint("ticket ", i)))
		if seen[tk.ID] {
			t.Fatalf("id %s handed out twice", tk.ID)
		}
		seen[tk.ID] = true
	}
	got, _ := listAll(t, s, tickets.Filter{Limit: tickets.MaxLimit})
	if len(got) != len(seen) {
		t.Fatalf("List found %d tickets, created %d", len(got), len(seen))
	}
	for _, id := range got {
		if !seen[id] {
			t.Fatalf("List returned unknown id %s", id)
		}
	}
}

func testOutboxRecords(t *testing.T, s Store) {
	a := mustCreate(t, s, newTicket("owner", "a"))
	b := mustCreate(t, s, newTicket("owner", "b"))
	renamed := a
	renamed.Title = "a, renamed"
	a1 := mustUpdate(t, s, renamed)
	reserved := a1
	reserved.OrderID = ticketkit.NewID()
	a2 := mustUpdate(t, s, reserved)

	var want []events.Outgoing
	for _, c := range []tickets.Change{
		{Kind: tickets.Created, Ticket: a}, {Kind: tickets.Created, Ticket: b},
		{Kind: tickets.Updated, Ticket: a1}, {Kind: tickets.Updated, Ticket: a2},
	} {
		e, err := wire.FromTicketChange(c)
		if err != nil {
			t.Fatal(err)
		}
		data, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, events.Outgoing{Subject: string(e.Subject()), Data: data, ID: events.MessageID(e.Subject(), c.Ticket.ID, c.Ticket.Version)})
	}
	got := published(t, s)
	if len(got) != len(want) {
		t.Fatalf("published %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Subject != want[i].Subject || string(got[i].Data) != string(want[i].Data) || got[i].ID != want[i].ID {
			t.Errorf("event %d = %s %s %s, want %s %s %s", i, got[i].Subject, got[i].Data, got[i].ID, want[i].Subject, want[i].Data, want[i].ID)
		}
	}
	if again := published(t, s); len(again) != 0 {
		t.Fatalf("a second relay published %d events again", len(again))
	}
}

func testReleasedKept(t *testing.T, s Store) {
	tk := mustCreate(t, s, newTicket("owner", "concert"))
	a, b := ticketkit.NewID(), ticketkit.NewID()
	tk.Released = []string{a, b}
	got := mustUpdate(t, s, tk)
	stored, err := s.Get(ctx(t), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []tickets.Ticket{got, stored} {
		if len(x.Released) != 2 || x.Released[0] != a || x.Released[1] != b {
			t.Fatalf("Released = %v, want [%s %s]", x.Released, a, b)
		}
	}
	stored.Released = nil
	if again := mustUpdate(t, s, stored); len(again.Released) != 0 {
		t.Fatalf("Released after clearing = %v", again.Released)
	}
}
