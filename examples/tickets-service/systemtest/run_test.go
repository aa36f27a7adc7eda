package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/wire"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// listening waits for run's "listening" log line and returns the base URL
// of the service.
func listening(t *testing.T, logs *logBuffer) string {
	t.Helper()
	line := logs.await(t, "listening", func(l map[string]any) bool { return l["msg"] == "listening" })
	_, port, err := net.SplitHostPort(line["addr"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + port
}

// TestRunShutsDownCleanly runs the program as main does, on the in-memory
// backends, and stops it as a SIGTERM would: run returns nil and leaves no
// goroutine behind.
func TestRunShutsDownCleanly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	logs := &logBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tickets-service"}, env(map[string]string{"PORT": "0"}), logs)
	}()
	base := listening(t, logs)
	logs.await(t, "announcing in-memory mode", func(l map[string]any) bool {
		return l["level"] == "WARN" && strings.HasPrefix(l["msg"].(string), "in-memory mode")
	})

	// The dev key is in force: a token it signed works (the token
	// command, which prints one, is tested beside main).
	devToken, err := session.Mint([]byte(service.DevJWTKey), session.User{ID: alice, Email: "a@example.com"}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cookieHeader := session.CookieHeader(devToken)
	r := send(t, base, "POST", "/api/tickets", `{"title":"concert","price":20}`, "Cookie", cookieHeader)
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d, body %s", r.status, r.body)
	}
	if r := send(t, base, "GET", "/readyz", ""); r.status != http.StatusOK {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}
	// A request net/http refuses by itself is logged, with its sender.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "POST /api/tickets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
	logs.await(t, "the 501 net/http answered", func(l map[string]any) bool {
		return l["level"] == "WARN" && l["status"] == float64(501) && l["remote"] == conn.LocalAddr().String()
	})
	conn.Close()
	http.DefaultClient.CloseIdleConnections()

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after the stop signal, want nil", err)
		}
	case <-time.After(wait):
		t.Fatalf("run did not return within %v of the stop signal", wait)
	}
	logs.await(t, "stopped cleanly", func(l map[string]any) bool { return l["msg"] == "stopped cleanly" })
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Error("still accepting connections after run returned")
	}
}

// TestShutdownDrainsAndFlushes stops the service while a request is in the
// middle of its body: the request completes, and by the time serve
// returns, its ticket's event has been published and the broker closed.
func TestShutdownDrainsAndFlushes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	rec := eventstest.NewRecorder(memtransport.New())
	s, err := startService(context.Background(), testConfig(), log, memoryBackends(rec), events.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	// Know when the request is inside the service, so the stop comes
	// while it is in flight rather than before the connection is accepted.
	entered := make(chan struct{})
	inner := s.handler
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		inner.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, s, ln) }()

	// A client that has sent its headers and half its body.
	body, bodyW := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/api/tickets", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token(t, alice))
	client := &http.Client{Transport: &http.Transport{}, Timeout: wait}
	defer client.CloseIdleConnections()
	responded := make(chan *http.Response, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			t.Errorf("in-flight request failed: %v", err)
			close(responded)
			return
		}
		responded <- res
	}()
	if _, err := io.WriteString(bodyW, `{"title":"last call",`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the request never reached the service")
	}

	stop()
	logs.await(t, "shutting down", func(l map[string]any) bool { return l["msg"] == "shutting down" })
	if _, err := io.WriteString(bodyW, `"price":5}`); err != nil {
		t.Fatal(err)
	}
	bodyW.Close()
	res, ok := <-responded
	if !ok {
		t.FailNow()
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request: status %d, body %s", res.StatusCode, data)
	}

	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve returned %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatalf("serve did not return within %v", wait)
	}
	if created := eventstest.Published[wire.TicketCreated](t, rec); len(created) != 1 || created[0].Title != "last call" {
		t.Errorf("published %+v, want the in-flight request's ticket", created)
	}
	if err := rec.Publish(context.Background(), events.Outgoing{Subject: "x", Data: []byte("{}")}); err == nil {
		t.Error("the transport is still open after shutdown")
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"MONGO_URI": "mongodb://127.0.0.1:1/"}, nil, "MONGO_URI is set but NATS_URL is not"},
		{map[string]string{"NATS_URL": "nats://127.0.0.1:1"}, nil, "NATS_URL is set but MONGO_URI is not"},
		{map[string]string{"PORT": "http"}, nil, `PORT "http"`},
		{map[string]string{"NATS_TRANSPORT": "nats"}, nil, `NATS_TRANSPORT "nats" is not one of stan`},
		{nil, []string{"serve"}, `unknown argument "serve"`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"tickets-service"}, c.args...), env(c.env), &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v args %v: error %v, want one mentioning %q", c.env, c.args, err, c.want)
		}
	}
}

// Configured, the service exports its metrics at /metrics and traces its
// requests, whose log lines then name their trace.
func TestRunExportsTelemetry(t *testing.T) {
	t.Cleanup(func() {
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
	})
	logs := &logBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tickets-service"}, env(map[string]string{
			"PORT": "0", "JWT_KEY": string(testKey), "OTEL_METRICS_EXPORTER": "prometheus", "OTEL_TRACES_EXPORTER": "console",
		}), logs)
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	base := listening(t, logs)
	if r := send(t, base, "POST", "/api/tickets", `{"title":"measured","price":20}`, as(t, alice)...); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	line := logs.await(t, "the request's log line", func(l map[string]any) bool { return l["msg"] == "request" && l["method"] == "POST" })
	if id, _ := line["trace_id"].(string); len(id) != 32 || line["correlation_id"] != id {
		t.Errorf("request log line %v: want its trace id, and it as the correlation id", line)
	}
	deadline := time.Now().Add(wait)
	for {
		r := send(t, base, "GET", "/metrics", "")
		body := string(r.body)
		if r.status == http.StatusOK && strings.Contains(body, `ticketkit_outbox_entries_total{`) && strings.Contains(body, `outcome="published"`) &&
			strings.Contains(body, "ticketkit_outbox_backlog") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: %d, without the outbox's metrics:\n%s", r.status, body)
		}
		time.Sleep(50 * time.Millisecond) // the relay publishes on its own schedule
	}
}
