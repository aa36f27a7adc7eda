package service

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/store"
)

// Collection returns the service's collection name of T documents on its
// backends, written through its outbox: MongoDB's, with its outbox index
// and indexes made (idempotent, at every start; each index is its fields,
// ascending, then _id, which serves a Find on those fields in id order;
// and a unique index on each field T declares unique, store.Unique),
// or the in-memory one,
// which every in-memory instance on the same memstore.DB shares. It is
// the storage a service's own aggregates need; nothing of it depends on
// which backend runs.
func Collection[T any](ctx context.Context, s *Service, name string, indexes ...[]string) (store.Collection[T], error) {
	b := s.Backends()
	if b.Mongo == nil {
		return memstore.NewCollection[T](b.Memory, name)
	}
	opts := []mongostore.CollectionOption{mongostore.WithLogger(s.Logger())}
	if b.DocumentLocks {
		opts = append(opts, mongostore.WithDocumentLocks())
	}
	if s.Config().GroupCommit {
		opts = append(opts, mongostore.WithGroupCommit())
	}
	c, err := mongostore.NewCollection[T](b.Mongo.Outbox, name, opts...)
	if err != nil {
		return nil, err
	}
	models := make([]mongo.IndexModel, len(indexes))
	for i, ix := range indexes {
		if len(ix) == 0 {
			return nil, errors.New("service: an index of no field")
		}
		keys := bson.D{}
		for _, f := range ix {
			keys = append(keys, bson.E{Key: f, Value: 1})
		}
		models[i] = mongo.IndexModel{Keys: append(keys, bson.E{Key: "_id", Value: 1})}
	}
	return c, c.EnsureIndexes(ctx, models...)
}

// Replica returns the service's replica name of another service's T
// aggregates on its backends: MongoDB's, with its collection made, or the
// in-memory one, shared by every in-memory instance on the same DB.
func Replica[T any](ctx context.Context, s *Service, name string) (store.Replica[T], error) {
	b := s.Backends()
	if b.Mongo == nil {
		return memstore.NewReplica[T](b.Memory.DB(), name)
	}
	opts := []mongostore.ReplicaOption{mongostore.WithLogger(s.Logger())}
	if b.DocumentLocks {
		opts = append(opts, mongostore.WithDocumentLocks())
	}
	r, err := mongostore.NewReplica[T](b.Mongo.DB, name, opts...)
	if err != nil {
		return nil, err
	}
	return r, r.EnsureIndexes(ctx)
}
