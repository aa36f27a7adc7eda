package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit/outbox"
)

// Collections of an Outbox, unless OutboxOptions say otherwise.
const (
	DefaultWritersCollection     = "outbox_writers"
	DefaultDeadLettersCollection = "outbox_dead"
)

// Outbox is the outbox.Driver of one writer (one process) on a MongoDB
// database: its lease in the writers collection, its Queue, and the
// Collections written through it. Make one per process with NewOutbox and
// run an outbox.Relay on it.
type Outbox struct {
	db      *mongo.Database
	writers *mongo.Collection
	beats   *mongo.Collection // writers, through the lease database
	dead    *mongo.Collection
	q       *outbox.Queue
	log     *slog.Logger

	mu    sync.Mutex
	colls []string // the collections written through this Outbox
}

var _ outbox.Driver = (*Outbox)(nil)

// OutboxOption configures NewOutbox.
type OutboxOption func(*outboxConfig) error

type outboxConfig struct {
	writers, dead string
	queue         []outbox.QueueOption
	logger        *slog.Logger
	leases        *mongo.Database
}

// WithLeaseDatabase renews the writer's lease (Beat) through db, the same
// database on a client of its own with a small pool, rather than through
// the database the writes go to. A renewal then never waits for a
// connection behind the writes its lease fences: on a database that
// answers in seconds under load, the writes can hold every connection of
// their pool, and a lease that lapses refuses them all (issue 20, item 10).
// The caller owns db's client and disconnects it after the Relay closed.
func WithLeaseDatabase(db *mongo.Database) OutboxOption {
	return func(c *outboxConfig) error {
		if db == nil {
			return errors.New("lease database is nil")
		}
		c.leases = db
		return nil
	}
}

// WithWriters names the collection of the writers' leases.
func WithWriters(name string) OutboxOption {
	return func(c *outboxConfig) error {
		if err := checkCollection(name); err != nil {
			return err
		}
		c.writers = name
		return nil
	}
}

// WithDeadLetters names the collection where the Relay's dead letters go.
func WithDeadLetters(name string) OutboxOption {
	return func(c *outboxConfig) error {
		if err := checkCollection(name); err != nil {
			return err
		}
		c.dead = name
		return nil
	}
}

// WithQueue passes options to the writer's outbox.Queue (its TTL, how many
// entries it holds in memory).
func WithQueue(opts ...outbox.QueueOption) OutboxOption {
	return func(c *outboxConfig) error { c.queue = append(c.queue, opts...); return nil }
}

// WithOutboxLogger makes the Outbox log its database errors through l.
func WithOutboxLogger(l *slog.Logger) OutboxOption {
	return func(c *outboxConfig) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		c.logger = l
		return nil
	}
}

// leaseDoc is a writer's lease as stored.
type leaseDoc struct {
	ID        string    `bson:"_id"`
	Beat      int64     `bson:"beat"`
	Horizon   int64     `bson:"horizon"`
	Next      int64     `bson:"next"`
	Pending   []int64   `bson:"pending"`
	Released  bool      `bson:"released"`
	ClaimedBy string    `bson:"claimedBy"`
	Colls     []string  `bson:"colls"`
	Started   time.Time `bson:"started"`
}

// NewOutbox registers a new writer on db: it inserts the writer's lease,
// so call it once per process, before the first write. The caller keeps
// owning db's client.
func NewOutbox(ctx context.Context, db *mongo.Database, opts ...OutboxOption) (*Outbox, error) {
	if db == nil {
		return nil, errors.New("mongostore: database is nil")
	}
	cfg := outboxConfig{writers: DefaultWritersCollection, dead: DefaultDeadLettersCollection, logger: slog.New(slog.DiscardHandler)}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("mongostore: outbox option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("mongostore: %w", err)
		}
	}
	id := uuid.NewString()
	ob := &Outbox{db: db, writers: db.Collection(cfg.writers), dead: db.Collection(cfg.dead), log: cfg.logger}
	ob.beats = ob.writers
	if cfg.leases != nil {
		if cfg.leases.Name() != db.Name() {
			return nil, fmt.Errorf("mongostore: the lease database %q is not the outbox's %q", cfg.leases.Name(), db.Name())
		}
		ob.beats = cfg.leases.Collection(cfg.writers)
	}
	if _, err := ob.writers.InsertOne(ctx, leaseDoc{ID: id, Started: time.Now(), Colls: []string{}}); err != nil {
		return nil, failure(ctx, ob.log, "NewOutbox", id, err)
	}
	q, err := outbox.NewQueue(id, cfg.queue...)
	if err != nil {
		return nil, err
	}
	ob.q = q
	return ob, nil
}

