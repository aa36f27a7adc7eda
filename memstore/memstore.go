// Package memstore is the in-memory backend of the storage API (package
// store), with exactly the semantics and constructors of mongostore: a
// versioned Collection for any document type, whose every write carries
// its outbox entries; a version-ordered Replica; Outbox, the
// outbox.Driver of one writer. It knows no domain (the tickets and orders
// stores are tickets/ticketstore and orders/orderstore, on either
// backend). It is for tests, examples and a one-command local run.
//
// A DB is what several instances share, as they would share a database:
// each instance makes its own Outbox on it (a writer with its lease), so
// tests can run several relays on one store and kill one of them, and
// every Replica of one name on it is one replica.
package memstore

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/idempotency"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/store"
)

// maxEntries is how many entries a document holds before a write trims
// those the horizons say are settled, as mongostore does.
const maxEntries = 16

// DB is an in-memory database. It is safe for concurrent use.
type DB struct {
	mu     sync.Mutex
	colls  map[string]*coll
	leases map[string]*outbox.Lease
	dead   []DeadLetter
}

// coll is a collection: its documents by id, and their ids in order, so
// that a page of Find costs a binary search and the page, not a scan and
// a sort of every document (issue 20, finding 11). Documents are never
// deleted; a new id is inserted in place, which is an append for ids
// made by ticketkit.NewID, as they grow with time.
type coll struct {
	docs map[string]*doc
	ids  []string          // sorted
	keys map[string]string // idempotency key id -> document id
	// uniq is the unique index of each store.Unique field: its values
	// and the document holding each, made when first needed.
	uniq map[string]map[any]string
}

// put adds document id, which is not in c.
func (c *coll) put(id string, d *doc) {
	c.docs[id] = d
	i, _ := slices.BinarySearch(c.ids, id)
	c.ids = slices.Insert(c.ids, i, id)
}

// collLocked returns collection name, made if need be; db.mu is held.
func (db *DB) collLocked(name string) *coll {
	c, ok := db.colls[name]
	if !ok {
		c = &coll{docs: make(map[string]*doc)}
		db.colls[name] = c
	}
	return c
}

type doc struct {
	version int64
	value   any
	entries []outbox.Entry
	claim   string // a Replica's own mark on its copy
	key     *idempotency.Key
}

// DeadLetter is an entry a Relay gave up on, as the DB keeps it.
type DeadLetter struct {
	Entry outbox.Entry
	Cause string
	At    time.Time
}

// NewDB returns an empty DB.
func NewDB() *DB {
	return &DB{colls: make(map[string]*coll), leases: make(map[string]*outbox.Lease)}
}

// Has reports whether collection (a Collection's or a Replica's name)
// holds document id, for tests that wait for a write.
func (db *DB) Has(collection, id string) bool {
	nid, ok := normID(id)
	if !ok {
		return false
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	c, ok := db.colls[collection]
	if !ok {
		return false
	}
	_, ok = c.docs[nid]
	return ok
}

// DeadLetters returns the dead letters recorded so far.
func (db *DB) DeadLetters() []DeadLetter {
	db.mu.Lock()
	defer db.mu.Unlock()
	return slices.Clone(db.dead)
}

// Outbox is one writer on a DB: the outbox.Driver of one instance.
type Outbox struct {
	db *DB
	q  *outbox.Queue
}

var _ outbox.Driver = (*Outbox)(nil)

// NewOutbox registers a new writer on db, with its lease.
func (db *DB) NewOutbox(opts ...outbox.QueueOption) (*Outbox, error) {
	id := uuid.NewString()
	db.mu.Lock()
	db.leases[id] = &outbox.Lease{Writer: id}
	db.mu.Unlock()
	q, err := outbox.NewQueue(id, opts...)
	if err != nil {
		db.mu.Lock()
		delete(db.leases, id)
		db.mu.Unlock()
		return nil, err
	}
	return &Outbox{db: db, q: q}, nil
}

// DB returns the DB the writer writes to.
func (o *Outbox) DB() *DB { return o.db }

// Queue implements outbox.Driver.
func (o *Outbox) Queue() *outbox.Queue { return o.q }

// Beat implements outbox.Driver.
func (o *Outbox) Beat(ctx context.Context, p outbox.Progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.db.mu.Lock()
	defer o.db.mu.Unlock()
	l, ok := o.db.leases[o.q.Writer()]
	if !ok {
		l = &outbox.Lease{Writer: o.q.Writer()}
		o.db.leases[l.Writer] = l
	}
	l.Beat++
	l.Horizon = max(l.Horizon, p.Horizon)
	l.Next, l.Pending, l.Released = p.Next, slices.Clone(p.Pending), p.Released
	l.ClaimedBy = ""
	return nil
}

// Writers implements outbox.Driver.
func (o *Outbox) Writers(ctx context.Context) ([]outbox.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.db.mu.Lock()
	defer o.db.mu.Unlock()
	out := make([]outbox.Lease, 0, len(o.db.leases))
	for _, l := range o.db.leases {
		out = append(out, *l)
	}
	return out, nil
}

// Claim implements outbox.Driver.
func (o *Outbox) Claim(ctx context.Context, l outbox.Lease, claimant string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	o.db.mu.Lock()
	defer o.db.mu.Unlock()
	cur, ok := o.db.leases[l.Writer]
	if !ok || cur.Beat != l.Beat || cur.ClaimedBy != l.ClaimedBy {
		return false, nil
	}
	cur.ClaimedBy = claimant
	return true, nil
}

// Recover implements outbox.Driver.
func (o *Outbox) Recover(ctx context.Context, writer string, after uint64) ([]outbox.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.db.mu.Lock()
	defer o.db.mu.Unlock()
	var out []outbox.Entry
	for _, c := range o.db.colls {
		for _, d := range c.docs {
			for _, e := range d.entries {
				if e.Writer == writer && e.Seq > after {
					out = append(out, e)
				}
			}
		}
	}
	return out, nil
}

// Retire implements outbox.Driver.
func (o *Outbox) Retire(ctx context.Context, l outbox.Lease) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	o.db.mu.Lock()
	defer o.db.mu.Unlock()
	cur, ok := o.db.leases[l.Writer]
	if !ok || cur.Beat != l.Beat {
		return false, nil
	}
	delete(o.db.leases, l.Writer)
	return true, nil
}

