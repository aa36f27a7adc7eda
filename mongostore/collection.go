package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/idempotency"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/store"
)

// Field names every document of a Collection has. A document type must not
// use them.
const (
	fID      = "_id"
	fVersion = "version"
	fOutbox  = "outbox"
	fClaim   = "claim" // a Replica's own mark on a copy (Replica.Claim)
	// fKey is the idempotency key a Collection's Insert stored with the
	// document (package idempotency), under a unique sparse index.
	fKey = "idempotency"
)

// keyIndex is the unique index of the idempotency keys: sparse, so
// documents without one (every Node-written one) aren't in it.
const keyIndex = "idempotency.key_1"

// lookupTimeout bounds the look-up of a write the database did not
// confirm, which runs after the request's own deadline may have passed.
const lookupTimeout = 2 * time.Second

// maxEntries is how many outbox entries a document holds before an update
// trims the ones the writers' horizons say are settled. Entries are never
// removed one by one as they are published: that would be a write per
// event.
const maxEntries = 16

// Record is the storage API's record (store.Record), which both backends
// return.
type Record[T any] = store.Record[T]

// record is a document as stored: T's fields inline beside the id, the
// version and the outbox.
type record[T any] struct {
	ID      bson.ObjectID `bson:"_id"`
	Version int64         `bson:"version"`
	Doc     T             `bson:",inline"`
	Outbox  []entryDoc    `bson:"outbox,omitempty"`
	Claim   string        `bson:"claim,omitempty"`
	Key     *keyDoc       `bson:"idempotency,omitempty"`
}

// keyDoc is an idempotency.Key as stored.
type keyDoc struct {
	Key     string    `bson:"key"`
	Request string    `bson:"request"`
	Expires time.Time `bson:"expires"`
}

func (r record[T]) public() Record[T] {
	return Record[T]{ID: r.ID.Hex(), Version: r.Version, Doc: r.Doc, Claim: r.Claim}
}

// Collection is a versioned collection of T documents, written through
// one writer's Outbox: Insert and a compare-and-set Update, each with its
// outbox entries in the same single-document write, so a document is
// never saved without its events and no transaction is needed. T is a
// struct whose bson fields are the document's, beside _id, version and
// outbox. Ids are the cluster's 24-hex ObjectIDs, read case-insensitively.
// It is safe for concurrent use.
type Collection[T any] struct {
	coll      *mongo.Collection
	ob        *Outbox
	log       *slog.Logger
	locks     *docLocks
	fields    []string        // T's top-level field names, for $unset of omitted ones
	immutable map[string]bool // never updated (WithImmutable)
	unique    []string        // store.UniqueFields of T, each under a unique index
	last      lastWrites      // documents whose outbox is one entry of ours
	group     *grouper        // WithGroupCommit; nil without
}

// lastWrites remembers, for the documents this writer wrote last, the one
// entry their outbox then held, so that the next update can replace it
// instead of appending once it is published: the outbox of a document
// written by one instance stays one entry long. It is bounded; a
// forgotten document is only appended to, as any other.
type lastWrites struct {
	mu sync.Mutex
	m  map[bson.ObjectID]lastWrite
}

// lastWrite is a document's version as this writer wrote it, and the
// outbox it then held: entries of this writer, these sequence numbers.
type lastWrite struct {
	version int64
	seqs    []uint64
}

const maxLastWrites = 1 << 16

func (l *lastWrites) get(oid bson.ObjectID) (lastWrite, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[oid]
	return w, ok
}

// set records that this writer wrote version of the document, whose
// outbox then held the entries prev (of an earlier lastWrite) and es.
func (l *lastWrites) set(oid bson.ObjectID, version int64, prev []uint64, es []outbox.Entry) {
	seqs := slices.Clone(prev)
	for _, e := range es {
		seqs = append(seqs, e.Seq)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[bson.ObjectID]lastWrite)
	}
	if _, ok := l.m[oid]; !ok && len(l.m) >= maxLastWrites {
		for k := range l.m { // any one: they are all recent enough
			delete(l.m, k)
			break
		}
	}
	l.m[oid] = lastWrite{version: version, seqs: seqs}
}