// register records that collection name is written through ob, so that a
// takeover of this writer looks there.
func (ob *Outbox) register(name string) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if !slices.Contains(ob.colls, name) {
		ob.colls = append(ob.colls, name)
	}
}

func (ob *Outbox) collections() []string {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return slices.Clone(ob.colls)
}

// Queue implements outbox.Driver.
func (ob *Outbox) Queue() *outbox.Queue { return ob.q }

// Beat implements outbox.Driver: one update of the lease by _id (an
// upsert, should another instance have retired it), through the lease
// database when there is one (WithLeaseDatabase).
func (ob *Outbox) Beat(ctx context.Context, p outbox.Progress) error {
	pending := make([]int64, len(p.Pending))
	for i, seq := range p.Pending {
		pending[i] = int64(seq)
	}
	// Beats may land out of order: the horizon only moves up, and Next
	// and Pending of an earlier beat are a safe superset of a later one's.
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "beat", Value: int64(1)}}},
		{Key: "$max", Value: bson.D{{Key: "horizon", Value: int64(p.Horizon)}}},
		{Key: "$set", Value: bson.D{{Key: "claimedBy", Value: ""}, {Key: "colls", Value: ob.collections()},
			{Key: "next", Value: int64(p.Next)}, {Key: "pending", Value: pending}, {Key: "released", Value: p.Released}}},
	}
	_, err := ob.beats.UpdateOne(ctx, bson.D{{Key: "_id", Value: ob.q.Writer()}}, update, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return failure(ctx, ob.log, "Outbox.Beat", ob.q.Writer(), err)
	}
	return nil
}

// Writers implements outbox.Driver.
func (ob *Outbox) Writers(ctx context.Context) ([]outbox.Lease, error) {
	cur, err := ob.writers.Find(ctx, bson.D{})
	if err != nil {
		return nil, failure(ctx, ob.log, "Outbox.Writers", "", err)
	}
	var docs []leaseDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, failure(ctx, ob.log, "Outbox.Writers", "", err)
	}
	out := make([]outbox.Lease, len(docs))
	for i, d := range docs {
		pending := make([]uint64, 0, len(d.Pending))
		for _, seq := range d.Pending {
			pending = append(pending, uint64(max(seq, 0)))
		}
		slices.Sort(pending)
		out[i] = outbox.Lease{Writer: d.ID, Beat: d.Beat, Horizon: uint64(max(d.Horizon, 0)), Next: uint64(max(d.Next, 0)), Pending: pending, Released: d.Released, ClaimedBy: d.ClaimedBy}
	}
	return out, nil
}

// Claim implements outbox.Driver with a compare-and-set on the lease.
func (ob *Outbox) Claim(ctx context.Context, l outbox.Lease, claimant string) (bool, error) {
	filter := bson.D{{Key: "_id", Value: l.Writer}, {Key: "beat", Value: l.Beat}, {Key: "claimedBy", Value: l.ClaimedBy}}
	r, err := ob.writers.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "claimedBy", Value: claimant}}}})
	if err != nil {
		return false, failure(ctx, ob.log, "Outbox.Claim", l.Writer, err)
	}
	return r.MatchedCount == 1, nil
}

// Retire implements outbox.Driver.
func (ob *Outbox) Retire(ctx context.Context, l outbox.Lease) (bool, error) {
	r, err := ob.writers.DeleteOne(ctx, bson.D{{Key: "_id", Value: l.Writer}, {Key: "beat", Value: l.Beat}})
	if err != nil {
		return false, failure(ctx, ob.log, "Outbox.Retire", l.Writer, err)
	}
	return r.DeletedCount == 1, nil
}