// DeadLetter implements outbox.Driver.
func (o *Outbox) DeadLetter(ctx context.Context, e outbox.Entry, cause error) error {
	msg := "unknown"
	if cause != nil {
		msg = cause.Error()
	}
	o.db.mu.Lock()
	o.db.dead = append(o.db.dead, DeadLetter{Entry: e, Cause: msg, At: time.Now()})
	o.db.mu.Unlock()
	return nil
}

// trimLocked drops the entries of d that the leases say are settled, once
// d holds maxEntries of them; db.mu is held.
func (db *DB) trimLocked(d *doc) {
	if len(d.entries) < maxEntries {
		return
	}
	d.entries = slices.DeleteFunc(d.entries, func(e outbox.Entry) bool {
		l, ok := db.leases[e.Writer]
		return !ok || e.Seq <= l.Horizon
	})
}

// Record is the storage API's record (store.Record), which both backends
// return.
type Record[T any] = store.Record[T]

// Collection is a versioned collection of T documents on a DB, written
// through one writer's Outbox: store.Collection in memory, with
// mongostore.Collection's semantics. It is safe for concurrent use.
type Collection[T any] struct {
	db        *DB
	name      string
	ob        *Outbox
	immutable []string // store.ImmutableFields of T
	unique    []string // store.UniqueFields of T
}

var _ store.Collection[struct{}] = (*Collection[struct{}])(nil)

// CollectionOption configures NewCollection. There are none yet: the
// type is there so that both backends' constructors have one shape.
type CollectionOption func(*collectionConfig) error

type collectionConfig struct{}

// NewCollection returns the collection name of ob's DB, written through
// ob, as mongostore.NewCollection does on MongoDB.
func NewCollection[T any](ob *Outbox, name string, opts ...CollectionOption) (*Collection[T], error) {
	if ob == nil || name == "" {
		return nil, errors.New("memstore: NewCollection needs an Outbox and a name")
	}
	var cfg collectionConfig
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("memstore: nil CollectionOption")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	unique := store.UniqueFields[T]()
	if err := checkUnique(reflect.TypeFor[T](), unique); err != nil {
		return nil, err
	}
	return &Collection[T]{db: ob.db, name: name, ob: ob, immutable: store.ImmutableFields[T](), unique: unique}, nil
}

// normID is id in its canonical form (ticketkit.CanonicalID).
func normID(id string) (string, bool) { return ticketkit.CanonicalID(id) }