// allSettled reports whether every one of this writer's seqs is settled.
func (c *Collection[T]) allSettled(seqs []uint64) bool {
	for _, s := range seqs {
		if !c.ob.q.Settled(s) {
			return false
		}
	}
	return true
}

func (l *lastWrites) forget(oid bson.ObjectID) {
	l.mu.Lock()
	delete(l.m, oid)
	l.mu.Unlock()
}

var _ store.Collection[struct{}] = (*Collection[struct{}])(nil)

// NewCollection returns the collection name of ob's database, written
// through ob. WithLogger, WithDocumentLocks, WithImmutable and
// WithGroupCommit apply. It does no I/O; call
// EnsureIndexes once at startup.
func NewCollection[T any](ob *Outbox, name string, opts ...CollectionOption) (*Collection[T], error) {
	if ob == nil {
		return nil, errors.New("mongostore: outbox is nil")
	}
	cfg, err := newConfig(ob.db, name, opts, CollectionOption.applyCollection)
	if err != nil {
		return nil, err
	}
	fields, err := topFields(reflect.TypeFor[T]())
	if err != nil {
		return nil, fmt.Errorf("mongostore: %w", err)
	}
	ob.register(name)
	c := &Collection[T]{coll: ob.db.Collection(name), ob: ob, log: cfg.logger, immutable: make(map[string]bool)}
	for _, f := range append(cfg.immutable, store.ImmutableFields[T]()...) {
		c.immutable[f] = true
	}
	for _, f := range fields {
		if !c.immutable[f] {
			c.fields = append(c.fields, f)
		}
	}
	for _, u := range store.UniqueFields[T]() {
		if !slices.Contains(fields, u) {
			return nil, fmt.Errorf("mongostore: %v has no top-level field %q to be unique", reflect.TypeFor[T](), u)
		}
		c.unique = append(c.unique, u)
	}
	if cfg.docLocks {
		c.locks = newDocLocks()
	}
	if cfg.groupCommit {
		c.group = &grouper{coll: c.coll}
	}
	return c, nil
}

// topFields lists the top-level bson field names of struct type t.
func topFields(t reflect.Type) ([]string, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("document type %v is not a struct", t)
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("bson"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			inner, err := topFields(f.Type)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == fID || name == fVersion || name == fOutbox || name == fClaim || name == fKey {
			return nil, fmt.Errorf("document type %v uses the reserved field %q", t, name)
		}
		out = append(out, name)
	}
	return out, nil
}

// Collection returns the underlying collection, for queries of the
// service's own; write only through Insert and Update.
func (c *Collection[T]) Collection() *mongo.Collection { return c.coll }

// outboxIndex serves Outbox.Recover: a writer's entries above a sequence
// number are a range of it.
const outboxIndex = "outbox.w_1_outbox.s_1"

// EnsureIndexes creates the outbox index, the idempotency keys', a unique
// index on each of the document type's unique fields (store.Unique; named
// as MongoDB names it, field_1, so an operator's own is the same index),
// and the given ones, one
// createIndexes command at a time (FerretDB 1.24 drops the connection
// when one command names two indexes that already exist). It is
// idempotent.
func (c *Collection[T]) EnsureIndexes(ctx context.Context, more ...mongo.IndexModel) error {
	all := append([]mongo.IndexModel{{
		Keys:    bson.D{{Key: fOutbox + "." + eWriter, Value: 1}, {Key: fOutbox + "." + eSeq, Value: 1}},
		Options: options.Index().SetName(outboxIndex),
	}, {
		Keys:    bson.D{{Key: fKey + ".key", Value: 1}},
		Options: options.Index().SetName(keyIndex).SetUnique(true).SetSparse(true),
	}}, more...)
	for _, f := range c.unique {
		// Creating it fails when documents already repeat a value (two
		// users the Node service let sign up with one email, say): the
		// error names the index, and the operator must merge them first.
		all = append(all, mongo.IndexModel{Keys: bson.D{{Key: f, Value: 1}}, Options: options.Index().SetUnique(true)})
	}
	for _, idx := range all {
		if _, err := c.coll.Indexes().CreateOne(ctx, idx); err != nil {
			return c.fail(ctx, "EnsureIndexes", "", err)
		}
	}
	return nil
}

