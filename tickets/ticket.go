package tickets

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ticketkit/ticketkit"
)

// Ticket is a ticket offered for resale. The JSON form is the one the
// cluster's Node tickets service returns and its peers read.
type Ticket struct {
	ID     string          `json:"id"`
	Title  string          `json:"title"`
	Price  ticketkit.Money `json:"price"`
	UserID string          `json:"userId"`
	// OrderID is the order holding the ticket, empty when it is not reserved.
	OrderID string `json:"orderId,omitempty"`
	// Version is 0 at creation and grows by one with every change. Peers
	// apply a ticket's events in version order, so it must never skip.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
	// Released lists the latest orders released from the ticket (at most
	// MaxReleased, the newest last), so that a redelivered order:created
	// of a cancelled order, or one that arrives after its order:cancelled
	// on the other subject, can't reserve the ticket again. Not on the
	// wire.
	Released []string `json:"-"`
}

// MaxReleased bounds Ticket.Released.
const MaxReleased = 16

// Reserved reports whether an order holds the ticket.
func (t Ticket) Reserved() bool { return t.OrderID != "" }

// ChangeKind tells what a Change did to its ticket.
type ChangeKind uint8

const (
	// Unchanged is reported by a use case that had nothing to do, such as
	// reserving a ticket again for the order that already holds it.
	Unchanged ChangeKind = iota
	Created
	Updated
)

func (k ChangeKind) String() string {
	switch k {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Unchanged:
		return "unchanged"
	default:
		return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Change is one committed state change of a ticket: the ticket as it is
// right after the change. Each Created or Updated change is exactly one
// event on the wire, and (Ticket.ID, Ticket.Version) identifies it.
type Change struct {
	Kind   ChangeKind
	Ticket Ticket
}

// MaxTitleLen is the longest title accepted, in characters.
const MaxTitleLen = 200

// Input is what a user supplies to create or update a ticket.
type Input struct {
	Title string
	Price ticketkit.Money
}

// Validate checks the input as the use cases will store it (the title is
// trimmed). The error is an EINVALID *ticketkit.Error listing every bad field.
func (in Input) Validate() error {
	var fields []ticketkit.FieldError
	title := strings.TrimSpace(in.Title)
	switch {
	case !utf8.ValidString(title):
		fields = append(fields, ticketkit.FieldError{Field: "title", Message: "Title must be valid UTF-8"})
	case title == "":
		fields = append(fields, ticketkit.FieldError{Field: "title", Message: "Title is required"})
	case utf8.RuneCountInString(title) > MaxTitleLen:
		fields = append(fields, ticketkit.FieldError{Field: "title", Message: "Title must be at most 200 characters"})
	case strings.ContainsFunc(title, unicode.IsControl):
		fields = append(fields, ticketkit.FieldError{Field: "title", Message: "Title must not contain control characters"})
	}
	switch {
	case in.Price <= 0:
		fields = append(fields, ticketkit.FieldError{Field: "price", Message: "Price must be greater than 0"})
	case in.Price > ticketkit.MaxMoney:
		fields = append(fields, ticketkit.FieldError{Field: "price", Message: "Price must be at most " + ticketkit.MaxMoney.String()})
	}
	if fields != nil {
		return ticketkit.Invalid(fields...)
	}
	return nil
}
