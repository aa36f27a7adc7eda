package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
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

func TestLoadConfig(t *testing.T) {
	servers := map[string]string{
		"MONGO_URI": "mongodb://tickets-mongo-srv:27017/tickets", "NATS_URL": "http://nats-srv:4222",
		"NATS_CLUSTER_ID": "ticketing", "JWT_KEY": "secret",
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}

	t.Run("nothing set: in memory with the dev key on port 3000", func(t *testing.T) {
		c, err := loadConfig(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if !c.InMemory() || !c.DevJWTKey || string(c.JWTKey) != service.DevJWTKey || c.Port != "3000" {
			t.Errorf("config %+v", c)
		}
		if c.QueueGroup != "tickets-service" || c.AckWait != 5*time.Second {
			t.Errorf("listener settings %q %v, want the cluster's", c.QueueGroup, c.AckWait)
		}
	})
	t.Run("in memory honours JWT_KEY and PORT", func(t *testing.T) {
		c, err := loadConfig(env(map[string]string{"JWT_KEY": "k", "PORT": "8080"}))
		if err != nil || string(c.JWTKey) != "k" || c.DevJWTKey || c.Port != "8080" {
			t.Errorf("config %+v, error %v", c, err)
		}
	})
	t.Run("servers", func(t *testing.T) {
		c, err := loadConfig(env(servers))
		if err != nil {
			t.Fatal(err)
		}
		if c.InMemory() || c.DevJWTKey || string(c.JWTKey) != "secret" || c.Stan.ClusterID != "ticketing" {
			t.Errorf("config %+v", c)
		}
		// The manifests' http:// NATS_URL, read as nats://.
		if strings.Join(c.Stan.URLs, " ") != "nats://nats-srv:4222" {
			t.Errorf("URLs %v", c.Stan.URLs)
		}
		if !regexp.MustCompile(`^[a-zA-Z0-9_-]+-[0-9a-f]{8}$`).MatchString(c.Stan.ClientID) {
			t.Errorf("default client id %q: want host name and random suffix, in NATS's alphabet", c.Stan.ClientID)
		}
		c2, _ := loadConfig(env(servers))
		if c2.Stan.ClientID == c.Stan.ClientID {
			t.Errorf("two starts share the client id %q", c.Stan.ClientID)
		}
		c3, _ := loadConfig(env(with(servers, "NATS_CLIENT_ID", "tickets-depl-abc12", "NATS_TOKEN", "s3cret")))
		if c3.Stan.ClientID != "tickets-depl-abc12" || c3.Stan.Token != "s3cret" {
			t.Errorf("NATS_CLIENT_ID or NATS_TOKEN ignored: %q, %q", c3.Stan.ClientID, c3.Stan.Token)
		}
	})
	t.Run("NATS_TRANSPORT=stan is the default", func(t *testing.T) {
		for _, v := range []string{"", "stan", " STAN "} {
			c, err := loadConfig(env(with(servers, "NATS_TRANSPORT", v)))
			if err != nil || c.Transport != service.TransportStan {
				t.Errorf("NATS_TRANSPORT=%q: transport %q, error %v", v, c.Transport, err)
			}
		}
	})
	jetstream := with(servers, "NATS_TRANSPORT", "jetstream", "NATS_CLUSTER_ID", "")
	t.Run("jetstream", func(t *testing.T) {
		c, err := loadConfig(env(jetstream))
		if err != nil {
			t.Fatal(err) // and so NATS_CLUSTER_ID is not required
		}
		if c.Transport != service.TransportJetStream || c.InMemory() || string(c.JWTKey) != "secret" {
			t.Errorf("config %+v", c)
		}
		// The manifests' NATS_URL, read as jsclient reads it; the
		// cluster's stream, as every service provisions it.
		if strings.Join(c.JetStream.URLs, " ") != "nats://nats-srv:4222" || len(c.JetStream.Streams) != 1 || c.JetStream.Streams[0].Name != wire.StreamName {
			t.Errorf("JetStream config %+v", c.JetStream)
		}
		if !regexp.MustCompile(`^[a-zA-Z0-9_-]+-[0-9a-f]{8}$`).MatchString(c.JetStream.Name) {
			t.Errorf("default connection name %q: want host name and random suffix", c.JetStream.Name)
		}
		c, _ = loadConfig(env(with(jetstream, "NATS_CLIENT_ID", "tickets-depl-abc12", "NATS_TRANSPORT", "JetStream")))
		if c.Transport != service.TransportJetStream || c.JetStream.Name != "tickets-depl-abc12" {
			t.Errorf("transport %q, connection name %q, want jetstream and NATS_CLIENT_ID", c.Transport, c.JetStream.Name)
		}
		c, err = loadConfig(env(with(jetstream, "NATS_URL", "", "NATS_JETSTREAM_URL", "nats://js:4222", "NATS_STREAM", "-")))
		if err != nil || strings.Join(c.JetStream.URLs, " ") != "nats://js:4222" || len(c.JetStream.Streams) != 0 {
			t.Errorf("with NATS_JETSTREAM_URL and NATS_STREAM=-: %+v, error %v", c.JetStream, err)
		}
	})
	t.Run("stray variables of the other transport, or in memory", func(t *testing.T) {
		// `make dev` exports both servers' URLs.
		c, err := loadConfig(env(with(servers, "NATS_JETSTREAM_URL", "nats://js:4222")))
		if err != nil || c.Transport != service.TransportStan || c.NATSURL != "http://nats-srv:4222" {
			t.Errorf("stan beside NATS_JETSTREAM_URL: %+v, error %v", c, err)
		}
		c, err = loadConfig(env(map[string]string{"NATS_JETSTREAM_URL": "nats://js:4222", "NATS_CLUSTER_ID": "x"}))
		if err != nil || !c.InMemory() || !c.DevJWTKey {
			t.Errorf("stan without NATS_URL: %+v, error %v, want in memory", c, err)
		}
		c, err = loadConfig(env(map[string]string{"NATS_TRANSPORT": "jetstream"}))
		if err != nil || !c.InMemory() || !c.DevJWTKey {
			t.Errorf("jetstream without servers: %+v, error %v, want in memory", c, err)
		}
	})
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"servers without JWT_KEY", with(servers, "JWT_KEY", ""), "JWT_KEY is required"},
		{"servers without cluster id", with(servers, "NATS_CLUSTER_ID", ""), "NATS_CLUSTER_ID is required"},
		{"bad client id", with(servers, "NATS_CLIENT_ID", "tickets.pod"), `ClientID "tickets.pod"`},
		{"MongoDB only", with(servers, "NATS_URL", ""), "MONGO_URI is set but NATS_URL is not"},
		{"NATS only", with(servers, "MONGO_URI", ""), "NATS_URL is set but MONGO_URI is not"},
		{"bad port", map[string]string{"PORT": "99999"}, `PORT "99999"`},
		{"unknown transport", with(servers, "NATS_TRANSPORT", "kafka"), `NATS_TRANSPORT "kafka" is not one of stan (NATS Streaming, the default) or jetstream`},
		{"unknown transport in memory", map[string]string{"NATS_TRANSPORT": "js"}, `NATS_TRANSPORT "js"`},
		{"jetstream without JWT_KEY", with(jetstream, "JWT_KEY", ""), "JWT_KEY is required"},
		{"jetstream, MongoDB only", with(jetstream, "NATS_URL", ""), "MONGO_URI is set but NATS_JETSTREAM_URL (or NATS_URL) is not"},
		{"jetstream, NATS only", with(jetstream, "MONGO_URI", "", "NATS_URL", "", "NATS_JETSTREAM_URL", "nats://js:4222"), "NATS_JETSTREAM_URL is set but MONGO_URI is not"},
		{"jetstream, bad stream settings", with(jetstream, "NATS_STREAM_REPLICAS", "three"), "NATS_STREAM_REPLICAS"},
		{"jetstream, bad URL", with(jetstream, "NATS_URL", "redis://nats-srv:4222"), `scheme "redis"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := loadConfig(env(c.env)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// The JetStream wiring: what FromEnv read, plus the stream the dead letters
// need and stan's retry timing.
func TestJetStreamConfig(t *testing.T) {
	c, err := loadConfig(env(map[string]string{
		"MONGO_URI": "mongodb://m/", "NATS_URL": "nats://n:4222", "NATS_TRANSPORT": "jetstream", "JWT_KEY": "k",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the config read is not changed
		js := c.JetStreamConfig()
		if len(js.Consumer.NakDelays) != 1 || js.Consumer.NakDelays[0] != 5*time.Second {
			t.Errorf("NakDelays %v, want the 5s ack wait", js.Consumer.NakDelays)
		}
		if len(js.Streams) != 2 || js.Streams[0].Name != wire.StreamName {
			t.Fatalf("streams %+v, want the cluster's and the dead letters'", js.Streams)
		}
		if dl := js.Streams[1]; dl.Name != "DLQ_tickets-service_dead-letter" || !slices.Contains(dl.Subjects, "tickets-service:dead-letter.>") {
			t.Errorf("dead-letter stream %+v, want its own over %s", dl, c.DeadLetterSubject(string(wire.SubjectOrderCreated)))
		}
	}

	// NATS_STREAM=-: streams are managed elsewhere, the dead letters' too.
	c, err = loadConfig(env(map[string]string{
		"MONGO_URI": "mongodb://m/", "NATS_URL": "nats://n:4222", "NATS_TRANSPORT": "jetstream", "JWT_KEY": "k", "NATS_STREAM": "-",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if js := c.JetStreamConfig(); len(js.Streams) != 0 {
		t.Errorf("NATS_STREAM=-: provisions %+v", js.Streams)
	}
	// What decides is the config FromEnv returned, not the environment
	// read again: empty streams provision nothing, whatever NATS_STREAM says.
	c, err = loadConfig(env(map[string]string{
		"MONGO_URI": "mongodb://m/", "NATS_URL": "nats://n:4222", "NATS_TRANSPORT": "jetstream", "JWT_KEY": "k",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c.JetStream.Streams = nil
	if js := c.JetStreamConfig(); len(js.Streams) != 0 {
		t.Errorf("no streams in the config read: provisions %+v", js.Streams)
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
