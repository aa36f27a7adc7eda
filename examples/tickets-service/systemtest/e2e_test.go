package systemtest

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// These tests run the service as main does, on the MongoDB and NATS
// servers of `make test`, once per transport (NATS Streaming and
// JetStream), and watch it from outside the way the cluster's other
// services do: over HTTP and through a NATS connection of their own on the
// same transport.

// broker is the NATS server a test runs the service on, as the environment
// that selects it: NATS_TRANSPORT and the server's variables.
type broker struct {
	transport string
	env       map[string]string
}

func stanBroker(url, clusterID string) broker {
	return broker{service.TransportStan, map[string]string{"NATS_TRANSPORT": service.TransportStan, "NATS_URL": url, "NATS_CLUSTER_ID": clusterID}}
}

func jetStreamBroker(url string) broker {
	return broker{service.TransportJetStream, map[string]string{"NATS_TRANSPORT": service.TransportJetStream, "NATS_JETSTREAM_URL": url}}
}

// onEachTransport runs test as a subtest per transport, on the servers of
// make test (a subtest whose server is not there skips).
func onEachTransport(t *testing.T, test func(t *testing.T, b broker)) {
	t.Run(service.TransportStan, func(t *testing.T) { test(t, stanBroker(testenv.NATS(t))) })
	t.Run(service.TransportJetStream, func(t *testing.T) { test(t, jetStreamBroker(testenv.JetStreamURL(t))) })
}

// realService starts runService on MongoDB and b, with a database, queue
// group (and so durables) and dead-letter subjects of its own, and returns
// its base URL, log and configuration. It is stopped, and must stop
// cleanly, when the test ends.
//
// On JetStream the service provisions the cluster's stream (TICKETS, over
// the cluster's fixed subjects) as in production: the first test creates
// it, the others find it as they would make it, and each run's durables
// are its own. Its dead letters get a stream of their own, per run.
func realService(t *testing.T, b broker, tune func(*config)) (string, *logBuffer, config) {
	t.Helper()
	db := testenv.Mongo(t) // dropped when the test ends
	mongoURI := testenv.DatabaseURI(t, db)

	vars := map[string]string{
		"PORT":      "0",
		"MONGO_URI": mongoURI,
		"JWT_KEY":   string(testKey),
	}
	maps.Copy(vars, b.env)
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Transport != b.transport {
		t.Fatalf("NATS_TRANSPORT=%s: configured %q", b.transport, cfg.Transport)
	}
	unique := testenv.UniqueName(t)
	cfg.QueueGroup = "tickets-service-" + unique
	cfg.DeadLetters = "dead-letter-" + unique
	cfg.ShutdownTimeout = wait
	if tune != nil {
		tune(&cfg)
	}
	if b.transport == service.TransportJetStream {
		// Registered first, so it runs once the service has stopped.
		dropFromJetStream(t, b, cfg.QueueGroup, []events.Subject{wire.SubjectOrderCreated, wire.SubjectOrderCancelled},
			jsclient.DeadLetterStream(cfg.DeadLetters).Name)
	}

	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runService(ctx, cfg, log) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runService returned %v on stop, want nil", err)
			}
		case <-time.After(2 * wait):
			t.Errorf("runService did not return within %v of the stop", 2*wait)
		}
		if t.Failed() {
			t.Logf("service log:\n%s", logs)
		}
	})
	select {
	case err := <-done:
		t.Fatalf("runService returned at start-up: %v\n%s", err, logs)
	default:
	}
	return listening(t, logs), logs, cfg
}

// dropFromJetStream deletes, when the test ends, what a run leaves behind
// on a shared JetStream server: the consumers of durable on subjects, and
// streams. (A fresh server per `make test` would not need it; `make dev`'s
// lives on.)
func dropFromJetStream(t *testing.T, b broker, durable string, subjects []events.Subject, streams ...string) {
	t.Helper()
	url := b.env["NATS_JETSTREAM_URL"]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		nc, err := nats.Connect(url)
		if err != nil {
			t.Errorf("clean up JetStream: %v", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Errorf("clean up JetStream: %v", err)
			return
		}
		for _, subject := range subjects {
			stream, err := js.StreamNameBySubject(ctx, string(subject))
			if err == nil {
				err = js.DeleteConsumer(ctx, stream, jsclient.ConsumerName(string(subject), durable))
			}
			if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				t.Errorf("delete the %s consumer of %s: %v", subject, durable, err)
			}
		}
		for _, name := range streams {
			if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("delete stream %s: %v", name, err)
			}
		}
	})
}

