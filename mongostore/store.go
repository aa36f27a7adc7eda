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

	"github.com/ticketkit/ticketkit/tickets"
)

// DefaultCollection is the collection a Store uses unless WithCollection
// names another.
const DefaultCollection = "tickets"

// maxCollectionLen bounds collection names well inside the 255-byte
// namespace limit of MongoDB (database name + "." + collection name) and
// the lower ones of FerretDB.
const maxCollectionLen = 120

// Field names of a ticket document. They are the only keys a filter or an
// update is ever built from.
const (
	fID           = "_id"
	fTitle        = "title"
	fPrice        = "price"
	fUserID       = "userId"
	fOrderID      = "orderId"
	fVersion      = "version"
	fCreatedAt    = "createdAt"
	fUpdatedAt    = "updatedAt"
	fOutbox       = "outbox"
	fPendingSince = "pendingSince"
)

// Outbox entry kinds as stored.
const (
	kindCreated = "created"
	kindUpdated = "updated"
)

// Store is a tickets.Store and tickets.Outbox on one MongoDB collection.
// It is safe for concurrent use.
type Store struct {
	coll *mongo.Collection
	ns   string // database.collection, for docLocks
	log  *slog.Logger
	wake chan struct{}

	// noDocLocks turns docLocks off, so that tests can exercise the
	// server's own compare-and-set on MongoDB.
	noDocLocks bool
}

var (
	_ tickets.Store  = (*Store)(nil)
	_ tickets.Outbox = (*Store)(nil)
)

// Option configures a Store. Options are validated by New.
type Option func(*config) error

type config struct {
	collection string
	logger     *slog.Logger
}

// newConfig checks the arguments New and NewReplica share and applies the
// options to the defaults.
func newConfig(db *mongo.Database, opts []Option) (config, error) {
	cfg := config{collection: DefaultCollection, logger: slog.New(slog.DiscardHandler)}
	if db == nil {
		return cfg, errors.New("mongostore: database is nil")
	}
	for i, o := range opts {
		if o == nil {
			return cfg, fmt.Errorf("mongostore: option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return cfg, fmt.Errorf("mongostore: %w", err)
		}
	}
	return cfg, nil
}

// WithCollection makes the Store keep tickets in the named collection
// instead of DefaultCollection. The name must be a valid collection name:
// non-empty, UTF-8, at most 120 bytes, without '$' or NUL, and not in the
// "system." namespace.
func WithCollection(name string) Option {
	return func(c *config) error {
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
		c.collection = name
		return nil
	}
}

// WithLogger makes the Store log through l. By default it logs nothing.
// It logs internal (database) errors with their cause at Error level (Warn
// when the caller's context was done), and expected outcomes such as
// conflicts at Debug level.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		c.logger = l
		return nil
	}
}

// New returns a Store on db, which the caller keeps owning: the Store never
// connects, disconnects or drops anything. New does no I/O; call
// EnsureIndexes to create the indexes the queries rely on.
func New(db *mongo.Database, opts ...Option) (*Store, error) {
	cfg, err := newConfig(db, opts)
	if err != nil {
		return nil, err
	}
	return &Store{
		coll: db.Collection(cfg.collection),
		ns:   db.Name() + "." + cfg.collection,
		log:  cfg.logger,
		wake: make(chan struct{}, 1),
	}, nil
}

// Index names, so that EnsureIndexes is recognisably the same each time.
const (
	idxUser    = "userId_1__id_1"
	idxOrder   = "orderId_1__id_1"
	idxPending = "pendingSince_1__id_1"
)

// indexes are the secondary indexes the queries need on MongoDB:
//   - List by user in id order: {userId, _id}.
//   - List of unreserved tickets ({orderId: null}) in id order: {orderId, _id}.
//   - Pending, oldest first: {pendingSince, _id}; tickets with nothing
//     pending lack pendingSince and fall outside the scanned range.
func indexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		{Keys: bson.D{{Key: fUserID, Value: 1}, {Key: fID, Value: 1}}, Options: options.Index().SetName(idxUser)},
		{Keys: bson.D{{Key: fOrderID, Value: 1}, {Key: fID, Value: 1}}, Options: options.Index().SetName(idxOrder)},
		{Keys: bson.D{{Key: fPendingSince, Value: 1}, {Key: fID, Value: 1}}, Options: options.Index().SetName(idxPending)},
	}
}

