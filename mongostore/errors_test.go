package mongostore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
)

// genericMessages are the only messages an internal error may show users.
var genericMessages = map[string]bool{
	"Database error":                      true,
	"The request was canceled":            true,
	"The database did not answer in time": true,
}

func assertInternal(t *testing.T, op string, err error) {
	t.Helper()
	var te *ticketkit.Error
	if !errors.As(err, &te) || te.Code != ticketkit.EINTERNAL {
		t.Fatalf("%s: error = %#v, want an EINTERNAL *ticketkit.Error", op, err)
	}
	if !genericMessages[te.Message] || te.Err == nil {
		t.Fatalf("%s: message %q, cause %v; want a generic message and the cause kept", op, te.Message, te.Err)
	}
}

// TestDoneContextIsInternalAndWrapped calls every method with a canceled
// and with an expired context: each fails with an EINTERNAL *ticketkit.Error
// that still matches the context's error, and writes nothing.
func TestDoneContextIsInternalAndWrapped(t *testing.T) {
	s, ob, _ := openWithOutbox(t)
	tk := mustCreate(t, s, newTicket("owner", "concert"))

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()

	ops := []struct {
		name string
		call func(context.Context) error
	}{
		{"Create", func(c context.Context) error { return s.Create(c, newTicket("owner", "never")) }},
		{"Get", func(c context.Context) error { _, err := s.Get(c, tk.ID); return err }},
		{"List", func(c context.Context) error { _, err := s.List(c, tickets.Filter{UserID: "owner"}); return err }},
		{"Update", func(c context.Context) error {
			changed := tk
			changed.Title = "never"
			_, err := s.Update(c, changed, 0)
			return err
		}},
		{"EnsureIndexes", s.EnsureIndexes},
	}
	for _, done := range []struct {
		ctx  context.Context
		want error
	}{{canceled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		for _, op := range ops {
			err := op.call(done.ctx)
			if !errors.Is(err, done.want) {
				t.Fatalf("%s with a done context: error = %v, want one matching %v", op.name, err, done.want)
			}
			assertInternal(t, op.name, err)
		}
	}

	got, err := s.Get(ctx(t), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 0 || got.Title != tk.Title {
		t.Fatalf("ticket changed by failed writes: %+v", got)
	}
	if p := published(t, ob); len(p) != 1 {
		t.Fatalf("published %d events after failed writes, want the 1 Create's", len(p))
	}
	page, err := s.List(ctx(t), tickets.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 1 {
		t.Fatalf("%d tickets stored, want 1", len(page.Tickets))
	}
}

func TestDuplicateCreateIsConflict(t *testing.T) {
	s, ob, _ := openWithOutbox(t)
	tk := mustCreate(t, s, newTicket("owner", "concert"))
	for _, id := range []string{tk.ID, strings.ToUpper(tk.ID)} {
		dup := newTicket("other", "imposter")
		dup.ID = id
		err := s.Create(ctx(t), dup)
		if !errors.Is(err, ticketkit.ErrConflict) || ticketkit.ErrorCode(err) != ticketkit.ECONFLICT {
			t.Fatalf("Create(duplicate %s) error = %v, want ECONFLICT", id, err)
		}
	}
	if p := published(t, ob); len(p) != 1 {
		t.Fatalf("published %d events, want only the first Create's", len(p))
	}
}

// TestDriverErrorIsInternal stores a document the Store cannot decode (a
// price that is a string): reading it fails with EINTERNAL, a generic
// message, the driver's error as the cause, and a log record.
func TestDriverErrorIsInternal(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, db := open(t, mongostore.WithLogger(logger))
	id := bson.NewObjectID()
	_, err := db.Collection(ticketstore.Name).InsertOne(ctx(t), bson.D{
		{Key: "_id", Value: id}, {Key: "title", Value: "broken"}, {Key: "price", Value: "12.50"},
		{Key: "userId", Value: "u"}, {Key: "version", Value: int64(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx(t), id.Hex())
	assertInternal(t, "Get", err)
	if errors.Is(err, ticketkit.ErrNotFound) || strings.Contains(ticketkit.ErrorMessage(err), "price") {
		t.Fatalf("Get error %v: want an internal error whose message says nothing of the cause", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "op=Get") {
		t.Fatalf("no error logged for the failed Get; logs:\n%s", logs.String())
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	db := testenv.Mongo(t)
	ob := newOutbox(t, db)
	if _, err := newTicketStore(nil); err == nil {
		t.Error("NewStore(nil outbox) succeeded")
	}
	for name, opt := range map[string]mongostore.CollectionOption{
		"nil option": nil,
		"nil logger": mongostore.WithLogger(nil),
	} {
		if s, err := newTicketStore(ob, opt); err == nil || s != nil {
			t.Errorf("NewStore with %s: store %v, error %v; want an error", name, s, err)
		}
	}
	for name, coll := range map[string]string{
		"empty":     "",
		"with $":    "tick$ets",
		"with NUL":  "tick\x00ets",
		"system":    "system.tickets",
		"too long":  strings.Repeat("t", 121),
		"not UTF-8": "tick\xffets",
	} {
		if c, err := mongostore.NewCollection[struct{ N int }](ob, coll); err == nil || c != nil {
			t.Errorf("NewCollection of a collection name %s: %v, %v; want an error", name, c, err)
		}
		if r, err := mongostore.NewReplica[struct{ N int }](db, coll); err == nil || r != nil {
			t.Errorf("NewReplica of a collection name %s: %v, %v; want an error", name, r, err)
		}
	}
	s, err := newTicketStore(ob, mongostore.WithLogger(slog.Default()), mongostore.WithDocumentLocks())
	if err != nil || s == nil {
		t.Fatalf("NewStore with valid options: %v", err)
	}
}

// A writer whose lease lapsed (nothing renewed it: under load, the
// database kept its beat waiting) refuses to write, as unavailable, not
// as an internal error: the HTTP layer answers 503 with Retry-After.
func TestWriteWithALapsedLeaseIsUnavailable(t *testing.T) {
	db := testenv.Mongo(t)
	ob, err := mongostore.NewOutbox(context.Background(), db, mongostore.WithQueue(outbox.TTL(200*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newTicketStore(ob)
	if err != nil {
		t.Fatal(err)
	}
	// No relay renews the lease: past its TTL it has lapsed for sure
	// (writes stop at half of it).
	time.Sleep(200 * time.Millisecond)
	err = s.Create(ctx(t), newTicket(ticketkit.NewID(), "late"))
	if ticketkit.ErrorCode(err) != ticketkit.EUNAVAILABLE || !errors.Is(err, outbox.ErrLeaseExpired) {
		t.Fatalf("write after the lease lapsed: %v, want EUNAVAILABLE wrapping ErrLeaseExpired", err)
	}
}
