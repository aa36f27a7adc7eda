package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	ticketID = "3eb8e907a00cf854c97a276b"
	orderID  = "b28f8525b4eeb8afd1108ad6"
	userID   = "b95ec5fceb0e46d1c335b88d"
)

// wireCases are the six payloads (and both shapes of TicketUpdated) with
// the values of the Node samples in testdata/node.
var wireCases = []struct {
	file  string
	event events.Event
}{
	{"ticket-created.json", wire.TicketCreated{ID: ticketID, Title: "concert", Price: 2000, UserID: userID, Version: 0}},
	{"ticket-updated-reserved.json", wire.TicketUpdated{ID: ticketID, Title: "concert", Price: 1250, UserID: userID, OrderID: orderID, Version: 2}},
	{"ticket-updated-released.json", wire.TicketUpdated{ID: ticketID, Title: "concert", Price: 1250, UserID: userID, Version: 3}},
	{"order-created.json", wire.OrderCreated{
		ID: orderID, Version: 0, Status: orders.Created, UserID: "79f05438abce78f9c3d600c3",
		ExpiresAt: wire.Time{Time: time.Date(2026, 11, 27, 13, 45, 7, 123_000_000, time.UTC)},
		Ticket:    wire.OrderTicket{ID: ticketID, Price: 1250},
	}},
	{"order-cancelled.json", wire.OrderCancelled{ID: orderID, Version: 1, Ticket: wire.OrderTicketRef{ID: ticketID}}},
	{"expiration-complete.json", wire.ExpirationComplete{OrderID: orderID}},
	{"payment-created.json", wire.PaymentCreated{ID: "9c7fa30754e748cb04e18f21", OrderID: orderID, StripeID: "ch_3MmlLrLkdIwHu7ix0snN0B15"}},
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// TestGoldenEncoding pins what Go writes for every payload.
func TestGoldenEncoding(t *testing.T) {
	for _, tc := range wireCases {
		got, err := events.Encode(tc.event)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", tc.file)
		if *update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if want := readFile(t, path); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.file, got, want)
		}
	}
}

// TestGoWritesWhatNodeWrites compares Go's bytes with Node's own: identical
// wherever the Node services agree on a field order, and equal as JSON
// where one Node code path writes another order (the released ticket).
func TestGoWritesWhatNodeWrites(t *testing.T) {
	for _, tc := range wireCases {
		got, _ := events.Encode(tc.event)
		node := readFile(t, filepath.Join("testdata", "node", tc.file))
		if tc.file == "ticket-updated-released.json" {
			var a, b any
			json.Unmarshal(got, &a)
			json.Unmarshal(node, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: Go %s and Node %s differ as JSON", tc.file, got, node)
			}
			continue
		}
		if !bytes.Equal(got, node) {
			t.Errorf("%s:\n   Go %s\n Node %s", tc.file, got, node)
		}
	}
}

func decodeAs(t *testing.T, ev events.Event, data []byte) (events.Event, error) {
	t.Helper()
	switch ev.(type) {
	case wire.TicketCreated:
		return events.Decode[wire.TicketCreated](data)
	case wire.TicketUpdated:
		return events.Decode[wire.TicketUpdated](data)
	case wire.OrderCreated:
		return events.Decode[wire.OrderCreated](data)
	case wire.OrderCancelled:
		return events.Decode[wire.OrderCancelled](data)
	case wire.ExpirationComplete:
		return events.Decode[wire.ExpirationComplete](data)
	case wire.PaymentCreated:
		return events.Decode[wire.PaymentCreated](data)
	}
	t.Fatalf("no decoder for %T", ev)
	return nil, nil
}

// TestDecodesWhatNodeWrites feeds the Node samples to the decoder.
func TestDecodesWhatNodeWrites(t *testing.T) {
	for _, tc := range wireCases {
		got, err := decodeAs(t, tc.event, readFile(t, filepath.Join("testdata", "node", tc.file)))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.event) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, got, tc.event)
		}
	}
}

func TestDecodeIsLenientWhereNodeIs(t *testing.T) {
	// Unknown fields are ignored; an absent orderId is not reserved; a
	// price may be fractional; an expiresAt may carry another precision.
	e, err := events.Decode[wire.TicketUpdated]([]byte(`{"id":"` + ticketID + `","title":"t","price":12.34,"userId":"u","version":7,"__v":0,"extra":{"nested":[1,2]}}`))
	if err != nil || e.OrderID != "" || e.Price != ticketkit.Cents(1234) || e.Version != 7 {
		t.Fatalf("Decode = %+v, %v", e, err)
	}
	o, err := events.Decode[wire.OrderCreated]([]byte(`{"id":"` + orderID + `","version":0,"status":"created","userId":"u","expiresAt":"2026-11-27T14:45:07+01:00","ticket":{"id":"` + ticketID + `","price":20}}`))
	if err != nil || !o.ExpiresAt.Equal(time.Date(2026, 11, 27, 13, 45, 7, 0, time.UTC)) {
		t.Fatalf("Decode(expiresAt with offset) = %+v, %v", o, err)
	}
	if got, _ := events.Encode(o); !strings.Contains(string(got), `"expiresAt":"2026-11-27T13:45:07.000Z"`) {
		t.Fatalf("re-encoded expiresAt not as Node writes it: %s", got)
	}
}

