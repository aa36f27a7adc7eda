package service_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// A listener that makes no progress while messages wait turns /readyz to
// 503, naming the check "listeners", and back to 200 once it acknowledges
// again (issue 20, item 11: it said 200 throughout the catch-up stall).
func TestStalledListenerIsNotReady(t *testing.T) {
	ctx := context.Background()
	b := service.Memory(nil, memtransport.New())
	s, err := service.Start(ctx, service.Defaults("stalled-service"), nil, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(ctx) })
	var failing atomic.Bool
	failing.Store(true)
	err = service.Listen(ctx, s, func(context.Context, wire.TicketCreated, events.Metadata) error {
		if failing.Load() {
			return errors.New("the copy's database does not answer")
		}
		return nil
	}, events.AckWait(time.Second), events.StallAfter(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(http.NotFoundHandler()))
	defer srv.Close()
	if code, body := readyz(t, srv.URL); code != http.StatusOK {
		t.Fatalf("readyz before any message: %d %s", code, body)
	}
	data, _ := events.Encode(wire.TicketCreated{ID: ticketkit.NewID(), Title: "t", Price: 1, UserID: ticketkit.NewID()})
	if err := b.Transport.Publish(ctx, events.Outgoing{Subject: string(wire.SubjectTicketCreated), Data: data}); err != nil {
		t.Fatal(err)
	}
	awaitReadyz(t, srv.URL, http.StatusServiceUnavailable, `"listeners":"unavailable"`)
	failing.Store(false)
	awaitReadyz(t, srv.URL, http.StatusOK, `"listeners":"ok"`)
}

func readyz(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// awaitReadyz waits, within 30 s, for /readyz to answer code with a body
// containing want.
func awaitReadyz(t *testing.T, url string, code int, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, body := readyz(t, url)
		if got == code && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %d %s; want %d with %s", got, body, code, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
