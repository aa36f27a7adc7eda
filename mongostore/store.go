package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

// TicketsCollection is the collection of a Store: the Node tickets
// service's.
const TicketsCollection = "tickets"

// maxCollectionLen bounds collection names well inside the 255-byte
// namespace limit of MongoDB (database name + "." + collection name) and
// the lower ones of FerretDB.
const maxCollectionLen = 120

// Field names of a ticket document, beside _id, version and outbox.
const (
	fTitle     = "title"
	fPrice     = "price"
	fUserID    = "userId"
	fOrderID   = "orderId"
	fCreatedAt = "createdAt"
	fUpdatedAt = "updatedAt"
)

// CollectionOption configures NewCollection, and the stores built on a
// Collection (NewStore, NewOrderStore).
type CollectionOption interface{ applyCollection(*config) error }

// ReplicaOption configures NewReplica.
type ReplicaOption interface{ applyReplica(*config) error }

// Option configures a Collection and a Replica alike: WithLogger and
// WithDocumentLocks return one.
type Option struct{ f func(*config) error }

func (o Option) applyCollection(c *config) error { return o.f(c) }
func (o Option) applyReplica(c *config) error    { return o.f(c) }

// collectionOption configures a Collection only.
type collectionOption func(*config) error

func (o collectionOption) applyCollection(c *config) error { return o(c) }

type config struct {
	logger    *slog.Logger
	docLocks  bool
	immutable []string
}

// newConfig checks the arguments the constructors share and applies the
// options to the defaults; apply is each option's method.
func newConfig[O any](db *mongo.Database, name string, opts []O, apply func(O, *config) error) (config, error) {
	cfg := config{logger: slog.New(slog.DiscardHandler)}
	if db == nil {
		return cfg, errors.New("mongostore: database is nil")
	}
	if err := checkCollection(name); err != nil {
		return cfg, fmt.Errorf("mongostore: %w", err)
	}
	for i, o := range opts {
		if any(o) == nil {
			return cfg, fmt.Errorf("mongostore: option %d is nil", i)
		}
		if err := apply(o, &cfg); err != nil {
			return cfg, fmt.Errorf("mongostore: %w", err)
		}
	}
	return cfg, nil
}

func checkCollection(name string) error {
	switch {
	case name == "":
		return errors.New("collection name is empty")
	case len(name) > maxCollectionLen:
		return fmt.Errorf("collection name is %d bytes long, at most %d allowed", len(name), maxCollectionLen)
	case !utf8.ValidString(name):
		return errors.New("collection name is not valid UTF-8")
	case strings.ContainsAny(name, "$\x00"):
		return fmt.Errorf("collection name %q contains '$' or NUL", name)
	case strings.HasPrefix(name, "system."):
		return fmt.Errorf("collection name %q is in the reserved system. namespace", name)
	}
	return nil
}

// WithLogger logs through l; by default nothing is logged. Internal
// (database) errors are logged with their cause at Error level (Warn when
// the caller's context was done), expected outcomes such as conflicts at
// Debug level.
func WithLogger(l *slog.Logger) Option {
	return Option{func(c *config) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		c.logger = l
		return nil
	}}
}

// WithDocumentLocks serializes this value's writes to each document in
// the process: the compatibility mode for FerretDB 1.x, which doesn't
// apply a filtered update atomically. It is correct for one process only
// (see "FerretDB 1.x" in the package documentation), and MongoDB doesn't
// need it.
func WithDocumentLocks() Option {
	return Option{func(c *config) error { c.docLocks = true; return nil }}
}

// WithImmutable names fields of a Collection's documents that Insert sets
// and no Update changes (an owner, a creation time): they are left out of
// every update, whatever the document passed holds.
func WithImmutable(fields ...string) CollectionOption {
	return collectionOption(func(c *config) error { c.immutable = append(c.immutable, fields...); return nil })
}