// Insert stores v as version 0 of id, with one outbox entry per event and
// the idempotency key ctx carries, if any, in one insert
// (store.Collection.Insert). An insert the database did not confirm (a
// timeout, a dropped connection) is looked up by id, within
// lookupTimeout: nil if it is there with this write's entries, EUNKNOWN
// if it can't be told.
// Errors: EINVALID for an id that is no 24-hex id, ECONFLICT when id
// exists, *idempotency.Replayed and idempotency.ErrReused, EUNAVAILABLE
// when nothing was sent, EUNKNOWN, EINTERNAL.
func (c *Collection[T]) Insert(ctx context.Context, id string, v T, evs ...events.Event) error {
	oid, ok := parseID(id)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid id %q", id)
	}
	if err := ctx.Err(); err != nil {
		return c.fail(ctx, "Insert", oid.Hex(), err)
	}
	es, err := outbox.NewEntries(oid.Hex(), 0, evs...)
	if err != nil {
		return c.fail(ctx, "Insert", oid.Hex(), err)
	}
	outbox.Capture(ctx, es)
	k, keyed := idempotency.FromContext(ctx)
	for attempt := 0; ; attempt++ {
		deadline, err := c.ob.q.Stamp(es)
		if err != nil {
			return c.fail(ctx, "Insert", oid.Hex(), err)
		}
		doc := record[T]{ID: oid, Doc: v, Outbox: entryDocs(es)}
		if keyed {
			doc.Key = &keyDoc{Key: k.ID, Request: k.Request, Expires: k.Expires}
		}
		if c.group != nil {
			err = c.group.insert(ctx, deadline, doc)
		} else {
			wctx, cancel := context.WithDeadline(ctx, deadline)
			_, err = c.coll.InsertOne(wctx, doc)
			cancel()
		}
		switch {
		case err == nil:
			c.ob.q.Commit(es...)
			c.last.set(oid, 0, nil, es)
			return nil
		case mongo.IsDuplicateKeyError(err):
			c.ob.q.Abandon(es...)
			if keyed {
				// The key's index or the id's: the key's, if a document
				// holds it.
				prev, kerr := c.byKey(ctx, k.ID)
				switch {
				case kerr == nil && prev.Key.Expires.Before(time.Now()) && attempt == 0:
					if err := c.forgetKey(ctx, prev.ID, k.ID); err != nil {
						return c.fail(ctx, "Insert", oid.Hex(), err)
					}
					continue
				case kerr == nil && prev.Key.Request != k.Request:
					return idempotency.ErrReused
				case kerr == nil:
					idempotency.MarkReplayed(ctx, prev.ID.Hex())
					return &idempotency.Replayed{ID: prev.ID.Hex()}
				case ticketkit.ErrorCode(kerr) != ticketkit.ENOTFOUND:
					return kerr
				}
			}
			c.log.LogAttrs(ctx, slog.LevelDebug, "mongostore: insert of an existing document", slog.String("id", oid.Hex()))
			msg := "Document " + oid.Hex() + " already exists"
			if len(c.unique) > 0 {
				msg += ", or another has one of its unique values"
			}
			return &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: msg, Err: err}
		}
		if !c.writeFailed(err, es) {
			return c.fail(ctx, "Insert", oid.Hex(), err)
		}
		if _, landed := c.landed(ctx, oid, es); landed {
			c.log.LogAttrs(ctx, slog.LevelInfo, "mongostore: an unconfirmed insert was stored", slog.String("id", oid.Hex()), slog.Any("error", err))
			return nil
		}
		return c.unknown(ctx, "Insert", oid.Hex(), err)
	}
}

// byKey returns the document holding idempotency key id, with the key.
func (c *Collection[T]) byKey(ctx context.Context, id string) (record[T], error) {
	var r record[T]
	err := c.coll.FindOne(ctx, bson.D{{Key: fKey + ".key", Value: id}}, options.FindOne().SetProjection(withoutOutbox)).Decode(&r)
	if err != nil {
		return record[T]{}, c.fail(ctx, "ByKey", "", err)
	}
	if r.Key == nil { // FerretDB may match a missing field's null
		return record[T]{}, ticketkit.ErrNotFound
	}
	return r, nil
}