// peer is another service of the cluster: its own connection on b's
// transport, publishing raw bytes and listening with its own durables.
type peer struct {
	t  *testing.T
	b  broker
	tr events.Transport
}

func newPeer(t *testing.T, b broker) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var tr events.Transport
	switch b.transport {
	case service.TransportJetStream:
		// Configured as any service of the cluster, which provisions
		// the cluster's stream alike.
		cfg, err := jsclient.FromEnv(env(b.env), jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Name = testenv.UniqueName(t)
		js, err := jsclient.Connect(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr = js
	default:
		nc, err := streaming.Connect(ctx, natsclient.Config{ClusterID: b.env["NATS_CLUSTER_ID"], ClientID: testenv.UniqueName(t), URLs: []string{b.env["NATS_URL"]}})
		if err != nil {
			t.Fatal(err)
		}
		tr = nc
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := tr.Close(ctx); err != nil {
			t.Errorf("close peer: %v", err)
		}
	})
	return &peer{t: t, b: b, tr: tr}
}

func (p *peer) publish(subject events.Subject, data string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.tr.Publish(ctx, events.Outgoing{Subject: string(subject), Data: []byte(data)}); err != nil {
		p.t.Fatalf("publish %s: %v", subject, err)
	}
}

// inbox collects what a listener received.
type inbox[E any] struct {
	mu      sync.Mutex
	got     []E
	changed chan struct{}
}

