package mongostore_test

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/orders/orderstore"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
)

// ticketStore is the tickets service's store on a Collection of this
// package, with the indexes service.Collection would make: what most of
// these tests drive the Collection through.
type ticketStore struct {
	*ticketstore.Store
	c *mongostore.Collection[ticketstore.Doc]
}

func newTicketStore(ob *mongostore.Outbox, opts ...mongostore.CollectionOption) (*ticketStore, error) {
	c, err := mongostore.NewCollection[ticketstore.Doc](ob, ticketstore.Name, opts...)
	if err != nil {
		return nil, err
	}
	return &ticketStore{Store: ticketstore.New(c), c: c}, nil
}

func (s *ticketStore) EnsureIndexes(ctx context.Context) error {
	return s.c.EnsureIndexes(ctx, indexModels(ticketstore.Indexes())...)
}

// orderStore is the orders service's store likewise.
type orderStore struct {
	*orderstore.Store
	c *mongostore.Collection[orderstore.Doc]
}

func newOrderStore(ob *mongostore.Outbox, opts ...mongostore.CollectionOption) (*orderStore, error) {
	c, err := mongostore.NewCollection[orderstore.Doc](ob, orderstore.Name, opts...)
	if err != nil {
		return nil, err
	}
	return &orderStore{Store: orderstore.New(c), c: c}, nil
}

func (s *orderStore) EnsureIndexes(ctx context.Context) error {
	return s.c.EnsureIndexes(ctx, indexModels(orderstore.Indexes())...)
}

func indexModels(indexes [][]string) []mongo.IndexModel {
	out := make([]mongo.IndexModel, len(indexes))
	for i, ix := range indexes {
		keys := bson.D{}
		for _, f := range ix {
			keys = append(keys, bson.E{Key: f, Value: 1})
		}
		out[i] = mongo.IndexModel{Keys: append(keys, bson.E{Key: "_id", Value: 1})}
	}
	return out
}
