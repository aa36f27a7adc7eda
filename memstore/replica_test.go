package memstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/memstore"
)

type order struct{ Status string }

func TestReplicaAppliesInVersionOrder(t *testing.T) {
	ctx := context.Background()
	r, err := memstore.NewReplica[order](memstore.NewDB(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	a, b := ticketkit.NewID(), ticketkit.NewID()
	apply := func(id string, v int64, o order, want events.Ordering) {
		t.Helper()
		got, err := r.Apply(ctx, id, v, o)
		if got != want || (want == events.OutOfOrder) != errors.Is(err, events.ErrOutOfOrder) || (want != events.OutOfOrder && err != nil) {
			t.Fatalf("Apply(%s v%d) = %v, %v; want %v", id, v, got, err, want)
		}
	}
	apply(a, 1, order{"cancelled"}, events.OutOfOrder)
	apply(a, 0, order{"created"}, events.Apply)
	apply(a, 0, order{"created"}, events.Duplicate)
	apply(a, 1, order{"cancelled"}, events.Apply)
	apply(a, 0, order{"created"}, events.Duplicate)
	apply(b, 0, order{"created"}, events.Apply)
	got, err := r.GetMany(ctx, []string{strings.ToUpper(a), b, ticketkit.NewID(), "bad"})
	if err != nil || len(got) != 2 || got[a].Doc.Status != "cancelled" || got[a].Version != 1 || got[b].Doc.Status != "created" {
		t.Fatalf("GetMany = %+v, %v", got, err)
	}
	if _, err := r.Get(ctx, ticketkit.NewID()); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Fatalf("Get(unknown) = %v", err)
	}
	if _, err := r.Apply(ctx, "bad", 0, order{}); !errors.Is(err, ticketkit.ErrInvalid) {
		t.Fatalf("Apply(bad id) = %v", err)
	}
}

func TestReplicaClaim(t *testing.T) {
	ctx := context.Background()
	r, err := memstore.NewReplica[order](memstore.NewDB(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	id := ticketkit.NewID()
	if _, err := r.Claim(ctx, id, "", "a"); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Fatalf("claim of an unknown copy: %v", err)
	}
	if _, err := r.Apply(ctx, id, 0, order{"created"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prev, next string
		want       bool
	}{{"x", "a", false}, {"", "a", true}, {"", "b", false}, {"a", "b", true}} {
		if got, err := r.Claim(ctx, id, c.prev, c.next); err != nil || got != c.want {
			t.Fatalf("Claim(%q → %q) = %v, %v; want %v", c.prev, c.next, got, err, c.want)
		}
	}
	if _, err := r.Apply(ctx, id, 1, order{"cancelled"}); err != nil {
		t.Fatal(err)
	}
	if rec, err := r.Get(ctx, id); err != nil || rec.Claim != "b" || rec.Doc.Status != "cancelled" {
		t.Fatalf("after Apply: %+v, %v; want the claim kept", rec, err)
	}
}
