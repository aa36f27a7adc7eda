package service_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Shutdown returns by its deadline even while a handler ignores its
// context, and the service reports itself not ready from then on.
func TestShutdownReturnsByItsDeadline(t *testing.T) {
	ctx := context.Background()
	b := service.Memory(nil, memtransport.New())
	s, err := service.Start(ctx, service.Defaults("stuck-service"), nil, b)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	err = service.Listen(ctx, s, func(context.Context, wire.TicketCreated, events.Metadata) error {
		close(entered)
		<-release // ignores its ctx
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(http.NotFoundHandler()))
	defer srv.Close()
	data, _ := events.Encode(wire.TicketCreated{ID: ticketkit.NewID(), Title: "t", Price: 1, UserID: ticketkit.NewID()})
	if err := b.Transport.Publish(ctx, events.Outgoing{Subject: string(wire.SubjectTicketCreated), Data: data}); err != nil {
		t.Fatal(err)
	}
	<-entered

	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(sctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Shutdown reported success with a handler still running")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return by its deadline")
	}
	if err2 := s.Shutdown(ctx); err2 == nil {
		t.Error("a second Shutdown forgot the first one's failure")
	}
	res, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz after shutdown: %d, want 503", res.StatusCode)
	}
}

// FromEnv reads the cluster's variables and names everything after the
// service; what a service doesn't set gets the cluster's defaults.
func TestFromEnv(t *testing.T) {
	env := map[string]string{"MONGO_URI": "mongodb://m/", "NATS_URL": "http://n:4222", "NATS_CLUSTER_ID": "ticketing", "JWT_KEY": "k", "REQUEST_TIMEOUT": "3s", "SHUTDOWN_TIMEOUT": "7s"}
	c, err := service.FromEnv("payments-service", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.QueueGroup != "payments-service" || c.DeadLetterSubject("order:created") != "payments-service:dead-letter.order:created" ||
		c.AckWait != 5*time.Second || c.RequestTimeout != 3*time.Second || c.ShutdownTimeout != 7*time.Second || c.InMemory() || c.Transport != service.TransportStan || c.Stan.ClusterID != "ticketing" {
		t.Errorf("config %+v", c)
	}
	c, err = service.FromEnv("payments-service", func(string) string { return "" })
	if err != nil || !c.InMemory() || !c.DevJWTKey || c.Port != "3000" {
		t.Errorf("nothing set: %+v, %v; want in memory with the dev key on 3000", c, err)
	}
	if _, err := service.FromEnv("x", func(k string) string { return map[string]string{"MONGO_URI": "mongodb://m/"}[k] }); err == nil {
		t.Error("MongoDB without NATS accepted")
	}
}
