package ticketsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/tickets"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait of these tests on something asynchronous.
const wait = servicetest.Wait

// testReservedRetries makes the reserved-ticket limit reachable within a
// test: an order:created for a held ticket is dead-lettered on its third
// delivery.
const testReservedRetries = 3

// harness is the service on a servicetest cluster in memory, with what
// it publishes recorded (servicetest.Published, Await) and what its
// listeners do observed (c.Handled).
type harness struct {
	t    *testing.T
	c    *servicetest.Cluster
	srv  *servicetest.Instance
	svc  *tickets.Service // the instance's use cases
	logs *logBuffer
}

// harnessConfig is what a harnessOption changes.
type harnessConfig struct {
	wrap      func(tickets.Store) tickets.Store
	configure func(*service.Config)
}

type harnessOption func(*harnessConfig)

// withStore puts a store in front of the service's, for failures.
func withStore(wrap func(tickets.Store) tickets.Store) harnessOption {
	return func(c *harnessConfig) { c.wrap = wrap }
}

// withConfig edits the service's configuration.
func withConfig(edit func(*service.Config)) harnessOption {
	return func(c *harnessConfig) { c.configure = edit }
}

// testBuild is the service's build with the tests' reserved-ticket limit
// and, if wrap is set, a store in front of its own; it puts the use cases
// in *uc if uc is not nil.
func testBuild(wrap func(tickets.Store) tickets.Store, uc **tickets.Service) service.Build {
	return func(ctx context.Context, s *service.Service) (http.Handler, error) {
		store, err := ticketStore(ctx, s)
		if err != nil {
			return nil, err
		}
		if wrap != nil {
			store = wrap(store)
		}
		svc, err := tickets.NewService(store)
		if err != nil {
			return nil, err
		}
		if uc != nil {
			*uc = svc
		}
		if err := startListeners(ctx, s, svc, testReservedRetries); err != nil {
			return nil, err
		}
		return (&api{svc: svc, auth: s.Verifier(), log: s.Logger()}).routes(), nil
	}
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	var hc harnessConfig
	for _, o := range opts {
		o(&hc)
	}
	h := &harness{t: t, c: servicetest.Memory(t), logs: &logBuffer{}}
	start := []servicetest.Option{servicetest.LogTo(h.logs)}
	if hc.configure != nil {
		start = append(start, servicetest.Configure(hc.configure))
	}
	h.srv = h.c.Start(Name, testBuild(hc.wrap, &h.svc), start...)
	return h
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody is the cluster's error body.
type errorBody struct {
	Errors []apiError `json:"errors"`
}

func (r response) errors(t *testing.T) []apiError {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil || len(b.Errors) == 0 {
		t.Fatalf("status %d, body %s: not an error body (%v)", r.status, r.body, err)
	}
	return b.Errors
}

func (r response) ticket(t *testing.T) tickets.Ticket {
	t.Helper()
	var tk tickets.Ticket
	if err := json.Unmarshal(r.body, &tk); err != nil {
		t.Fatalf("status %d, body %s: not a ticket: %v", r.status, r.body, err)
	}
	return tk
}

func (r response) tickets(t *testing.T) []tickets.Ticket {
	t.Helper()
	var ts []tickets.Ticket
	if err := json.Unmarshal(r.body, &ts); err != nil || ts == nil {
		t.Fatalf("status %d, body %s: not a JSON array of tickets: %v", r.status, r.body, err)
	}
	return ts
}

// send makes a request. headers are name, value pairs; a body gets
// Content-Type application/json unless they set another.
func (h *harness) send(method, path, body string, headers ...string) response {
	h.t.Helper()
	return send(h.t, h.srv.URL, method, path, body, headers...)
}

// handled records how the service's listeners dealt with each message.
func (h *harness) handled() *eventstest.Handled { return h.c.Handled() }

func send(t *testing.T, base, method, path, body string, headers ...string) response {
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
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// token is a valid token for user id.
func token(t *testing.T, id string) string {
	t.Helper()
	tk, err := session.Mint([]byte(servicetest.Key), session.User{ID: id, Email: id + "@example.com"}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func cookie(token string) []string { return []string{"Cookie", session.CookieHeader(token)} }

func as(t *testing.T, userID string) []string { return bearer(token(t, userID)) }

// Users and orders of the tests: 24-hex ids, like the cluster's.
const (
	alice  = "a11ce0000000000000000001"
	bob    = "b0b000000000000000000002"
	orderA = "0a0000000000000000000001"
	orderB = "0b0000000000000000000002"
)

// create creates a ticket through the API.
func (h *harness) create(userID, title string, price float64) tickets.Ticket {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"title": title, "price": price})
	r := h.send("POST", "/api/tickets", string(body), as(h.t, userID)...)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create: status %d, body %s", r.status, r.body)
	}
	return r.ticket(h.t)
}

// publish publishes raw bytes on subject, as a Node service would.
func (h *harness) publish(subject events.Subject, data string) {
	h.t.Helper()
	h.c.PublishRaw(subject, []byte(data))
}

// flush publishes everything in the outbox: after it, every event the
// service will publish for what it has done so far is in the recorder.
func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.srv.Relay().Flush(ctx); err != nil {
		h.t.Fatalf("flush: %v", err)
	}
}

// logBuffer collects the service's log, safely for concurrent writers,
// and lets a test wait for a line.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log's JSON lines.
func (b *logBuffer) lines() []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// await waits for a log line matching match and returns it.
func (b *logBuffer) await(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(wait)
	for {
		b.mu.Lock()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		for _, l := range b.lines() {
			if match(l) {
				return l
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line %s within %v; log:\n%s", what, wait, b)
			return nil
		}
	}
}