// EnsureIndexes creates the indexes the Store's queries use, if they do not
// exist yet. Calling it again, or from several processes, is harmless.
//
// It creates them one createIndexes command at a time: FerretDB 1.24 drops
// the connection (a server panic, "slice bounds out of range") when one
// command names two indexes that already exist, and can skip a new index
// listed after existing ones.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for _, idx := range indexes() {
		if _, err := s.coll.Indexes().CreateOne(ctx, idx); err != nil {
			return s.fail(ctx, "EnsureIndexes", "", err)
		}
	}
	return nil
}

// ticketDoc is a ticket document as stored; see the package documentation.
// Reads decode into it and skip the outbox, which it does not name.
type ticketDoc struct {
	ID        bson.ObjectID `bson:"_id"`
	Title     string        `bson:"title"`
	Price     int64         `bson:"price"`
	UserID    string        `bson:"userId"`
	OrderID   string        `bson:"orderId,omitempty"`
	Version   int64         `bson:"version"`
	CreatedAt time.Time     `bson:"createdAt"`
	UpdatedAt time.Time     `bson:"updatedAt"`
}

func (d ticketDoc) ticket() tickets.Ticket {
	return tickets.Ticket{
		ID:        d.ID.Hex(),
		Title:     d.Title,
		Price:     tickets.Money(d.Price),
		UserID:    d.UserID,
		OrderID:   d.OrderID,
		Version:   d.Version,
		CreatedAt: d.CreatedAt.UTC(),
		UpdatedAt: d.UpdatedAt.UTC(),
	}
}

// newDoc is the document Create inserts: the ticket, its Created entry, and
// pendingSince.
type newDoc struct {
	ID           bson.ObjectID `bson:"_id"`
	Title        string        `bson:"title"`
	Price        int64         `bson:"price"`
	UserID       string        `bson:"userId"`
	OrderID      string        `bson:"orderId,omitempty"`
	Version      int64         `bson:"version"`
	CreatedAt    time.Time     `bson:"createdAt"`
	UpdatedAt    time.Time     `bson:"updatedAt"`
	Outbox       []entry       `bson:"outbox"`
	PendingSince time.Time     `bson:"pendingSince"`
}