func TestDecodeRejectsPoison(t *testing.T) {
	for _, in := range []string{
		``, `not json`, `null`, `[]`, `"string"`, `42`, `{`,
		`{"id":5,"title":"t","price":1,"userId":"u","version":0}`,
		`{"id":"` + ticketID + `","title":"t","price":"1","userId":"u","version":0}`,
		`{"id":"` + ticketID + `","title":"t","price":1.005,"userId":"u","version":0}`,
		`{"id":"` + ticketID + `","title":"t","price":-1,"userId":"u","version":0}`,
		`{"id":"` + ticketID + `","title":"t","userId":"u","version":0}`,
		`{"id":"` + ticketID + `","title":"t","price":1,"userId":"u","version":"0"}`,
		`{"id":"` + ticketID + `","title":"t","price":1,"userId":"u","version":-1}`,
		`{"id":{"$gt":""},"title":"t","price":1,"userId":"u","version":0}`,
		`{"id":"$gt","title":"t","price":1,"userId":"u","version":0}`,
		`{"title":"no id","price":1,"userId":"u","version":0}`,
	} {
		if _, err := events.Decode[wire.TicketCreated]([]byte(in)); !errors.Is(err, events.ErrDecode) {
			t.Errorf("Decode(%s) error = %v, want ErrDecode", in, err)
		}
	}
	for _, in := range []string{
		`{"id":"` + orderID + `","version":0,"status":"created","userId":"u","expiresAt":"tomorrow","ticket":{"id":"` + ticketID + `","price":1}}`,
		`{"id":"` + orderID + `","version":0,"status":"created","userId":"u","expiresAt":"2026-11-27T13:45:07.123Z","ticket":{"price":1}}`,
		`{"id":"` + orderID + `","version":0,"status":"created","userId":"u","expiresAt":"2026-11-27T13:45:07.123Z","ticket":"` + ticketID + `"}`,
	} {
		if _, err := events.Decode[wire.OrderCreated]([]byte(in)); !errors.Is(err, events.ErrDecode) {
			t.Errorf("Decode(%s) error = %v, want ErrDecode", in, err)
		}
	}
	if _, err := events.Decode[wire.OrderCancelled]([]byte(`{"id":"` + orderID + `","version":1,"ticket":{}}`)); !errors.Is(err, events.ErrDecode) {
		t.Errorf("OrderCancelled without ticket id: %v", err)
	}
	if _, err := events.Decode[wire.ExpirationComplete]([]byte(`{}`)); !errors.Is(err, events.ErrDecode) {
		t.Errorf("ExpirationComplete without orderId: %v", err)
	}
}

func TestSubjectsAreTheCluster(t *testing.T) {
	for ev, want := range map[events.Event]string{
		wire.TicketCreated{}:      "ticket:created",
		wire.TicketUpdated{}:      "ticket:updated",
		wire.OrderCreated{}:       "order:created",
		wire.OrderCancelled{}:     "order:cancelled",
		wire.ExpirationComplete{}: "expiration:complete",
		wire.PaymentCreated{}:     "payment:created",
	} {
		if got := string(ev.Subject()); got != want {
			t.Errorf("%T.Subject() = %q, want %q", ev, got, want)
		}
	}
	for status, want := range map[orders.Status]string{
		orders.Created: "created", orders.Cancelled: "cancelled",
		orders.AwaitingPayment: "awaiting:payment", orders.Complete: "complete",
	} {
		if string(status) != want {
			t.Errorf("status %q, want %q", status, want)
		}
	}
}

func TestFromChange(t *testing.T) {
	tk := tickets.Ticket{ID: ticketID, Title: "concert", Price: 1250, UserID: userID, OrderID: orderID, Version: 2}
	ev, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Updated, Ticket: tk})
	if err != nil || ev != (wire.TicketUpdated{ID: ticketID, Title: "concert", Price: 1250, UserID: userID, OrderID: orderID, Version: 2}) {
		t.Fatalf("FromChange(updated) = %+v, %v", ev, err)
	}
	tk.OrderID, tk.Version = "", 0
	ev, err = wire.FromTicketChange(tickets.Change{Kind: tickets.Created, Ticket: tk})
	if err != nil || ev != (wire.TicketCreated{ID: ticketID, Title: "concert", Price: 1250, UserID: userID}) {
		t.Fatalf("FromChange(created) = %+v, %v", ev, err)
	}
	if _, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Unchanged, Ticket: tk}); err == nil {
		t.Fatal("an unchanged ticket has no event")
	}
}

func TestMessageIDIsStablePerEvent(t *testing.T) {
	a := events.MessageID(wire.SubjectTicketUpdated, ticketID, 2)
	if a != events.MessageID(wire.SubjectTicketUpdated, ticketID, 2) {
		t.Fatal("same event, different ids")
	}
	for _, other := range []string{
		events.MessageID(wire.SubjectTicketUpdated, ticketID, 3),
		events.MessageID(wire.SubjectTicketCreated, ticketID, 2),
		events.MessageID(wire.SubjectTicketUpdated, orderID, 2),
	} {
		if other == a {
			t.Fatal("different events share an id")
		}
	}
}

func TestCompareVersion(t *testing.T) {
	for _, tc := range []struct {
		stored, incoming int64
		want             events.Ordering
	}{
		{events.NoVersion, 0, events.Apply},
		{events.NoVersion, 1, events.OutOfOrder},
		{0, 1, events.Apply},
		{0, 0, events.Duplicate},
		{5, 3, events.Duplicate},
		{5, 7, events.OutOfOrder},
	} {
		if got := events.CompareVersion(tc.stored, tc.incoming); got != tc.want {
			t.Errorf("CompareVersion(%d, %d) = %v, want %v", tc.stored, tc.incoming, got, tc.want)
		}
	}
}
