package wire

import (
	"encoding/json"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/orders"
)

// The cluster's subjects. The values are the ones the Node services use;
// they must not change.
const (
	SubjectTicketCreated      events.Subject = "ticket:created"
	SubjectTicketUpdated      events.Subject = "ticket:updated"
	SubjectOrderCreated       events.Subject = "order:created"
	SubjectOrderCancelled     events.Subject = "order:cancelled"
	SubjectExpirationComplete events.Subject = "expiration:complete"
	SubjectPaymentCreated     events.Subject = "payment:created"
)

// Subjects returns the cluster's subjects, in the order above: what a
// JetStream stream for the cluster captures, and what a bridge copies.
func Subjects() []string {
	return []string{
		string(SubjectTicketCreated), string(SubjectTicketUpdated),
		string(SubjectOrderCreated), string(SubjectOrderCancelled),
		string(SubjectExpirationComplete), string(SubjectPaymentCreated),
	}
}

// StreamName is the JetStream stream every service of the cluster
// provisions with Subjects: one name, so that they all provision the same
// stream.
const StreamName = "TICKETS"

// The payloads. Field order is the order in which the Node services write
// them, so what Go publishes is byte for byte what Node would (the golden
// files in testdata pin it). Decoding ignores unknown fields.

// TicketCreated is published when a ticket is created.
type TicketCreated struct {
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Price   ticketkit.Money `json:"price"`
	UserID  string          `json:"userId"`
	Version int64           `json:"version"`
}

// TicketUpdated is published on every later change of a ticket, including
// reservation (OrderID set) and release (OrderID omitted, as Node omits an
// undefined orderId).
type TicketUpdated struct {
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Price   ticketkit.Money `json:"price"`
	UserID  string          `json:"userId"`
	OrderID string          `json:"orderId,omitempty"`
	Version int64           `json:"version"`
}

// OrderCreated is published when an order reserves a ticket.
type OrderCreated struct {
	ID        string        `json:"id"`
	Version   int64         `json:"version"`
	Status    orders.Status `json:"status"`
	UserID    string        `json:"userId"`
	ExpiresAt Time          `json:"expiresAt"`
	Ticket    OrderTicket   `json:"ticket"`
}

// OrderTicket is the ticket inside an OrderCreated.
type OrderTicket struct {
	ID    string          `json:"id"`
	Price ticketkit.Money `json:"price"`
}

// OrderCancelled is published when an order is cancelled or expires.
type OrderCancelled struct {
	ID      string         `json:"id"`
	Version int64          `json:"version"`
	Ticket  OrderTicketRef `json:"ticket"`
}

// OrderTicketRef is the ticket inside an OrderCancelled.
type OrderTicketRef struct {
	ID string `json:"id"`
}

// ExpirationComplete is published when an order's payment window closes.
type ExpirationComplete struct {
	OrderID string `json:"orderId"`
}

// PaymentCreated is published when an order is paid.
type PaymentCreated struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

func (TicketCreated) Subject() events.Subject      { return SubjectTicketCreated }
func (TicketUpdated) Subject() events.Subject      { return SubjectTicketUpdated }
func (OrderCreated) Subject() events.Subject       { return SubjectOrderCreated }
func (OrderCancelled) Subject() events.Subject     { return SubjectOrderCancelled }
func (ExpirationComplete) Subject() events.Subject { return SubjectExpirationComplete }
func (PaymentCreated) Subject() events.Subject     { return SubjectPaymentCreated }

// Time is an instant written as JavaScript's Date.toISOString writes it:
// UTC with exactly three decimals, "2026-11-27T13:45:07.123Z". Decoding
// accepts any RFC 3339 time.
type Time struct{ time.Time }

const isoMillis = "2006-01-02T15:04:05.000Z"

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(isoMillis))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}