// entry is one outbox entry: the ticket's mutable fields right after a
// change. userId and createdAt never change and are read from the document.
type entry struct {
	Kind      string    `bson:"kind"`
	Version   int64     `bson:"version"`
	Title     string    `bson:"title"`
	Price     int64     `bson:"price"`
	OrderID   string    `bson:"orderId,omitempty"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

// ticketProjection reads a ticket without its outbox.
var ticketProjection = bson.D{
	{Key: fTitle, Value: 1}, {Key: fPrice, Value: 1}, {Key: fUserID, Value: 1}, {Key: fOrderID, Value: 1},
	{Key: fVersion, Value: 1}, {Key: fCreatedAt, Value: 1}, {Key: fUpdatedAt, Value: 1},
}

// parseID turns a ticket id (24 hex digits, either case) into an ObjectID.
func parseID(id string) (bson.ObjectID, bool) {
	if !tickets.ValidID(id) {
		return bson.NilObjectID, false
	}
	oid, err := bson.ObjectIDFromHex(strings.ToLower(id))
	return oid, err == nil
}

func byID(oid bson.ObjectID) bson.D { return bson.D{{Key: fID, Value: oid}} }

// Create implements tickets.Store.
func (s *Store) Create(ctx context.Context, t tickets.Ticket) error {
	oid, ok := parseID(t.ID)
	if !ok {
		return tickets.Errorf(tickets.EINVALID, "Invalid ticket id %q", t.ID)
	}
	d := ticketDoc{
		ID:        oid,
		Title:     t.Title,
		Price:     int64(t.Price),
		UserID:    t.UserID,
		OrderID:   t.OrderID,
		Version:   t.Version,
		CreatedAt: t.CreatedAt,
		UpdatedAt: t.UpdatedAt,
	}
	doc := newDoc{
		ID:           d.ID,
		Title:        d.Title,
		Price:        d.Price,
		UserID:       d.UserID,
		OrderID:      d.OrderID,
		Version:      d.Version,
		CreatedAt:    d.CreatedAt,
		UpdatedAt:    d.UpdatedAt,
		Outbox:       []entry{entryOf(kindCreated, d)},
		PendingSince: time.Now(),
	}
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "mongostore: create of an existing ticket", slog.String("id", oid.Hex()))
			return &tickets.Error{Code: tickets.ECONFLICT, Message: "Ticket " + oid.Hex() + " already exists", Err: err}
		}
		return s.fail(ctx, "Create", oid.Hex(), err)
	}
	s.notify()
	return nil
}

func entryOf(kind string, d ticketDoc) entry {
	return entry{
		Kind:      kind,
		Version:   d.Version,
		Title:     d.Title,
		Price:     d.Price,
		OrderID:   d.OrderID,
		UpdatedAt: d.UpdatedAt,
	}
}

// Get implements tickets.Store.
func (s *Store) Get(ctx context.Context, id string) (tickets.Ticket, error) {
	oid, ok := parseID(id)
	if !ok {
		return tickets.Ticket{}, tickets.ErrNotFound
	}
	var d ticketDoc
	err := s.coll.FindOne(ctx, byID(oid), options.FindOne().SetProjection(ticketProjection)).Decode(&d)
	if err != nil {
		return tickets.Ticket{}, s.fail(ctx, "Get", oid.Hex(), err)
	}
	return d.ticket(), nil
}

// List implements tickets.Store. It filters with equality on userId and
// orderId: null (unreserved), pages with _id > cursor in _id order, and
// fetches one ticket more than the page size to know whether a next page
// exists; the {userId, _id} and {orderId, _id} indexes serve it.
func (s *Store) List(ctx context.Context, f tickets.Filter) (tickets.Page, error) {
	filter := bson.D{}
	if f.UserID != "" {
		filter = append(filter, bson.E{Key: fUserID, Value: f.UserID})
	}
	if f.Unreserved {
		// Matches a missing orderId (and a null one).
		filter = append(filter, bson.E{Key: fOrderID, Value: nil})
	}
	if f.After != "" {
		after, ok := parseID(f.After)
		if !ok {
			return tickets.Page{}, tickets.Errorf(tickets.EINVALID, "Invalid page cursor")
		}
		filter = append(filter, bson.E{Key: fID, Value: bson.D{{Key: "$gt", Value: after}}})
	}
	limit := f.PageSize()
	opts := options.Find().
		SetSort(bson.D{{Key: fID, Value: 1}}).
		SetLimit(int64(limit) + 1).
		SetProjection(ticketProjection)
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return tickets.Page{}, s.fail(ctx, "List", "", err)
	}
	var docs []ticketDoc
	if err := cur.All(ctx, &docs); err != nil {
		return tickets.Page{}, s.fail(ctx, "List", "", err)
	}
	var page tickets.Page
	if len(docs) > limit {
		docs = docs[:limit]
		page.Next = docs[limit-1].ID.Hex()
	}
	page.Tickets = make([]tickets.Ticket, len(docs))
	for i, d := range docs {
		page.Tickets[i] = d.ticket()
	}
	return page, nil
}

// Update implements tickets.Store with one findAndModify: the filter
// {_id, version: expectedVersion} makes it a compare-and-set, and the same
// update records the Updated change in the outbox.
func (s *Store) Update(ctx context.Context, t tickets.Ticket, expectedVersion int64) (tickets.Ticket, error) {
	oid, ok := parseID(t.ID)
	if !ok {
		return tickets.Ticket{}, tickets.ErrNotFound
	}
	next := ticketDoc{
		Title:     t.Title,
		Price:     int64(t.Price),
		OrderID:   t.OrderID,
		Version:   expectedVersion + 1,
		UpdatedAt: t.UpdatedAt,
	}
	set := bson.D{
		{Key: fTitle, Value: next.Title},
		{Key: fPrice, Value: next.Price},
		{Key: fUpdatedAt, Value: next.UpdatedAt},
	}
	update := bson.D{}
	if next.OrderID != "" {
		set = append(set, bson.E{Key: fOrderID, Value: next.OrderID})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: fOrderID, Value: ""}}})
	}
	update = append(update,
		bson.E{Key: "$set", Value: set},
		bson.E{Key: "$inc", Value: bson.D{{Key: fVersion, Value: int64(1)}}},
		bson.E{Key: "$push", Value: bson.D{{Key: fOutbox, Value: entryOf(kindUpdated, next)}}},
		// Sets pendingSince when the outbox was empty, keeps an older one.
		bson.E{Key: "$min", Value: bson.D{{Key: fPendingSince, Value: time.Now()}}},
	)
	filter := bson.D{{Key: fID, Value: oid}, {Key: fVersion, Value: expectedVersion}}
	// No projection: FerretDB does not implement one on findAndModify.
	// Decoding into ticketDoc skips the outbox.
	var d ticketDoc
	doc, err := s.lockDoc(ctx, oid)
	if err != nil {
		return tickets.Ticket{}, s.fail(ctx, "Update", oid.Hex(), err)
	}
	if doc.stale(expectedVersion) {
		doc.unlock()
		return tickets.Ticket{}, s.conflict(ctx, oid, expectedVersion)
	}
	err = s.coll.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err == nil {
		doc.wrote(d.Version)
	}
	doc.unlock()
	switch {
	case err == nil:
		s.notify()
		return d.ticket(), nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return tickets.Ticket{}, s.fail(ctx, "Update", oid.Hex(), err)
	}
	// Nothing matched: either there is no such ticket, or its version is
	// not expectedVersion. Tickets are never deleted, so a ticket that
	// exists now existed at the update too: the update lost a race.
	err = s.coll.FindOne(ctx, byID(oid), options.FindOne().SetProjection(bson.D{{Key: fID, Value: 1}})).Err()
	if err != nil {
		return tickets.Ticket{}, s.fail(ctx, "Update", oid.Hex(), err)
	}
	return tickets.Ticket{}, s.conflict(ctx, oid, expectedVersion)
}

func (s *Store) conflict(ctx context.Context, oid bson.ObjectID, expectedVersion int64) error {
	s.log.LogAttrs(ctx, slog.LevelDebug, "mongostore: update conflict",
		slog.String("id", oid.Hex()), slog.Int64("expectedVersion", expectedVersion))
	return tickets.ErrConflict
}

// notify signals Wake, coalescing with a signal not yet received.
func (s *Store) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// fail maps a driver error to a *tickets.Error and logs internal ones.
// ErrNoDocuments is ENOTFOUND and a duplicate key ECONFLICT. Anything else
// is EINTERNAL with a generic message; the cause is kept (for logs and
// errors.Is), and when ctx is done its error is part of the chain even if
// the driver reported the failure in its own words.
func (s *Store) fail(ctx context.Context, op, id string, err error) error {
	return failure(ctx, s.log, op, id, err)
}

// failure is fail for any logger; Stores and Replicas share it.
func failure(ctx context.Context, log *slog.Logger, op, id string, err error) error {
	var te *tickets.Error
	switch {
	case errors.As(err, &te):
		return err
	case errors.Is(err, mongo.ErrNoDocuments):
		return tickets.ErrNotFound
	case mongo.IsDuplicateKeyError(err):
		return &tickets.Error{Code: tickets.ECONFLICT, Message: "The ticket already exists", Err: err}
	}
	cause, msg, level := err, "Database error", slog.LevelError
	ctxErr := ctx.Err()
	switch {
	case ctxErr != nil:
		if !errors.Is(err, ctxErr) {
			cause = fmt.Errorf("%w: %w", ctxErr, err)
		}
		msg, level = "The request was canceled", slog.LevelWarn
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			msg = "The database did not answer in time"
		}
	case mongo.IsTimeout(err):
		msg = "The database did not answer in time"
	}
	attrs := []slog.Attr{slog.String("op", op), slog.Any("error", cause)}
	if id != "" {
		attrs = append(attrs, slog.String("id", id))
	}
	log.LogAttrs(context.WithoutCancel(ctx), level, "mongostore: "+op+" failed", attrs...)
	return &tickets.Error{Code: tickets.EINTERNAL, Message: msg, Err: cause}
}