// forgetKey removes expired key id from document oid, so that an insert
// may take it.
func (c *Collection[T]) forgetKey(ctx context.Context, oid bson.ObjectID, id string) error {
	_, err := c.coll.UpdateOne(ctx, bson.D{{Key: fID, Value: oid}, {Key: fKey + ".key", Value: id}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: fKey, Value: ""}}}})
	return err
}

// ByKey implements store.Collection: one query on the key's index.
func (c *Collection[T]) ByKey(ctx context.Context, k idempotency.Key) (Record[T], error) {
	r, err := c.byKey(ctx, k.ID)
	switch {
	case err != nil:
		return Record[T]{}, err
	case r.Key.Expires.Before(time.Now()):
		return Record[T]{}, ticketkit.ErrNotFound
	case r.Key.Request != k.Request:
		return Record[T]{}, idempotency.ErrReused
	}
	idempotency.MarkReplayed(ctx, r.ID.Hex())
	return r.public(), nil
}

// writeFailed settles the entries of a failed write and reports whether
// its outcome is unknown: a timeout or a lost connection may have
// committed it, so the Queue looks it up later; a write that was never
// sent, or that the server refused, certainly did not.
func (c *Collection[T]) writeFailed(err error, es []outbox.Entry) (unsure bool) {
	if !notSent(err) && (mongo.IsTimeout(err) || mongo.IsNetworkError(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		c.ob.q.Unsure(es...)
		return true
	}
	c.ob.q.Abandon(es...)
	return false
}

// notSent reports whether err failed a command before it was sent: no
// server could be selected, or no connection was free in time.
func notSent(err error) bool {
	var sel topology.ServerSelectionError
	var wq topology.WaitQueueTimeoutError
	return errors.As(err, &sel) || errors.As(err, &wq) || errors.Is(err, topology.ErrPoolClosed)
}

// landed looks up a write the database did not confirm, within
// lookupTimeout even if ctx is done: it landed if document oid holds the
// write's first outbox entry (or, for a write without events, exists).
// The entries stay Unsure: the Relay publishes what it finds. A client
// that went away gets no look-up.
func (c *Collection[T]) landed(ctx context.Context, oid bson.ObjectID, es []outbox.Entry) (Record[T], bool) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return Record[T]{}, false
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	var r record[T]
	if err := c.coll.FindOne(lctx, byID(oid)).Decode(&r); err != nil {
		return Record[T]{}, false
	}
	if len(es) == 0 {
		return r.public(), true
	}
	for _, e := range r.Outbox {
		if e.Writer == es[0].Writer && e.Seq == int64(es[0].Seq) {
			return r.public(), true
		}
	}
	return Record[T]{}, false
}

// unknown is the error of a write that may have been stored: EUNKNOWN,
// logged at Warn with its cause, unless the caller went away.
func (c *Collection[T]) unknown(ctx context.Context, op, id string, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return c.fail(ctx, op, id, err)
	}
	c.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn, "mongostore: "+op+" has an unknown outcome", slog.String("id", id), slog.Any("error", err))
	return &ticketkit.Error{Code: ticketkit.EUNKNOWN, Message: ticketkit.ErrUnknown.Message, Err: err}
}

func entryDocs(es []outbox.Entry) []entryDoc {
	out := make([]entryDoc, len(es))
	for i, e := range es {
		out[i] = toEntryDoc(e)
	}
	return out
}

