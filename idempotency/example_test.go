package idempotency_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ticketkit/ticketkit/idempotency"
	"github.com/ticketkit/ticketkit/memstore"
)

type ticket struct {
	Title string `json:"title"`
}

// A create sent twice with one key makes one document: the second Insert
// writes nothing and names the first one's document.
func Example() {
	ctx := context.Background()
	ob, _ := memstore.NewDB().NewOutbox()
	tickets, _ := memstore.NewCollection[ticket](ob, "tickets")

	// What httpapi.Idempotent does with an Idempotency-Key header.
	key := func() context.Context {
		k := idempotency.New("user-1", "checkout-42", []byte(`POST /api/tickets {"title":"concert"}`), 0)
		return idempotency.NewContext(ctx, k)
	}
	first := "6b116ac70797a7ba9b70df95"
	fmt.Println(tickets.Insert(key(), first, ticket{Title: "concert"}))

	var again *idempotency.Replayed
	err := tickets.Insert(key(), "6b116ac70797a7ba9b70df96", ticket{Title: "concert"})
	fmt.Println(errors.As(err, &again), again.ID == first)
	// Output:
	// <nil>
	// true true
}
