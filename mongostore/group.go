package mongostore

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Bounds of a group commit's batch: documents and bytes.
const (
	groupMaxDocs  = 256
	groupMaxBytes = 8 << 20
)

// WithGroupCommit gathers a Collection's concurrent inserts into one
// unordered insertMany: a lone insert is written at once, as without
// it, and the inserts that arrive while a write is in flight wait for
// it and go out together in the next (at most 256 documents and 8 MiB),
// so that under load a create costs a fraction of a database round
// trip. Each insert keeps its own outcome: a duplicate key is its error
// alone, and a batch whose outcome is unknown is looked up per document.
// A batch is written only within every one of its writers' deadlines,
// the outbox lease's fence included.
func WithGroupCommit() CollectionOption {
	return collectionOption(func(c *config) error { c.groupCommit = true; return nil })
}

// grouper is a Collection's group commit.
type grouper struct {
	coll *mongo.Collection

	mu      sync.Mutex
	writing bool
	queue   []*pendingInsert
}

// pendingInsert is one insert waiting for its batch.
type pendingInsert struct {
	doc      bson.Raw
	deadline time.Time
	done     chan error
}

// insert writes doc by deadline, alone if no write is in flight, else in
// the next batch, and returns its own outcome as InsertOne would.
func (g *grouper) insert(ctx context.Context, deadline time.Time, doc any) error {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	p := &pendingInsert{doc: raw, deadline: deadline, done: make(chan error, 1)}
	g.mu.Lock()
	if g.writing {
		g.queue = append(g.queue, p)
		g.mu.Unlock()
		// A queued insert waits for its batch whatever ctx says: the
		// batch may write it, so only its outcome is a true answer, and
		// the batch ends by this insert's deadline.
		return <-p.done
	}
	g.writing = true
	g.mu.Unlock()
	g.write([]*pendingInsert{p})
	g.next()
	return <-p.done
}

// next starts the writing of what queued meanwhile, or ends the writing.
func (g *grouper) next() {
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.writing = false
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go g.drain()
}

// drain writes the queue in batches until it is empty.
func (g *grouper) drain() {
	for {
		g.mu.Lock()
		n, size := 0, 0
		for n < len(g.queue) && n < groupMaxDocs && (n == 0 || size+len(g.queue[n].doc) <= groupMaxBytes) {
			size += len(g.queue[n].doc)
			n++
		}
		if n == 0 {
			g.writing = false
			g.mu.Unlock()
			return
		}
		batch := make([]*pendingInsert, n)
		copy(batch, g.queue[:n])
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		g.write(batch)
	}
}

// write writes batch, one insertOne for one document, and tells each its
// outcome.
func (g *grouper) write(batch []*pendingInsert) {
	deadline := batch[0].deadline
	for _, p := range batch[1:] {
		if p.deadline.Before(deadline) {
			deadline = p.deadline
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if len(batch) == 1 {
		_, err := g.coll.InsertOne(ctx, batch[0].doc)
		batch[0].done <- err
		return
	}
	docs := make([]any, len(batch))
	for i, p := range batch {
		docs[i] = p.doc
	}
	_, err := g.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	switch {
	case err == nil:
		for _, p := range batch {
			p.done <- nil
		}
	case errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0:
		// Each refused document's own error; the others were written.
		own := make(map[int]mongo.WriteError, len(bwe.WriteErrors))
		for _, we := range bwe.WriteErrors {
			own[we.Index] = we.WriteError
		}
		for i, p := range batch {
			if we, ok := own[i]; ok {
				we.Index = 0
				p.done <- mongo.WriteException{WriteErrors: []mongo.WriteError{we}}
			} else {
				p.done <- nil
			}
		}
	default:
		// A timeout, a lost connection, a write concern error: every
		// document's outcome is unknown, and each insert looks its own up.
		for _, p := range batch {
			p.done <- err
		}
	}
}