// write stamps the entries, applies mutate under the DB's lock and hands
// the entries to the writer's Queue.
func (c *Collection[T]) write(ctx context.Context, id string, version int64, evs []events.Event, mutate func(docs *coll, es []outbox.Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	es, err := outbox.NewEntries(id, version, evs...)
	if err != nil {
		return &ticketkit.Error{Code: ticketkit.EINTERNAL, Message: "Internal error", Err: err}
	}
	outbox.Capture(ctx, es)
	if _, err := c.ob.q.Stamp(es); err != nil {
		return &ticketkit.Error{Code: ticketkit.EUNAVAILABLE, Message: "The service is not ready to write", Err: err}
	}
	c.db.mu.Lock()
	err = mutate(c.db.collLocked(c.name), es)
	c.db.mu.Unlock()
	if err != nil {
		c.ob.q.Abandon(es...)
		return err
	}
	c.ob.q.Commit(es...)
	return nil
}

// Insert stores v as version 0 of id, with one outbox entry per event.
// Errors: EINVALID for a bad id, ECONFLICT when id exists.
func (c *Collection[T]) Insert(ctx context.Context, id string, v T, evs ...events.Event) error {
	nid, ok := normID(id)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q", id)
	}
	k, keyed := idempotency.FromContext(ctx)
	var replayed string
	err := c.write(ctx, nid, 0, evs, func(docs *coll, es []outbox.Entry) error {
		if keyed {
			if other, ok := docs.keys[k.ID]; ok {
				switch d := docs.docs[other]; {
				case d == nil || d.key == nil || d.key.Expired(time.Now()):
					delete(docs.keys, k.ID) // forgotten: this insert takes the key
				case d.key.Request != k.Request:
					return idempotency.ErrReused
				default:
					replayed = other
					return &idempotency.Replayed{ID: other}
				}
			}
		}
		if _, ok := docs.docs[nid]; ok {
			return ticketkit.Errorf(ticketkit.ECONFLICT, "Document %s already exists", nid)
		}
		if err := docs.index(c.unique, nid, nil, v); err != nil {
			return err
		}
		d := &doc{version: 0, value: v, entries: es}
		if keyed {
			kk := k
			d.key = &kk
			if docs.keys == nil {
				docs.keys = make(map[string]string)
			}
			docs.keys[k.ID] = nid
		}
		docs.put(nid, d)
		return nil
	})
	if replayed != "" {
		idempotency.MarkReplayed(ctx, replayed)
	}
	return err
}

// ByKey implements store.Collection.
func (c *Collection[T]) ByKey(ctx context.Context, k idempotency.Key) (Record[T], error) {
	if err := ctx.Err(); err != nil {
		return Record[T]{}, err
	}
	c.db.mu.Lock()
	defer c.db.mu.Unlock()
	cl := c.db.collLocked(c.name)
	id, ok := cl.keys[k.ID]
	d := cl.docs[id]
	switch {
	case !ok || d == nil || d.key == nil || d.key.Expired(time.Now()):
		return Record[T]{}, ticketkit.ErrNotFound
	case d.key.Request != k.Request:
		return Record[T]{}, idempotency.ErrReused
	}
	idempotency.MarkReplayed(ctx, id)
	return Record[T]{ID: id, Version: d.version, Doc: d.value.(T)}, nil
}

// Update implements store.Collection.
func (c *Collection[T]) Update(ctx context.Context, id string, expected int64, v T, evs ...events.Event) (Record[T], error) {
	return c.UpdateIf(ctx, id, expected, nil, v, evs...)
}

// UpdateIf implements store.Collection.
func (c *Collection[T]) UpdateIf(ctx context.Context, id string, expected int64, guard store.Filter, v T, evs ...events.Event) (Record[T], error) {
	nid, ok := normID(id)
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	err := c.write(ctx, nid, expected+1, evs, func(docs *coll, es []outbox.Entry) error {
		d, ok := docs.docs[nid]
		switch {
		case !ok:
			return ticketkit.ErrNotFound
		case d.version != expected || !matches(d.value, guard):
			return ticketkit.ErrConflict
		}
		v = keep(d.value.(T), v, c.immutable)
		if err := docs.index(c.unique, nid, d.value, v); err != nil {
			return err
		}
		c.db.trimLocked(d)
		d.version, d.value, d.entries = expected+1, v, append(d.entries, es...)
		return nil
	})
	if err != nil {
		return Record[T]{}, err
	}
	return Record[T]{ID: nid, Version: expected + 1, Doc: v}, nil
}

// Get returns document id.
// Errors: ENOTFOUND, also for an id that is no valid id.
func (c *Collection[T]) Get(ctx context.Context, id string) (Record[T], error) {
	if err := ctx.Err(); err != nil {
		return Record[T]{}, err
	}
	nid, ok := normID(id)
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	c.db.mu.Lock()
	defer c.db.mu.Unlock()
	d, ok := c.db.collLocked(c.name).docs[nid]
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	return Record[T]{ID: nid, Version: d.version, Doc: d.value.(T)}, nil
}

// Find implements store.Collection. It walks the collection's ids in
// order from the cursor, so a page costs a binary search and the
// documents up to the page's last (all of them only when the filter
// matches few).
func (c *Collection[T]) Find(ctx context.Context, filter store.Filter, opts ...store.FindOption) ([]Record[T], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := store.FindOptionsOf(opts)
	after := ""
	if o.After != "" {
		var ok bool
		if after, ok = normID(o.After); !ok {
			return nil, ticketkit.Errorf(ticketkit.EINVALID, "Invalid page cursor")
		}
	}
	c.db.mu.Lock()
	defer c.db.mu.Unlock()
	cl := c.db.collLocked(c.name)
	i, found := slices.BinarySearch(cl.ids, after)
	if found {
		i++
	}
	var recs []Record[T]
	for _, id := range cl.ids[i:] {
		if o.Limit > 0 && len(recs) == o.Limit {
			break
		}
		if d := cl.docs[id]; matches(d.value, filter) {
			recs = append(recs, Record[T]{ID: id, Version: d.version, Doc: d.value.(T)})
		}
	}
	if recs == nil {
		recs = []Record[T]{}
	}
	return recs, nil
}