// fieldsOf returns the $set and $unset of v's fields: the fields of its
// type that v omits (omitempty) are removed from the stored document.
func fieldsOf(fields []string, v any) (set, unset bson.D, err error) {
	raw, err := bson.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		return nil, nil, err
	}
	present := make(map[string]bool, len(elems))
	wanted := make(map[string]bool, len(fields))
	for _, f := range fields {
		wanted[f] = true
	}
	for _, e := range elems {
		present[e.Key()] = true
		if wanted[e.Key()] {
			set = append(set, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	for _, f := range fields {
		if !present[f] {
			unset = append(unset, bson.E{Key: f, Value: ""})
		}
	}
	return set, unset, nil
}

// Update replaces the fields of document id with v's (but the immutable
// ones) if its version is expected, sets the version to expected+1 and
// appends one outbox entry per event, in one findAndModify filtered on
// {_id, version}: a compare-and-set that either happens whole or not at
// all, and returns the document as stored. When the document's outbox is
// full, the update instead trims the entries the writers' horizons say
// are settled (a read of the leases and of the document, then a write
// guarded by the version).
// Errors: ENOTFOUND, ECONFLICT when the version differs (nothing is
// written), EINTERNAL.
func (c *Collection[T]) Update(ctx context.Context, id string, expected int64, v T, evs ...events.Event) (Record[T], error) {
	return c.UpdateIf(ctx, id, expected, nil, v, evs...)
}

// UpdateIf is Update with guard, equality conditions on the stored
// document's fields, added to the compare-and-set: ECONFLICT when one
// doesn't hold.
func (c *Collection[T]) UpdateIf(ctx context.Context, id string, expected int64, guard store.Filter, v T, evs ...events.Event) (Record[T], error) {
	oid, ok := parseID(id)
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	guardDoc, err := filterDoc(guard)
	if err != nil {
		return Record[T]{}, err
	}
	es, err := outbox.NewEntries(oid.Hex(), expected+1, evs...)
	if err != nil {
		return Record[T]{}, c.fail(ctx, "Update", oid.Hex(), err)
	}
	outbox.Capture(ctx, es)
	set, unset, err := fieldsOf(c.fields, v)
	if err != nil {
		return Record[T]{}, c.fail(ctx, "Update", oid.Hex(), err)
	}
	set = append(set, bson.E{Key: fVersion, Value: expected + 1})
	unlock, err := c.locks.lock(ctx, oid)
	if err != nil {
		return Record[T]{}, c.fail(ctx, "Update", oid.Hex(), err)
	}
	defer unlock()

	cas := append(bson.D{{Key: fID, Value: oid}, {Key: fVersion, Value: expected}}, guardDoc...)

	// The usual case of one instance writing a document: its outbox is
	// entries this writer wrote (it remembers which). Once all are
	// published, the new entries replace them, so the outbox stays small
	// with no write of its own; the filter proves the outbox is those
	// entries. Until then, they are appended to.
	lw, known := c.last.get(oid)
	known = known && lw.version == expected && len(lw.seqs) < maxEntries
	if known && c.allSettled(lw.seqs) {
		filter := slices.Clone(cas)
		for k, seq := range lw.seqs {
			filter = append(filter,
				bson.E{Key: fmt.Sprintf("%s.%d.%s", fOutbox, k, eWriter), Value: c.ob.q.Writer()},
				bson.E{Key: fmt.Sprintf("%s.%d.%s", fOutbox, k, eSeq), Value: int64(seq)})
		}
		filter = append(filter, bson.E{Key: fmt.Sprintf("%s.%d", fOutbox, len(lw.seqs)), Value: bson.D{{Key: "$exists", Value: false}}})
		replace := func(docs []entryDoc) bson.D {
			return updateDoc(append(slices.Clone(set), bson.E{Key: fOutbox, Value: docs}), unset)
		}
		rec, matched, err := c.write(ctx, oid, filter, replace, es)
		if err != nil || matched {
			if matched {
				c.last.set(oid, expected+1, nil, es)
			}
			return rec, err
		}
		known = false
	}

	// Otherwise, with room in the outbox, one write appends.
	filter := append(slices.Clone(cas), bson.E{Key: fOutbox + "." + fmt.Sprint(maxEntries-1), Value: bson.D{{Key: "$exists", Value: false}}})
	push := func(docs []entryDoc) bson.D {
		return updateDoc(set, unset, bson.E{Key: "$push", Value: bson.D{{Key: fOutbox, Value: bson.D{{Key: "$each", Value: docs}}}}})
	}
	rec, matched, err := c.write(ctx, oid, filter, push, es)
	switch {
	case err != nil:
		c.last.forget(oid)
		return rec, err
	case matched && known:
		// The version it replaced was ours, so the outbox is ours too.
		c.last.set(oid, expected+1, lw.seqs, es)
		return rec, nil
	case matched:
		c.last.forget(oid)
		return rec, nil
	}
	c.last.forget(oid)

	// Nothing matched: no such document, another version, a guard that
	// fails, or a full outbox.
	var cur struct {
		Version int64      `bson:"version"`
		Outbox  []entryDoc `bson:"outbox"`
	}
	err = c.coll.FindOne(ctx, byID(oid), options.FindOne().SetProjection(bson.D{{Key: fVersion, Value: 1}, {Key: fOutbox, Value: 1}})).Decode(&cur)
	switch {
	case err != nil:
		return Record[T]{}, c.fail(ctx, "Update", oid.Hex(), err)
	case cur.Version != expected || len(cur.Outbox) < maxEntries:
		return Record[T]{}, c.conflict(ctx, oid, expected)
	}
	keep, err := c.unsettled(ctx, cur.Outbox)
	if err != nil {
		return Record[T]{}, c.fail(ctx, "Update", oid.Hex(), err)
	}
	trimmed := func(docs []entryDoc) bson.D {
		return updateDoc(append(slices.Clone(set), bson.E{Key: fOutbox, Value: append(keep, docs...)}), unset)
	}
	rec, matched, err = c.write(ctx, oid, cas, trimmed, es)
	switch {
	case err != nil:
		return Record[T]{}, err
	case !matched:
		return Record[T]{}, c.conflict(ctx, oid, expected)
	}
	if len(keep) == 0 {
		c.last.set(oid, expected+1, nil, es)
	}
	return rec, nil
}

// stored is a document as a write reads it back: without the outbox.
type stored[T any] struct {
	ID      bson.ObjectID `bson:"_id"`
	Version int64         `bson:"version"`
	Doc     T             `bson:",inline"`
}

// write stamps es and runs one guarded findAndModify, built from the
// stamped entries, that returns the document as stored; the entries are
// handed to the Relay if it matched.
func (c *Collection[T]) write(ctx context.Context, oid bson.ObjectID, filter bson.D, update func([]entryDoc) bson.D, es []outbox.Entry) (Record[T], bool, error) {
	if err := ctx.Err(); err != nil {
		return Record[T]{}, false, c.fail(ctx, "Update", oid.Hex(), err)
	}
	deadline, err := c.ob.q.Stamp(es)
	if err != nil {
		return Record[T]{}, false, c.fail(ctx, "Update", oid.Hex(), err)
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	// No projection: FerretDB rejects one on findAndModify; decoding into
	// stored skips the outbox.
	res := c.coll.FindOneAndUpdate(wctx, filter, update(entryDocs(es)), options.FindOneAndUpdate().SetReturnDocument(options.After))
	cancel()
	switch err := res.Err(); {
	case errors.Is(err, mongo.ErrNoDocuments):
		c.ob.q.Abandon(es...)
		return Record[T]{}, false, nil
	case err != nil:
		if !c.writeFailed(err, es) {
			return Record[T]{}, false, c.fail(ctx, "Update", oid.Hex(), err)
		}
		if len(es) > 0 {
			if r, landed := c.landed(ctx, oid, es); landed {
				c.log.LogAttrs(ctx, slog.LevelInfo, "mongostore: an unconfirmed update was stored", slog.String("id", oid.Hex()), slog.Any("error", err))
				return r, true, nil
			}
		}
		return Record[T]{}, false, c.unknown(ctx, "Update", oid.Hex(), err)
	}
	// Committed: the entries are the Relay's, whatever decoding says.
	c.ob.q.Commit(es...)
	var d stored[T]
	if err := res.Decode(&d); err != nil {
		return Record[T]{}, true, c.fail(ctx, "Update", oid.Hex(), err)
	}
	return Record[T]{ID: d.ID.Hex(), Version: d.Version, Doc: d.Doc}, true, nil
}

func updateDoc(set, unset bson.D, more ...bson.E) bson.D {
	u := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		u = append(u, bson.E{Key: "$unset", Value: unset})
	}
	return append(u, more...)
}

// unsettled returns the entries of es that the writers' leases don't
// cover: a writer with no lease has retired, every entry of it settled.
func (c *Collection[T]) unsettled(ctx context.Context, es []entryDoc) ([]entryDoc, error) {
	leases, err := c.ob.Writers(ctx)
	if err != nil {
		return nil, err
	}
	horizon := make(map[string]int64, len(leases))
	for _, l := range leases {
		horizon[l.Writer] = int64(l.Horizon)
	}
	var keep []entryDoc
	for _, e := range es {
		if h, ok := horizon[e.Writer]; ok && e.Seq > h {
			keep = append(keep, e)
		}
	}
	return keep, nil
}

func (c *Collection[T]) conflict(ctx context.Context, oid bson.ObjectID, expected int64) error {
	c.log.LogAttrs(ctx, slog.LevelDebug, "mongostore: update conflict", slog.String("id", oid.Hex()), slog.Int64("expectedVersion", expected))
	return ticketkit.ErrConflict
}

// withoutOutbox leaves the outbox out of reads.
var withoutOutbox = bson.D{{Key: fOutbox, Value: 0}}

// Get returns document id.
// Errors: ENOTFOUND, also for an id that is no valid id; EINTERNAL.
func (c *Collection[T]) Get(ctx context.Context, id string) (Record[T], error) {
	oid, ok := parseID(id)
	if !ok {
		return Record[T]{}, ticketkit.ErrNotFound
	}
	var r record[T]
	if err := c.coll.FindOne(ctx, byID(oid), options.FindOne().SetProjection(withoutOutbox)).Decode(&r); err != nil {
		return Record[T]{}, c.fail(ctx, "Get", oid.Hex(), err)
	}
	return r.public(), nil
}

// Find implements store.Collection: one query, in _id order, without the
// documents' outboxes. An index on the filter's fields and _id serves it
// (EnsureIndexes takes the service's own).
func (c *Collection[T]) Find(ctx context.Context, filter store.Filter, opts ...store.FindOption) ([]Record[T], error) {
	q, err := filterDoc(filter)
	if err != nil {
		return nil, err
	}
	o := store.FindOptionsOf(opts)
	if o.After != "" {
		after, ok := parseID(o.After)
		if !ok {
			return nil, ticketkit.Errorf(ticketkit.EINVALID, "Invalid page cursor")
		}
		q = append(q, bson.E{Key: fID, Value: bson.D{{Key: "$gt", Value: after}}})
	}
	fo := options.Find().SetProjection(withoutOutbox).SetSort(bson.D{{Key: fID, Value: 1}})
	if o.Limit > 0 {
		fo.SetLimit(int64(o.Limit))
	}
	cur, err := c.coll.Find(ctx, q, fo)
	if err != nil {
		return nil, c.fail(ctx, "Find", "", err)
	}
	var rs []record[T]
	if err := cur.All(ctx, &rs); err != nil {
		return nil, c.fail(ctx, "Find", "", err)
	}
	out := make([]Record[T], len(rs))
	for i, r := range rs {
		out[i] = r.public()
	}
	return out, nil
}

func (c *Collection[T]) fail(ctx context.Context, op, id string, err error) error {
	return failure(ctx, c.log, op, id, err)
}

// filterDoc is f as a MongoDB query: one equality per field, in name
// order; nil matches a missing or null field. Values must be scalars (or
// times), so that nothing a client sent can be read as an operator.
func filterDoc(f store.Filter) (bson.D, error) {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	slices.Sort(names)
	q := make(bson.D, 0, len(f))
	for _, name := range names {
		v := f[name]
		if v != nil {
			switch reflect.ValueOf(v).Kind() {
			case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct, reflect.Pointer, reflect.Interface:
				if _, isTime := v.(time.Time); !isTime {
					return nil, ticketkit.Errorf(ticketkit.EINVALID, "Filter on %s: a %T is not a scalar", name, v)
				}
			}
		}
		if strings.HasPrefix(name, "$") || name == "" {
			return nil, ticketkit.Errorf(ticketkit.EINVALID, "Filter on %q: not a field name", name)
		}
		q = append(q, bson.E{Key: name, Value: v})
	}
	return q, nil
}
