package tickets

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Ticket is a ticket offered for resale. The JSON form is the one the
// cluster's Node tickets service returns and its peers read.
type Ticket struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Price  Money  `json:"price"`
	UserID string `json:"userId"`
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
	Price Money
}

// Validate checks the input as the use cases will store it (the title is
// trimmed). The error is an EINVALID *Error listing every bad field.
func (in Input) Validate() error {
	var fields []FieldError
	title := strings.TrimSpace(in.Title)
	switch {
	case !utf8.ValidString(title):
		fields = append(fields, FieldError{"title", "Title must be valid UTF-8"})
	case title == "":
		fields = append(fields, FieldError{"title", "Title is required"})
	case utf8.RuneCountInString(title) > MaxTitleLen:
		fields = append(fields, FieldError{"title", "Title must be at most 200 characters"})
	case strings.ContainsFunc(title, unicode.IsControl):
		fields = append(fields, FieldError{"title", "Title must not contain control characters"})
	}
	switch {
	case in.Price <= 0:
		fields = append(fields, FieldError{"price", "Price must be greater than 0"})
	case in.Price > MaxMoney:
		fields = append(fields, FieldError{"price", "Price must be at most " + MaxMoney.String()})
	}
	if fields != nil {
		return invalid(fields...)
	}
	return nil
}

// NewID returns a fresh ticket id: a 24-hex MongoDB ObjectID, because the
// cluster's Node services cast ticket ids to ObjectIds. The layout is
// MongoDB's (seconds, per-process random, counter), so ids sort by creation
// time; it is built here because the domain imports no database driver.
func NewID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(time.Now().Unix()))
	copy(b[4:9], idProcess[:])
	c := idCounter.Add(1)
	b[9], b[10], b[11] = byte(c>>16), byte(c>>8), byte(c)
	return hex.EncodeToString(b[:])
}

var (
	idProcess = func() (p [5]byte) { rand.Read(p[:]); return p }()
	idCounter atomic.Uint32
)

func init() {
	var b [4]byte
	rand.Read(b[:])
	idCounter.Store(binary.BigEndian.Uint32(b[:]))
}

// ValidID reports whether id is a 24-hex ObjectID, in either case. It
// runs on every decoded event, so it allocates nothing.
func ValidID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