// Store is a tickets.Store on one MongoDB collection, written through an
// Outbox: each ticket is a document of a Collection, and each write
// carries its ticket:created or ticket:updated entry.
type Store struct {
	c *Collection[ticketDoc]
}

var _ tickets.Store = (*Store)(nil)

// ticketDoc is a ticket's fields as stored; see the package documentation.
type ticketDoc struct {
	Title     string    `bson:"title"`
	Price     int64     `bson:"price"`
	UserID    string    `bson:"userId"`
	OrderID   string    `bson:"orderId,omitempty"`
	CreatedAt time.Time `bson:"createdAt"`
	UpdatedAt time.Time `bson:"updatedAt"`
	Released  []string  `bson:"released,omitempty"`
}

func ticketOf(r Record[ticketDoc]) tickets.Ticket {
	d := r.Doc
	return tickets.Ticket{
		ID: r.ID, Title: d.Title, Price: ticketkit.Money(d.Price), UserID: d.UserID, OrderID: d.OrderID,
		Version: r.Version, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Released: d.Released,
	}
}

func docOf(t tickets.Ticket) ticketDoc {
	return ticketDoc{Title: t.Title, Price: int64(t.Price), UserID: t.UserID, OrderID: t.OrderID,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Released: t.Released}
}

// NewStore returns the tickets Store of ob's database (TicketsCollection),
// written through ob, as memstore.NewStore does in memory. WithLogger and
// WithDocumentLocks apply. It does no I/O; call EnsureIndexes to create
// the indexes the queries rely on.
func NewStore(ob *Outbox, opts ...CollectionOption) (*Store, error) {
	c, err := NewCollection[ticketDoc](ob, TicketsCollection, append([]CollectionOption{WithImmutable(fUserID, fCreatedAt)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Store{c: c}, nil
}

// Index names, so that EnsureIndexes is recognisably the same each time.
const (
	idxUser  = "userId_1__id_1"
	idxOrder = "orderId_1__id_1"
)

// EnsureIndexes creates the indexes the Store's queries use, if they do
// not exist yet: {userId, _id} and {orderId, _id} for List, and the
// outbox's. Calling it again, or from several processes, is harmless.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return s.c.EnsureIndexes(ctx,
		mongo.IndexModel{Keys: bson.D{{Key: fUserID, Value: 1}, {Key: fID, Value: 1}}, Options: options.Index().SetName(idxUser)},
		mongo.IndexModel{Keys: bson.D{{Key: fOrderID, Value: 1}, {Key: fID, Value: 1}}, Options: options.Index().SetName(idxOrder)},
	)
}

// parseID turns an id (24 hex digits, either case) into an ObjectID.
func parseID(id string) (bson.ObjectID, bool) {
	if !ticketkit.ValidID(id) {
		return bson.NilObjectID, false
	}
	oid, err := bson.ObjectIDFromHex(strings.ToLower(id))
	return oid, err == nil
}

func byID(oid bson.ObjectID) bson.D { return bson.D{{Key: fID, Value: oid}} }

// Create implements tickets.Store: one insert of the ticket with its
// ticket:created entry.
func (s *Store) Create(ctx context.Context, t tickets.Ticket) error {
	oid, ok := parseID(t.ID)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid ticket id %q", t.ID)
	}
	t.ID = oid.Hex()
	e, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Created, Ticket: t})
	if err != nil {
		return err
	}
	err = s.c.Insert(ctx, t.ID, docOf(t), e)
	if ticketkit.ErrorCode(err) == ticketkit.ECONFLICT {
		return &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: "Ticket " + t.ID + " already exists", Err: err}
	}
	return err
}

// Get implements tickets.Store.
func (s *Store) Get(ctx context.Context, id string) (tickets.Ticket, error) {
	r, err := s.c.Get(ctx, id)
	if err != nil {
		return tickets.Ticket{}, err
	}
	return ticketOf(r), nil
}

