package systemtest

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

	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/tickets"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait of these tests on something asynchronous.
const wait = 15 * time.Second

var testKey = []byte("test-jwt-key")

// testConfig is the service's configuration for the in-memory tests: the
// shortest ack wait NATS Streaming allows, and few deliveries, so that
// redelivery and dead-lettering happen within a second or two.
func testConfig() config {
	c := service.Defaults(serviceName)
	c.Port, c.JWTKey, c.DevJWTKey = "0", testKey, false
	c.AckWait = time.Second
	c.StartupTimeout, c.ShutdownTimeout = wait, wait
	return config{Config: c, reservedRetries: 3}
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody is the cluster's error body.
type errorBody struct {
	Errors []httpapi.Problem `json:"errors"`
}

func (r response) errors(t *testing.T) []httpapi.Problem {
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
	tk, err := session.Mint(testKey, session.User{ID: id, Email: id + "@example.com"}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func as(t *testing.T, userID string) []string { return bearer(token(t, userID)) }

// Users and orders of the tests: 24-hex ids, like the cluster's.
const (
	alice  = "a11ce0000000000000000001"
	bob    = "b0b000000000000000000002"
	orderA = "0a0000000000000000000001"
	orderB = "0b0000000000000000000002"
)

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
