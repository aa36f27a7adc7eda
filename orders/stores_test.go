package orders_test

import (
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/orders/orderstore"
)

// memOrderStore is the orders store on a Collection of ob's DB.
func memOrderStore(ob *memstore.Outbox) (*orderstore.Store, error) {
	c, err := memstore.NewCollection[orderstore.Doc](ob, orderstore.Name)
	if err != nil {
		return nil, err
	}
	return orderstore.New(c), nil
}