// List implements tickets.Store. It filters with equality on userId and
// orderId: null (unreserved), pages with _id > cursor in _id order, and
// fetches one ticket more than the page size to know whether a next page
// exists; the {userId, _id} and {orderId, _id} indexes serve it.
func (s *Store) List(ctx context.Context, f tickets.Filter) (tickets.Page, error) {
	filter := store.Filter{}
	if f.UserID != "" {
		filter[fUserID] = f.UserID
	}
	if f.Unreserved {
		filter[fOrderID] = nil // missing or null
	}
	limit := f.PageSize()
	rs, err := s.c.Find(ctx, filter, store.After(f.After), store.Limit(limit+1))
	if err != nil {
		return tickets.Page{}, err
	}
	var page tickets.Page
	if len(rs) > limit {
		rs = rs[:limit]
		page.Next = rs[limit-1].ID
	}
	page.Tickets = make([]tickets.Ticket, len(rs))
	for i, r := range rs {
		page.Tickets[i] = ticketOf(r)
	}
	return page, nil
}

// Update implements tickets.Store with one findAndModify: the filter
// {_id, version: expectedVersion, userId: t.UserID} makes it a
// compare-and-set that also proves the owner the ticket:updated entry
// carries, userId and createdAt are never written (WithImmutable), and the
// ticket comes back as stored.
func (s *Store) Update(ctx context.Context, t tickets.Ticket, expectedVersion int64) (tickets.Ticket, error) {
	next := t
	next.Version = expectedVersion + 1
	e, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Updated, Ticket: next})
	if err != nil {
		return tickets.Ticket{}, err
	}
	r, err := s.c.UpdateIf(ctx, t.ID, expectedVersion, store.Filter{fUserID: t.UserID}, docOf(next), e)
	if err != nil {
		return tickets.Ticket{}, err
	}
	return ticketOf(r), nil
}

// failure maps a driver error to a *ticketkit.Error and logs internal ones.
// ErrNoDocuments is ENOTFOUND and a duplicate key ECONFLICT. Anything else
// is EINTERNAL with a generic message; the cause is kept (for logs and
// errors.Is), and when ctx is done its error is part of the chain even if
// the driver reported the failure in its own words.
func failure(ctx context.Context, log *slog.Logger, op, id string, err error) error {
	var te *ticketkit.Error
	switch {
	case errors.As(err, &te):
		return err
	case errors.Is(err, mongo.ErrNoDocuments):
		return ticketkit.ErrNotFound
	case mongo.IsDuplicateKeyError(err):
		return &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: "The document already exists", Err: err}
	}
	cause, msg, level, code := err, "Database error", slog.LevelError, ticketkit.EINTERNAL
	ctxErr := ctx.Err()
	switch {
	case ctxErr == nil && (errors.Is(err, outbox.ErrLeaseExpired) || errors.Is(err, outbox.ErrClosed)):
		// This writer can't write now: its lease lapsed under load (or
		// the relay stopped). Nothing was written.
		msg, level, code = "The service is busy; try again shortly", slog.LevelWarn, ticketkit.EUNAVAILABLE
	case ctxErr == nil && (mongo.IsTimeout(err) || mongo.IsNetworkError(err) || errors.Is(err, context.DeadlineExceeded)):
		// The database is slow or gone; the write's outcome, if any, is
		// the outbox's to find out (Unsure).
		msg, level, code = "The database did not answer in time", slog.LevelWarn, ticketkit.EUNAVAILABLE
	case ctxErr != nil:
		if !errors.Is(err, ctxErr) {
			cause = fmt.Errorf("%w: %w", ctxErr, err)
		}
		msg, level = "The request was canceled", slog.LevelWarn
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			msg = "The database did not answer in time"
		}
	}
	attrs := []slog.Attr{slog.String("op", op), slog.Any("error", cause)}
	if id != "" {
		attrs = append(attrs, slog.String("id", id))
	}
	log.LogAttrs(context.WithoutCancel(ctx), level, "mongostore: "+op+" failed", attrs...)
	return &ticketkit.Error{Code: code, Message: msg, Err: cause}
}
