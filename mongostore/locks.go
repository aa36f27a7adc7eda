package mongostore

import (
	"context"
	"hash/fnv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// lockStripes is the number of document locks of a docLocks; documents
// whose ids collide only wait for each other needlessly.
const lockStripes = 1024

// docLocks serializes this process's writes to each document of one
// Collection or Replica, for a server that doesn't apply a filtered
// update atomically. WithDocumentLocks turns them on; see "FerretDB 1.x"
// in the package documentation.
//
// MongoDB does not need them: every write here is one single-document
// update that the server applies atomically, filter included. FerretDB 1.x
// runs an update as "query, apply the operators in Go, write the whole
// document back by _id", so two concurrent writes to one document can
// both pass the filter {_id, version: v} and the later silently undoes the
// earlier (FerretDB issue #2168). The locks make that read-modify-write
// exclusive among this value's writers; other processes on the same bare
// FerretDB 1.x remain unprotected.
type docLocks struct {
	stripes [lockStripes]chan struct{}
}

func newDocLocks() *docLocks {
	l := &docLocks{}
	for i := range l.stripes {
		l.stripes[i] = make(chan struct{}, 1)
	}
	return l
}

// lock waits for the lock of document id, or for ctx to be done. A nil
// docLocks locks nothing.
func (l *docLocks) lock(ctx context.Context, id bson.ObjectID) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l == nil {
		return func() {}, nil
	}
	h := fnv.New32a()
	h.Write(id[:])
	s := l.stripes[h.Sum32()%lockStripes]
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
