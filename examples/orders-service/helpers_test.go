package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(removingBinaries{m}) }

// removingBinaries removes what the tests built once they have run.
type removingBinaries struct{ *testing.M }

func (m removingBinaries) Run() int {
	defer func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	}()
	return m.M.Run()
}

// wait bounds every wait of these tests on something asynchronous.
const wait = 15 * time.Second

var testKey = []byte("test-jwt-key")

// testConfig is the in-memory configuration with the shortest ack wait
// NATS Streaming allows, so redeliveries happen within a second.
func testConfig() service.Config {
	c := service.Defaults(serviceName)
	c.Port, c.JWTKey, c.DevJWTKey = "0", testKey, false
	c.AckWait = time.Second
	c.StartupTimeout, c.ShutdownTimeout = wait, wait
	return c
}

// harness is the service on its in-memory backends behind an httptest
// server, with what it publishes recorded and what its listeners do
// observed.
type harness struct {
	t       *testing.T
	a       *app
	srv     *httptest.Server
	rec     *eventstest.Recorder
	handled *eventstest.Handled
	logs    *syncBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, rec: eventstest.NewRecorder(memtransport.New()), handled: eventstest.NewHandled(), logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := service.Start(context.Background(), testConfig(), log, service.Memory(nil, h.rec), service.WithHooks(h.handled.Hooks()))
	if err != nil {
		t.Fatal(err)
	}
	h.a, err = build(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.a.handler)
	t.Cleanup(func() {
		h.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("service log:\n%s", h.logs)
		}
	})
	return h
}

type response struct {
	status int
	body   []byte
}

func (r response) order(t *testing.T) orderJSON {
	t.Helper()
	var o orderJSON
	if err := json.Unmarshal(r.body, &o); err != nil || o.ID == "" {
		t.Fatalf("status %d, body %s: not an order (%v)", r.status, r.body, err)
	}
	return o
}

func (r response) errors(t *testing.T) []httpapi.Problem {
	t.Helper()
	var b struct{ Errors []httpapi.Problem }
	if err := json.Unmarshal(r.body, &b); err != nil || len(b.Errors) == 0 {
		t.Fatalf("status %d, body %s: not an error body (%v)", r.status, r.body, err)
	}
	return b.Errors
}

// send makes a request as user (none when empty), with the cluster's
// cookie session.
func send(t *testing.T, base, method, path, body, user string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		tk, err := session.Mint(testKey, session.User{ID: user, Email: "u@example.com"}, time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", session.CookieHeader(tk))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, data}
}

func (h *harness) send(method, path, body, user string) response {
	h.t.Helper()
	return send(h.t, h.srv.URL, method, path, body, user)
}

// publish publishes a payload on subject, as a Node service would.
func (h *harness) publish(subject events.Subject, data string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.rec.Publish(ctx, events.Outgoing{Subject: string(subject), Data: []byte(data)}); err != nil {
		h.t.Fatal(err)
	}
}

// ticket publishes a ticket:created and waits until the service has it.
func (h *harness) ticket(title string, cents int64) string {
	h.t.Helper()
	id := ticketkit.NewID()
	b, _ := events.Encode(wire.TicketCreated{ID: id, Title: title, Price: ticketkit.Cents(cents), UserID: ticketkit.NewID()})
	n := h.handled.Count(wire.SubjectTicketCreated, events.Acked)
	h.publish(wire.SubjectTicketCreated, string(b))
	h.handled.Await(h.t, wire.SubjectTicketCreated, events.Acked, n+1)
	return id
}

// order orders ticket as user and returns the order.
func (h *harness) order(user, ticket string) orderJSON {
	h.t.Helper()
	r := h.send("POST", "/api/orders", `{"ticketId":"`+ticket+`"}`, user)
	if r.status != http.StatusCreated {
		h.t.Fatalf("order: %d %s", r.status, r.body)
	}
	return r.order(h.t)
}

// flush publishes everything in the outbox.
func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.a.Relay().Flush(ctx); err != nil {
		h.t.Fatal(err)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