// Recover implements outbox.Driver: in every collection the writer wrote
// (its lease says which), the documents holding one of its entries above
// after. On MongoDB the outbox index ({outbox.w, outbox.s}) serves it with
// the writer's range of the index (its entries still in documents).
func (ob *Outbox) Recover(ctx context.Context, writer string, after uint64) ([]outbox.Entry, error) {
	colls := ob.collections()
	var l leaseDoc
	err := ob.writers.FindOne(ctx, bson.D{{Key: "_id", Value: writer}}).Decode(&l)
	switch {
	case err == nil:
		for _, c := range l.Colls {
			if !slices.Contains(colls, c) {
				colls = append(colls, c)
			}
		}
	case !errors.Is(err, mongo.ErrNoDocuments):
		return nil, failure(ctx, ob.log, "Outbox.Recover", writer, err)
	}
	// Dotted paths, not $elemMatch (which FerretDB 1.24 refuses with field
	// conditions): this matches a document where one entry is the
	// writer's and one is above after, which may be two entries, so the
	// loop below picks the entries that are both.
	filter := bson.D{{Key: fOutbox + "." + eWriter, Value: writer}, {Key: fOutbox + "." + eSeq, Value: bson.D{{Key: "$gt", Value: int64(after)}}}}
	var out []outbox.Entry
	for _, name := range colls {
		cur, err := ob.db.Collection(name).Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: fOutbox, Value: 1}}))
		if err != nil {
			return nil, failure(ctx, ob.log, "Outbox.Recover", writer, err)
		}
		var docs []struct {
			ID     bson.ObjectID `bson:"_id"`
			Outbox []entryDoc    `bson:"outbox"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return nil, failure(ctx, ob.log, "Outbox.Recover", writer, err)
		}
		for _, d := range docs {
			for _, e := range d.Outbox {
				if e.Writer == writer && e.Seq > int64(after) {
					out = append(out, e.entry(d.ID.Hex()))
				}
			}
		}
	}
	return out, nil
}

// deadDoc is a dead letter as stored.
type deadDoc struct {
	ID        bson.ObjectID `bson:"_id"`
	Aggregate string        `bson:"aggregate"`
	Version   int64         `bson:"version"`
	Subject   string        `bson:"subject"`
	Data      []byte        `bson:"data"`
	MessageID string        `bson:"messageId"`
	Writer    string        `bson:"writer"`
	Seq       int64         `bson:"seq"`
	Cause     string        `bson:"cause"`
	At        time.Time     `bson:"at"`
}

// DeadLetter implements outbox.Driver: one insert into the dead-letter
// collection.
func (ob *Outbox) DeadLetter(ctx context.Context, e outbox.Entry, cause error) error {
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	d := deadDoc{ID: bson.NewObjectID(), Aggregate: e.Aggregate, Version: e.Version, Subject: e.Subject, Data: e.Data,
		MessageID: e.MessageID, Writer: e.Writer, Seq: int64(e.Seq), Cause: msg, At: time.Now()}
	if _, err := ob.dead.InsertOne(ctx, d); err != nil {
		return failure(ctx, ob.log, "Outbox.DeadLetter", e.Aggregate, err)
	}
	return nil
}

// Field names of an outbox entry as stored, kept short: every document
// holds its latest entries.
const (
	eWriter    = "w"
	eSeq       = "s"
	eVersion   = "v"
	eSubject   = "subject"
	eData      = "data"
	eMessageID = "mid"
	eTime      = "at"
	eNotBefore = "nb"
)

// entryDoc is one outbox entry as stored in its document.
type entryDoc struct {
	Writer    string    `bson:"w"`
	Seq       int64     `bson:"s"`
	Version   int64     `bson:"v"`
	Subject   string    `bson:"subject"`
	Data      []byte    `bson:"data"`
	MessageID string    `bson:"mid"`
	Time      time.Time `bson:"at"`
	// Header is the writing request's trace context and correlation id
	// (outbox.Capture).
	Header map[string]string `bson:"h,omitempty"`
	// NotBefore is when a delayed entry is due (outbox.Delay).
	NotBefore time.Time `bson:"nb,omitempty"`
}

func toEntryDoc(e outbox.Entry) entryDoc {
	return entryDoc{Writer: e.Writer, Seq: int64(e.Seq), Version: e.Version, Subject: e.Subject, Data: e.Data, MessageID: e.MessageID, Time: e.Time, Header: e.Header, NotBefore: e.NotBefore}
}

func (d entryDoc) entry(aggregate string) outbox.Entry {
	return outbox.Entry{Aggregate: aggregate, Version: d.Version, Subject: d.Subject, Data: d.Data, MessageID: d.MessageID,
		Writer: d.Writer, Seq: uint64(max(d.Seq, 0)), Time: d.Time.UTC(), Header: d.Header, NotBefore: notBefore(d.NotBefore)}
}

// notBefore is a stored due time in UTC, the zero time for none.
func notBefore(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
