package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/outbox"
)

// maxCollectionLen bounds collection names well inside the 255-byte
// namespace limit of MongoDB (database name + "." + collection name) and
// the lower ones of FerretDB.
const maxCollectionLen = 120

// CollectionOption configures NewCollection.
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
	logger      *slog.Logger
	docLocks    bool
	immutable   []string
	groupCommit bool
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

// parseID turns an id (24 hex digits, either case) into an ObjectID.
func parseID(id string) (bson.ObjectID, bool) {
	if !ticketkit.ValidID(id) {
		return bson.NilObjectID, false
	}
	oid, err := bson.ObjectIDFromHex(strings.ToLower(id))
	return oid, err == nil
}

func byID(oid bson.ObjectID) bson.D { return bson.D{{Key: fID, Value: oid}} }

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
	case mongo.IsDuplicateKeyError(err), ferretUniqueViolation(err):
		return &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: "The document already exists, or another has one of its unique values", Err: err}
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

// ferretUniqueViolation reports whether err is FerretDB 1.x's answer to an
// update that would break a unique index: MongoDB answers an insert's and
// an update's with DuplicateKey (11000), but FerretDB 1.24 on SQLite
// answers a findAndModify's with an InternalError carrying SQLite's
// message. It is read only on a failed write, so it costs MongoDB nothing.
func ferretUniqueViolation(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
