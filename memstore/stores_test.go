package memstore_test

import (
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/orders/orderstore"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
)

// memTicketStore and memOrderStore are the services' stores on a
// Collection of ob's DB.
func memTicketStore(ob *memstore.Outbox) (*ticketstore.Store, error) {
	c, err := memstore.NewCollection[ticketstore.Doc](ob, ticketstore.Name)
	if err != nil {
		return nil, err
	}
	return ticketstore.New(c), nil
}

func memOrderStore(ob *memstore.Outbox) (*orderstore.Store, error) {
	c, err := memstore.NewCollection[orderstore.Doc](ob, orderstore.Name)
	if err != nil {
		return nil, err
	}
	return orderstore.New(c), nil
}
