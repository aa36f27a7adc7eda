package expirationsvc_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/examples/expiration-service/expirationsvc"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func orderCreated(expiresAt time.Time) wire.OrderCreated {
	return wire.OrderCreated{
		ID: ticketkit.NewID(), Status: orders.Created, UserID: ticketkit.NewID(),
		ExpiresAt: wire.Time{Time: expiresAt.UTC().Truncate(time.Millisecond)},
		Ticket:    wire.OrderTicket{ID: ticketkit.NewID(), Price: ticketkit.Cents(2000)},
	}
}

// completions counts the expiration:complete the cluster saw for order.
func completions(c *servicetest.Cluster, order string) int {
	n := 0
	for _, e := range servicetest.Published[wire.ExpirationComplete](c) {
		if e.OrderID == order {
			n++
		}
	}
	return n
}

// Each order:created becomes one expiration:complete at its expiresAt,
// not before, however often it is delivered; the service has no routes
// but its probes.
func TestExpiresAtItsTime(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testExpiresAtItsTime(t, servicetest.Memory(t)) })
	t.Run("nats-streaming", func(t *testing.T) { testExpiresAtItsTime(t, servicetest.Servers(t, service.TransportStan)) })
	t.Run("jetstream", func(t *testing.T) { testExpiresAtItsTime(t, servicetest.Servers(t, service.TransportJetStream)) })
}

func testExpiresAtItsTime(t *testing.T, c *servicetest.Cluster) {
	in := c.Start(expirationsvc.Name, expirationsvc.Build)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/api/expirations": 404} {
		if r := in.Send("GET", path, ""); r.Status != want {
			t.Errorf("GET %s: %d %s, want %d", path, r.Status, r.Body, want)
		}
	}
	soon := orderCreated(time.Now().Add(1500 * time.Millisecond))
	past := orderCreated(time.Now().Add(-time.Minute)) // late already: at once
	c.Publish(soon)
	c.Publish(soon) // a redelivery, as Node's publisher may make
	c.Publish(past)
	for _, o := range []wire.OrderCreated{soon, past} {
		c.AwaitStored(expirationsvc.Name, expirationsvc.Collection, o.ID)
	}

	servicetest.Await(c, func(e wire.ExpirationComplete) bool { return e.OrderID == past.ID })
	if completions(c, soon.ID) != 0 {
		t.Fatal("expiration:complete before the order's expiresAt")
	}
	servicetest.Await(c, func(e wire.ExpirationComplete) bool { return e.OrderID == soon.ID })
	if now := time.Now(); now.Before(soon.ExpiresAt.Time) {
		t.Fatalf("expiration:complete %v before the order's expiresAt", soon.ExpiresAt.Sub(now))
	}
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Wait)
	defer cancel()
	if err := in.Relay().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := completions(c, soon.ID); n != 1 {
		t.Errorf("%d expiration:complete for an order delivered twice, want 1", n)
	}
}

// An instance that stops with an expiration waiting leaves it to
// another, which publishes it at its time, once.
func TestExpirationSurvivesARestart(t *testing.T) {
	t.Run("nats-streaming", func(t *testing.T) { testRestart(t, servicetest.Servers(t, service.TransportStan)) })
	t.Run("jetstream", func(t *testing.T) { testRestart(t, servicetest.Servers(t, service.TransportJetStream)) })
}

func testRestart(t *testing.T, c *servicetest.Cluster) {
	first := c.Start(expirationsvc.Name, expirationsvc.Build)
	o := orderCreated(time.Now().Add(3 * time.Second))
	c.Publish(o)
	c.AwaitStored(expirationsvc.Name, expirationsvc.Collection, o.ID)
	first.Stop()
	if n := completions(c, o.ID); n != 0 {
		t.Fatalf("%d expiration:complete published by the stopping instance before its time", n)
	}
	second := c.Start(expirationsvc.Name, expirationsvc.Build)
	servicetest.Await(c, func(e wire.ExpirationComplete) bool { return e.OrderID == o.ID })
	if time.Now().Before(o.ExpiresAt.Time) {
		t.Fatal("expiration:complete before the order's expiresAt")
	}
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Wait)
	defer cancel()
	if err := second.Relay().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := completions(c, o.ID); n != 1 {
		t.Errorf("%d expiration:complete, want 1", n)
	}
}

// A poison order:created is dead-lettered, not retried for ever, and
// schedules nothing.
func TestPoisonOrderCreated(t *testing.T) {
	c := servicetest.Memory(t)
	c.Start(expirationsvc.Name, expirationsvc.Build)
	for _, raw := range []string{`{`, `{"id":"nope","version":0}`, `{"id":{"$gt":""},"ticket":{"id":"x","price":"1"}}`, "\xff\xfe"} {
		c.PublishRaw(wire.SubjectOrderCreated, []byte(raw))
	}
	c.AwaitHandled(wire.SubjectOrderCreated, events.DeadLettered, 4)
	if n := len(servicetest.Published[wire.ExpirationComplete](c)); n != 0 {
		t.Errorf("%d expiration:complete from poison events", n)
	}
}
