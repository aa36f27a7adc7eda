package servicetest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counter is the smallest service: it counts the tickets it was told of,
// and tells a signed-in user their id.
func counter(n *atomic.Int64) service.Build {
	return func(ctx context.Context, s *service.Service) (http.Handler, error) {
		err := service.Listen(ctx, s, func(context.Context, wire.TicketCreated, events.Metadata) error {
			n.Add(1)
			return nil
		})
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(n.Load())
		})
		mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
			u, ok := httpapi.RequireUser(w, r, s.Verifier(), s.Logger())
			if ok {
				_ = json.NewEncoder(w).Encode(u.ID)
			}
		})
		return mux, nil
	}
}

func TestTwoInstancesShareTheWork(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testTwoInstances(t, servicetest.Memory(t)) })
	t.Run("nats-streaming", func(t *testing.T) { testTwoInstances(t, servicetest.Servers(t, service.TransportStan)) })
	t.Run("jetstream", func(t *testing.T) { testTwoInstances(t, servicetest.Servers(t, service.TransportJetStream)) })
}

func testTwoInstances(t *testing.T, c *servicetest.Cluster) {
	var na, nb atomic.Int64
	a := c.Start("counter-service", counter(&na))
	b := c.Start("counter-service", counter(&nb))
	const n = 20
	for i := range n {
		c.Publish(wire.TicketCreated{ID: ticketkit.NewID(), Title: "t" + strconv.Itoa(i), Price: 100, UserID: ticketkit.NewID()})
	}
	c.AwaitHandled(wire.SubjectTicketCreated, events.Acked, n)
	var ca, cb int64
	a.Send("GET", "/count", "").JSON(t, &ca)
	b.Send("GET", "/count", "").JSON(t, &cb)
	if ca+cb < n {
		t.Fatalf("the instances counted %d and %d, want %d together (one queue group)", ca, cb, n)
	}

	u := c.User()
	var id string
	if r := a.SendAs(u, "GET", "/me", ""); r.Status != http.StatusOK {
		t.Fatalf("signed in: %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &id)
	}
	if id != u.ID {
		t.Fatalf("signed in as %q, want %q", id, u.ID)
	}
	r := b.Send("GET", "/me", "")
	if r.Status != http.StatusUnauthorized || r.Errors(t)[0].Message != "Not authorized" {
		t.Fatalf("signed out: %d %s", r.Status, r.Body)
	}
}
