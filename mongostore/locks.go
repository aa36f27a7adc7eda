package mongostore

import (
	"context"
	"hash/fnv"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// lockStripes is the number of document locks; documents whose keys
// collide only wait for each other needlessly.
const lockStripes = 1024

// docLocks serializes, within this process, the writes to each ticket
// document: Update holds the lock of the document it writes for the whole
// database call, MarkPublished the locks of every document of its batch
// for all of its calls, and a Replica the lock of its document for the
// whole write-and-recheck of an event. It is shared by every Store in the
// process, so that, say, an API's Store and its relay's Store on the same
// collection exclude each other.
//
// MongoDB does not need it: each of those writes is one single-document
// update that the server applies atomically, filter included. FerretDB 1.x
// does need it: it runs an update as "query, apply the operators in Go,
// write the whole document back by _id", so two concurrent writes to one
// document can both pass the filter {_id, version: v} and the later one
// silently undoes the earlier (a lost update; see FerretDB issue #2168).
// The lock makes that read-modify-write exclusive among writers in this
// process; writers in other processes on FerretDB 1.x remain unprotected,
// and so does a write whose context ended while the server was still
// applying it (the lock is released when the call returns).
var docLocks = func() (l [lockStripes]docLock) {
	for i := range l {
		l[i].held = make(chan struct{}, 1)
	}
	return l
}()

// docLock is one stripe. Besides the lock it remembers the last version
// this process wrote to one document of the stripe; since versions only
// grow and tickets are never deleted, an Update expecting an older version
// is certainly stale and needs no round trip to fail. Under a storm of
// conflicting writers to one ticket, that keeps the losers off the server.
type docLock struct {
	held chan struct{} // a token is in it while the lock is held

	// Guarded by held: the last version written by this process to
	// document id of namespace ns.
	ns      string
	id      bson.ObjectID
	version int64
}

// lockedDoc is a held lock on one document.
type lockedDoc struct {
	l  *docLock // nil when locks are off
	ns string
	id bson.ObjectID
}

// lockDoc waits for the lock of document id of this Store's collection,
// or for ctx to be done.
func (s *Store) lockDoc(ctx context.Context, id bson.ObjectID) (lockedDoc, error) {
	return lockDocument(ctx, s.ns, id, s.noDocLocks)
}

// lockDocument waits for the lock of document id of namespace ns
// (database.collection), or for ctx to be done. With off it locks nothing.
// Stores and Replicas share it.
func lockDocument(ctx context.Context, ns string, id bson.ObjectID, off bool) (lockedDoc, error) {
	if err := ctx.Err(); err != nil {
		return lockedDoc{}, err
	}
	if off {
		return lockedDoc{}, nil
	}
	l := &docLocks[stripe(ns, id)]
	select {
	case l.held <- struct{}{}:
		return lockedDoc{l: l, ns: ns, id: id}, nil
	case <-ctx.Done():
		return lockedDoc{}, ctx.Err()
	}
}

// stripe returns the index in docLocks of document id of namespace ns.
func stripe(ns string, id bson.ObjectID) int {
	h := fnv.New32a()
	h.Write([]byte(ns))
	h.Write(id[:])
	return int(h.Sum32() % lockStripes)
}

// lockedDocs is the held locks of several documents, one per stripe.
type lockedDocs []*docLock

// lockDocs waits for the locks of every document in ids of this Store's
// collection, or for ctx to be done; then it holds none. It takes each
// stripe once, in ascending order, so two callers locking overlapping sets
// cannot deadlock: every caller holding more than one stripe took them in
// that order, and every other holds one at a time (lockDocument).
func (s *Store) lockDocs(ctx context.Context, ids []bson.ObjectID) (lockedDocs, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.noDocLocks {
		return nil, nil
	}
	stripes := make([]int, len(ids))
	for i, id := range ids {
		stripes[i] = stripe(s.ns, id)
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	held := make(lockedDocs, 0, len(stripes))
	for _, i := range stripes {
		l := &docLocks[i]
		select {
		case l.held <- struct{}{}:
			held = append(held, l)
		case <-ctx.Done():
			held.unlock()
			return nil, ctx.Err()
		}
	}
	return held, nil
}

// unlock releases every lock.
func (d lockedDocs) unlock() {
	for _, l := range d {
		<-l.held
	}
}

// unlock releases the lock.
func (d lockedDoc) unlock() {
	if d.l != nil {
		<-d.l.held
	}
}

// stale reports whether this process has already written a version of the
// document above expected, so a compare-and-set expecting it must fail.
func (d lockedDoc) stale(expected int64) bool {
	return d.l != nil && d.l.ns == d.ns && d.l.id == d.id && expected < d.l.version
}

// wrote records that this process wrote version of the document.
func (d lockedDoc) wrote(version int64) {
	if d.l != nil {
		d.l.ns, d.l.id, d.l.version = d.ns, d.id, version
	}
}
