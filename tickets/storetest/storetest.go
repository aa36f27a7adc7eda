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

	"github.com/ticketkit/ticketkit/tickets"
)

// Store is what the suite tests: a tickets.Store together with its Outbox,
// because every write must record its change atomically.
type Store interface {
	tickets.Store
	tickets.Outbox
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
		{"OutboxRecordsEveryChange", testOutboxRecords},
		{"OutboxMarkPublishedBatch", testOutboxMarkBatch},
		{"OutboxPendingLimitKeepsOrder", testOutboxLimit},
		{"OutboxWakesOnWrite", testOutboxWake},
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
		ID:        tickets.NewID(),
		Title:     title,
		Price:     tickets.Cents(1250),
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
	if got := tickets.ErrorCode(err); got != code {
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
	for _, id := range []string{tickets.NewID(), "not-an-id", "", "$gt", `{"$gt":""}`, strings.Repeat("z", 24)} {
		_, err := s.Get(ctx(t), id)
		if !errors.Is(err, tickets.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want not found", id, err)
		}
	}
	missing := newTicket("user-1", "ghost")
	_, err := s.Update(ctx(t), missing, 0)
	if !errors.Is(err, tickets.ErrNotFound) {
		t.Errorf("Update(missing) error = %v, want not found", err)
	}
}

func testCreateRejects(t *testing.T, s Store) {
	tk := mustCreate(t, s, newTicket("user-1", "concert"))
	dup := newTicket("user-2", "imposter")
	dup.ID = tk.ID
	assertCode(t, s.Create(ctx(t), dup), tickets.ECONFLICT)
	got, err := s.Get(ctx(t), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, tk)

	for _, id := range []string{"", "abc", "$gt", strings.Repeat("g", 24)} {
		bad := newTicket("user-1", "bad id")
		bad.ID = id
		assertCode(t, s.Create(ctx(t), bad), tickets.EINVALID)
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
			tk.OrderID = tickets.NewID()
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
		assertCode(t, err, tickets.EINVALID)
	}
}

func testUpdateIncrementsVersion(t *testing.T, s Store) {
	orig := mustCreate(t, s, newTicket("owner", "concert"))
	tk := orig
	for v := int64(1); v <= 3; v++ {
		tk.Title = fmt.Sprint("concert ", v)
		tk.Price = tickets.Cents(1000 + v)
		tk.UpdatedAt = tk.UpdatedAt.Add(time.Second)
		// Fields that never change are ignored even when the caller sends others.
		attempt := tk
		attempt.UserID, attempt.CreatedAt = "someone-else", time.Unix(0, 0).UTC()
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
	tk.OrderID = tickets.NewID()
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
		if !errors.Is(err, tickets.ErrConflict) {
			t.Fatalf("Update at version %d error = %v, want conflict", expected, err)
		}
	}
	got, err := s.Get(ctx(t), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, winner)
	pending, err := s.Pending(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 {
		t.Fatalf("outbox has %d changes after 1 create, 1 update and rejected updates; want 2", len(pending))
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
		case !errors.Is(err, tickets.ErrConflict):
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
	reserved.OrderID = tickets.NewID()
	a2 := mustUpdate(t, s, reserved)

	pending, err := s.Pending(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]tickets.Change{
		a.ID: {{Kind: tickets.Created, Ticket: a}, {Kind: tickets.Updated, Ticket: a1}, {Kind: tickets.Updated, Ticket: a2}},
		b.ID: {{Kind: tickets.Created, Ticket: b}},
	}
	assertPending(t, pending, want)

	mustMark(t, s, at(a.ID, 1))
	mustMark(t, s, at(b.ID, 0))
	// Marking again, or marking what was never pending, is fine: relays retry.
	for _, c := range []tickets.Change{at(a.ID, 1), at(b.ID, 0), at(tickets.NewID(), 3)} {
		mustMark(t, s, c)
	}
	pending, err = s.Pending(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	assertPending(t, pending, map[string][]tickets.Change{a.ID: {{Kind: tickets.Updated, Ticket: a2}}})

	mustMark(t, s, at(a.ID, 2))
	pending, err = s.Pending(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("outbox still holds %d changes after all were marked", len(pending))
	}
}

// at is a change of ticket id at version, as MarkPublished reads it: the
// id and the version, nothing else.
func at(id string, version int64) tickets.Change {
	return tickets.Change{Kind: tickets.Updated, Ticket: tickets.Ticket{ID: id, Version: version}}
}

func mustMark(t *testing.T, s Store, published ...tickets.Change) {
	t.Helper()
	if err := s.MarkPublished(ctx(t), published); err != nil {
		t.Fatalf("MarkPublished(%s): %v", marks(published), err)
	}
}

func marks(cs []tickets.Change) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s@%d", c.Ticket.ID, c.Ticket.Version)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// pendingVersions returns, per ticket, the versions Pending returns.
func pendingVersions(t *testing.T, s Store) map[string][]int64 {
	t.Helper()
	pending, err := s.Pending(ctx(t), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]int64)
	for _, c := range pending {
		out[c.Ticket.ID] = append(out[c.Ticket.ID], c.Ticket.Version)
	}
	return out
}

// testOutboxMarkBatch marks several tickets in one call, the way a relay
// marks a round: whole outboxes and parts of them, duplicates and older
// versions of one ticket, ids of no ticket, and nothing at all.
func testOutboxMarkBatch(t *testing.T, s Store) {
	// history creates a ticket and updates it until its version is last.
	history := func(title string, last int64) tickets.Ticket {
		tk := mustCreate(t, s, newTicket("owner", title))
		for tk.Version < last {
			tk = mustUpdate(t, s, tk)
		}
		return tk
	}
	one := history("one change", 0)      // pending: 0
	three := history("three changes", 2) // pending: 0 1 2
	part := history("marked in part", 3) // pending: 0 1 2 3
	dup := history("duplicates", 4)      // pending: 0 1 2 3 4
	done := history("already marked", 1) // pending: 0 1
	mustMark(t, s, at(done.ID, 1))
	untouched := history("not in the batch", 1) // pending: 0 1

	// An empty batch, and a nil one, mark nothing.
	mustMark(t, s)
	if err := s.MarkPublished(ctx(t), nil); err != nil {
		t.Fatalf("MarkPublished(nil): %v", err)
	}
	if got := pendingVersions(t, s); len(got) != 5 || len(got[dup.ID]) != 5 {
		t.Fatalf("after empty batches pending = %v, want 5 tickets untouched", got)
	}

	mustMark(t, s,
		at(one.ID, 0),
		at(dup.ID, 1),
		at(three.ID, 2),
		at(tickets.NewID(), 7), // no such ticket
		at(part.ID, 1),
		at(dup.ID, 3), // the highest version of dup counts...
		at(done.ID, 1),
		at(dup.ID, 2), // ...whatever the order
		at(strings.ToUpper(part.ID), 0),
		at(done.ID, 0),
	)
	got := pendingVersions(t, s)
	want := map[string][]int64{
		part.ID:      {2, 3},
		dup.ID:       {4},
		untouched.ID: {0, 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pending after the batch = %v, want %v", got, want)
	}

	// The same batch again changes nothing; a newer one finishes the job,
	// and a version beyond the newest marks everything.
	mustMark(t, s, at(one.ID, 0), at(three.ID, 2), at(part.ID, 1), at(dup.ID, 3))
	if got := pendingVersions(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pending after marking the batch again = %v, want %v", got, want)
	}
	mustMark(t, s, at(part.ID, 3), at(dup.ID, 1000), at(untouched.ID, 0))
	if got := pendingVersions(t, s); fmt.Sprint(got) != fmt.Sprint(map[string][]int64{untouched.ID: {1}}) {
		t.Fatalf("pending = %v, want only %s@1", got, untouched.ID)
	}

	// A marked ticket's next change is pending again, alone.
	next := mustUpdate(t, s, three)
	if got := pendingVersions(t, s); fmt.Sprint(got[three.ID]) != "[3]" || next.Version != 3 {
		t.Fatalf("pending after a new update of a marked ticket = %v, want [3] for %s", got, three.ID)
	}
}

// assertPending checks pending against want per ticket: same changes, in
// version order within each ticket.
func assertPending(t *testing.T, pending []tickets.Change, want map[string][]tickets.Change) {
	t.Helper()
	got := make(map[string][]tickets.Change)
	for _, c := range pending {
		got[c.Ticket.ID] = append(got[c.Ticket.ID], c)
	}
	if len(got) != len(want) {
		t.Fatalf("pending changes for %d tickets, want %d: %+v", len(got), len(want), pending)
	}
	for id, w := range want {
		g := got[id]
		if len(g) != len(w) {
			t.Fatalf("ticket %s: %d pending changes, want %d: %+v", id, len(g), len(w), g)
		}
		for i := range w {
			if g[i].Kind != w[i].Kind {
				t.Fatalf("ticket %s change %d kind = %v, want %v", id, i, g[i].Kind, w[i].Kind)
			}
			assertEqual(t, g[i].Ticket, w[i].Ticket)
		}
	}
}

func testOutboxLimit(t *testing.T, s Store) {
	var created []tickets.Ticket
	for i := range 3 {
		tk := mustCreate(t, s, newTicket("owner", fmt.Sprint("ticket ", i)))
		for range 2 {
			tk = mustUpdate(t, s, tk)
		}
		created = append(created, tk)
	}
	for limit := 1; limit <= 9; limit++ {
		pending, err := s.Pending(ctx(t), limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != limit {
			t.Fatalf("Pending(%d) returned %d changes, 9 are pending", limit, len(pending))
		}
		// Each ticket's changes start at version 0 and have no gap.
		next := make(map[string]int64)
		for _, c := range pending {
			if c.Ticket.Version != next[c.Ticket.ID] {
				t.Fatalf("Pending(%d): ticket %s version %d, want %d", limit, c.Ticket.ID, c.Ticket.Version, next[c.Ticket.ID])
			}
			next[c.Ticket.ID]++
		}
	}
}

func testOutboxWake(t *testing.T, s Store) {
	// Drain a wake-up left by an earlier write, if any.
	select {
	case <-s.Wake():
	default:
	}
	mustCreate(t, s, newTicket("owner", "wake"))
	select {
	case <-s.Wake():
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not fire after a write")
	}
}