// listen subscribes a fresh durable to E's subject, from now on, and
// collects what arrives.
func listen[E events.Event](p *peer) *inbox[E] {
	p.t.Helper()
	in := &inbox[E]{changed: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	durable := "peer-" + testenv.UniqueName(p.t)
	if p.b.transport == service.TransportJetStream {
		var e E
		dropFromJetStream(p.t, p.b, durable, []events.Subject{e.Subject()})
	}
	l, err := events.Listen(ctx, p.tr, durable, func(_ context.Context, e E, _ events.Metadata) error {
		in.mu.Lock()
		in.got = append(in.got, e)
		close(in.changed)
		in.changed = make(chan struct{})
		in.mu.Unlock()
		return nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = l.Close(ctx)
	})
	return in
}

// await waits for a received event matching match.
func (in *inbox[E]) await(t *testing.T, what string, match func(E) bool) E {
	t.Helper()
	deadline := time.After(wait)
	for {
		in.mu.Lock()
		got, changed := append([]E(nil), in.got...), in.changed
		in.mu.Unlock()
		for _, e := range got {
			if match(e) {
				return e
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %s within %v; received %+v", what, wait, got)
			var zero E
			return zero
		}
	}
}

func TestEndToEndOnRealServers(t *testing.T) { onEachTransport(t, testEndToEnd) }

func testEndToEnd(t *testing.T, b broker) {
	base, _, _ := realService(t, b, nil)
	p := newPeer(t, b)
	created := listen[wire.TicketCreated](p)
	updated := listen[wire.TicketUpdated](p)

	if r := send(t, base, "GET", "/readyz", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"mongodb":"ok"`) || !strings.Contains(string(r.body), `"nats":"ok"`) {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}

	// HTTP in, ticket:created out.
	r := send(t, base, "POST", "/api/tickets", `{"title":"concert","price":12.5}`, as(t, alice)...)
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d, body %s", r.status, r.body)
	}
	tk := r.ticket(t)
	e := created.await(t, "ticket:created", func(e wire.TicketCreated) bool { return e.ID == tk.ID })
	if want := (wire.TicketCreated{ID: tk.ID, Title: "concert", Price: ticketkit.Cents(1250), UserID: alice, Version: 0}); e != want {
		t.Errorf("ticket:created %+v, want %+v", e, want)
	}

	// Listing and paging, over MongoDB.
	free := send(t, base, "POST", "/api/tickets", `{"title":"free","price":5}`, as(t, bob)...).ticket(t)
	first := send(t, base, "GET", "/api/tickets?limit=1", "")
	if list := first.tickets(t); len(list) != 1 || list[0].ID != tk.ID || first.header.Get("X-Next-Cursor") != tk.ID {
		t.Errorf("first page: %+v, next %q", list, first.header.Get("X-Next-Cursor"))
	}
	second := send(t, base, "GET", "/api/tickets?limit=1&after="+tk.ID, "")
	if list := second.tickets(t); len(list) != 1 || list[0].ID != free.ID || second.header.Get("X-Next-Cursor") != "" {
		t.Errorf("second page: %+v, next %q", list, second.header.Get("X-Next-Cursor"))
	}

	// order:created as the Node orders service writes it: reserved.
	p.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderA))
	u := updated.await(t, "ticket:updated v1", func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.Version == 1 })
	if want := (wire.TicketUpdated{ID: tk.ID, Title: "concert", Price: ticketkit.Cents(1250), UserID: alice, OrderID: orderA, Version: 1}); u != want {
		t.Errorf("ticket:updated %+v, want %+v", u, want)
	}
	if got := send(t, base, "GET", "/api/tickets/"+tk.ID, "").ticket(t); got.OrderID != orderA || got.Version != 1 {
		t.Errorf("GET after reservation: %+v", got)
	}
	if r := send(t, base, "PUT", "/api/tickets/"+tk.ID, `{"title":"x","price":1}`, as(t, alice)...); r.status != http.StatusBadRequest {
		t.Errorf("edit while reserved: status %d, body %s", r.status, r.body)
	}
	if list := send(t, base, "GET", "/api/tickets", "").tickets(t); len(list) != 1 || list[0].ID != free.ID {
		t.Errorf("list while reserved: %+v, want only the free ticket", list)
	}

	// order:cancelled: released.
	p.publish(wire.SubjectOrderCancelled, orderCancelled(t, tk.ID, orderA))
	u = updated.await(t, "ticket:updated v2", func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.Version == 2 })
	if want := (wire.TicketUpdated{ID: tk.ID, Title: "concert", Price: ticketkit.Cents(1250), UserID: alice, Version: 2}); u != want {
		t.Errorf("ticket:updated %+v, want %+v", u, want)
	}

	// And the owner can edit it again, over MongoDB.
	r = send(t, base, "PUT", "/api/tickets/"+tk.ID, `{"title":"opera","price":30}`, as(t, alice)...)
	if r.status != http.StatusOK || r.ticket(t).Version != 3 {
		t.Fatalf("edit: status %d, body %s", r.status, r.body)
	}
	updated.await(t, "ticket:updated v3", func(e wire.TicketUpdated) bool {
		return e.ID == tk.ID && e.Version == 3 && e.Title == "opera" && e.Price == ticketkit.Cents(3000)
	})
}

// The failure cases the Node service crash-loops or wedges on, against the
// real broker: this is also where each transport's delivery count must
// make the reservedRetries limit work, and where JetStream needs the
// dead-letter stream.
func TestEndToEndBadEventsOnRealServers(t *testing.T) { onEachTransport(t, testBadEvents) }

func testBadEvents(t *testing.T, b broker) {
	base, logs, cfg := realService(t, b, func(c *config) {
		c.AckWait = time.Second
		c.reservedRetries = 2
	})
	p := newPeer(t, b)
	updated := listen[wire.TicketUpdated](p)
	tk := send(t, base, "POST", "/api/tickets", `{"title":"concert","price":20}`, as(t, alice)...).ticket(t)

	// Dead letters are republished; a peer can watch them.
	// Other runs' and packages' messages on order:created reach the
	// service too (its new durable delivers all), so each payload here is
	// unique and the test looks for its own.
	deadLetters := &inbox[string]{changed: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sub, err := p.tr.Subscribe(ctx, cfg.DeadLetterSubject(string(wire.SubjectOrderCreated)), events.SubscribeOptions{DeliverAll: true}, func(m events.Message) {
		deadLetters.mu.Lock()
		deadLetters.got = append(deadLetters.got, string(m.Data()))
		close(deadLetters.changed)
		deadLetters.changed = make(chan struct{})
		deadLetters.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())

	// Unknown ticket: acknowledged and logged.
	unknown := ticketkit.NewID()
	p.publish(wire.SubjectOrderCreated, orderCreated(t, unknown, orderA))
	logs.await(t, "about the unknown ticket", func(l map[string]any) bool { return l["ticket"] == unknown && l["level"] == "WARN" })

	// Poison: dead-lettered at once.
	poison := `{"id":"` + testenv.UniqueName(t) + `",`
	p.publish(wire.SubjectOrderCreated, poison)
	// Held by another order that never lets go: dead-lettered after
	// reservedRetries.
	p.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderA))
	updated.await(t, "the reservation", func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.OrderID == orderA })
	stuck := orderCreated(t, tk.ID, orderB)
	p.publish(wire.SubjectOrderCreated, stuck)

	for _, want := range []string{poison, stuck} {
		deadLetters.await(t, "dead letter "+want, func(got string) bool { return got == want })
	}

	// The service still works.
	other := send(t, base, "POST", "/api/tickets", `{"title":"opera","price":30}`, as(t, bob)...).ticket(t)
	p.publish(wire.SubjectOrderCreated, orderCreated(t, other.ID, orderB))
	updated.await(t, "the next reservation", func(e wire.TicketUpdated) bool { return e.ID == other.ID && e.OrderID == orderB })
}

// awaitReadiness polls /readyz until it answers status: the condition is
// the connection state the service sees, which it learns asynchronously.
func awaitReadiness(t *testing.T, base string, status int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		r := send(t, base, "GET", "/readyz", "")
		if r.status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %s after %v, want %d", r.status, r.body, wait, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// While the broker is down the service reports itself not ready but keeps
// taking writes: each change is saved with its event in the outbox, and
// the event goes out once the broker is back. (The Node service publishes
// after saving, so the same outage fails the request after the ticket was
// saved, and the event is lost.) Each transport gets a server of its own,
// which the test kills and restarts with its data.
func TestEndToEndBrokerOutage(t *testing.T) { onEachOwnServer(t, testBrokerOutage) }

// onEachOwnServer runs test per transport on a server of the test's own,
// which it may kill, freeze or restart.
func onEachOwnServer(t *testing.T, test func(*testing.T, *testenv.Process, broker)) {
	t.Run(service.TransportStan, func(t *testing.T) {
		srv := testenv.StartStan(t, t.TempDir())
		test(t, srv, stanBroker(srv.URL(), srv.ClusterID()))
	})
	t.Run(service.TransportJetStream, func(t *testing.T) {
		srv := testenv.StartJetStream(t, t.TempDir())
		test(t, srv, jetStreamBroker(srv.URL()))
	})
}

func testBrokerOutage(t *testing.T, srv *testenv.Process, b broker) {
	base, _, _ := realService(t, b, nil)
	p := newPeer(t, b)
	created := listen[wire.TicketCreated](p)
	awaitReadiness(t, base, http.StatusOK)

	srv.Kill()
	awaitReadiness(t, base, http.StatusServiceUnavailable)
	r := send(t, base, "POST", "/api/tickets", `{"title":"during the outage","price":20}`, as(t, alice)...)
	if r.status != http.StatusCreated {
		t.Fatalf("create during the outage: status %d, body %s", r.status, r.body)
	}
	tk := r.ticket(t)
	if got := send(t, base, "GET", "/api/tickets/"+tk.ID, ""); got.status != http.StatusOK {
		t.Errorf("read during the outage: status %d", got.status)
	}

	srv.Restart()
	awaitReadiness(t, base, http.StatusOK)
	created.await(t, "the ticket:created saved during the outage", func(e wire.TicketCreated) bool { return e.ID == tk.ID })
}
