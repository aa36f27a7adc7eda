package jsclient_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/wire"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/testenv"
)

// The conformance suite, exactly as memtransport runs it. Its subjects are
// all under conformance., so one stream captures them. The stream is the
// run's own: deduplication is per stream, and the suite gives its poison
// messages the same IDs in every run (-count=3).
func TestConformance(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	const subjects = "conformance.>"
	// A stream left by a crashed run would capture conformance.> too.
	if name, err := js.StreamNameBySubject(ctxFor(t), "conformance.x"); err == nil {
		_ = js.DeleteStream(ctxFor(t), name)
	}
	name := testenv.UniqueName(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Errorf("delete stream %s: %v", name, err)
		}
	})
	cfg := jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{{Name: name, Subjects: []string{subjects}}}}
	connect(t, cfg) // provisions it

	eventstest.Run(t, func(t *testing.T) events.Transport {
		c, err := jsclient.Connect(ctxFor(t), jsclient.Config{Config: natsclient.Config{URLs: []string{url}}})
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		return c // the suite closes it
	})
}

var ticketID = ticketkit.NewID()

func ticket(n int) wire.TicketCreated {
	return wire.TicketCreated{ID: ticketID, Title: "show", Price: ticketkit.Cents(int64(100 + n)), UserID: "user", Version: int64(n)}
}

func encode(t testing.TB, e events.Event) []byte {
	t.Helper()
	data, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The outbox relay publishes an event again, with the same ID, when it
// crashed between publishing and marking it published. The stream stores
// it once.
func TestPublishDeduplicatesByID(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	stream, prefix := testStream(t, js)
	c := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{stream}})
	subject := prefix + string(wire.SubjectTicketCreated)

	id := events.MessageID(wire.SubjectTicketCreated, ticketID, 0)
	msg := events.Outgoing{Subject: subject, Data: encode(t, ticket(0)), ID: id}
	for range 3 {
		if err := c.Publish(ctxFor(t), msg); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	// In a batch too, next to a new message, and with the first ID again.
	batch := []events.Outgoing{msg, {Subject: subject, Data: encode(t, ticket(1)), ID: events.MessageID(wire.SubjectTicketCreated, ticketID, 1)}, msg}
	for i, err := range c.PublishBatch(ctxFor(t), batch) {
		if err != nil {
			t.Fatalf("PublishBatch[%d]: %v", i, err)
		}
	}
	if n := streamMsgs(t, js, stream.Name, subject); n != 2 {
		t.Fatalf("the stream holds %d messages, want 2: re-publishes of one ID were not deduplicated", n)
	}
	// Without an ID every publish is a new message.
	for range 2 {
		if err := c.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: encode(t, ticket(2))}); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, js, stream.Name, subject); n != 4 {
		t.Fatalf("the stream holds %d messages, want 4", n)
	}
}

// Every instance of every service provisions at startup: creating the
// same stream again changes nothing and keeps its messages; a changed
// limit is applied in place; an impossible change is a config error.
func TestProvisionIsIdempotent(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	stream, prefix := testStream(t, js)
	stream.Subjects = append(stream.Subjects, prefix+"ticket:created") // overlapping its own wildcard is refused
	stream.Subjects = stream.Subjects[:1]
	subject := prefix + "ticket:created"

	first := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{stream}})
	if err := first.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	before, err := js.Stream(ctxFor(t), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	second := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{stream}})
	if err := second.Provision(ctxFor(t), stream, stream); err != nil {
		t.Fatalf("Provision again: %v", err)
	}
	after, err := js.Stream(ctxFor(t), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	b, a := before.CachedInfo(), after.CachedInfo()
	if !a.Created.Equal(b.Created) || a.State.Msgs != 1 || a.Config.Duplicates != jsclient.DefaultDuplicates || a.Config.Storage != jetstream.FileStorage {
		t.Fatalf("after provisioning again: created %v (was %v), %d messages, config %+v", a.Created, b.Created, a.State.Msgs, a.Config)
	}

	// A limit changes in place: raised by default, lowered (from
	// unlimited to an hour) only with Exact.
	stream.MaxAge = time.Hour
	stream.Duplicates = 10 * time.Minute
	if err := second.Provision(ctxFor(t), stream); err != nil {
		t.Fatalf("Provision with MaxAge: %v", err)
	}
	if s, err := js.Stream(ctxFor(t), stream.Name); err != nil || s.CachedInfo().Config.MaxAge != 0 || s.CachedInfo().Config.Duplicates != 10*time.Minute {
		t.Fatalf("without Exact: %+v, %v; want MaxAge still unlimited, Duplicates raised", s.CachedInfo().Config, err)
	}
	stream.Exact = true
	if err := second.Provision(ctxFor(t), stream); err != nil {
		t.Fatalf("Provision with MaxAge: %v", err)
	}
	s, err := js.Stream(ctxFor(t), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.MaxAge != time.Hour || cfg.Duplicates != 10*time.Minute || s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("after the update: MaxAge %v, Duplicates %v, %d messages", cfg.MaxAge, cfg.Duplicates, s.CachedInfo().State.Msgs)
	}

	// Storage can't change in place; a second stream can't take the subjects.
	memory := stream
	memory.Storage = jetstream.MemoryStorage
	if err := second.Provision(ctxFor(t), memory); !errors.Is(err, natsclient.ErrInvalidConfig) {
		t.Fatalf("Provision changing storage = %v, want ErrInvalidConfig", err)
	}
	thief := jsclient.Stream{Name: stream.Name + "_thief", Subjects: []string{subject}}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), thief.Name) })
	if err := second.Provision(ctxFor(t), thief); !errors.Is(err, natsclient.ErrInvalidConfig) {
		t.Fatalf("Provision of an overlapping stream = %v, want ErrInvalidConfig", err)
	}
	if err := second.Provision(ctxFor(t), jsclient.Stream{Name: "bad.name", Subjects: []string{"x"}}); !errors.Is(err, natsclient.ErrInvalidConfig) {
		t.Fatalf("Provision of a bad name = %v, want ErrInvalidConfig", err)
	}
}

// A publish no stream captures would never be acknowledged: it fails at
// once with ErrNoStream instead of waiting out its context. So does a
// subscription, which would never receive anything.
func TestNoCapturingStream(t *testing.T) {
	c := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{testenv.JetStreamURL(t)}}})
	subject := testenv.UniqueName(t) + ".ticket:created"
	start := time.Now()
	err := c.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: []byte(`{}`), ID: "x"})
	if !errors.Is(err, jsclient.ErrNoStream) || !strings.Contains(err.Error(), subject) {
		t.Fatalf("Publish = %v, want ErrNoStream naming the subject", err)
	}
	errs := c.PublishBatch(ctxFor(t), []events.Outgoing{{Subject: subject, Data: []byte(`{}`)}, {Subject: subject + ".b", Data: []byte(`{}`)}})
	for i, err := range errs {
		if !errors.Is(err, jsclient.ErrNoStream) {
			t.Fatalf("PublishBatch[%d] = %v, want ErrNoStream", i, err)
		}
	}
	_, err = c.Subscribe(ctxFor(t), subject, events.SubscribeOptions{Durable: "d", QueueGroup: "d", ManualAck: true}, func(events.Message) {})
	if !errors.Is(err, jsclient.ErrNoStream) {
		t.Fatalf("Subscribe = %v, want ErrNoStream", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failing took %v; it should not wait for a stream", d)
	}
	for _, bad := range []string{"", "a.*", "a.>", "a..b", "a b"} {
		if err := c.Publish(ctxFor(t), events.Outgoing{Subject: bad}); !errors.Is(err, natsclient.ErrInvalidSubject) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidSubject", bad, err)
		}
	}
}

// An unreachable server is an error within Connect's context, saying why.
func TestConnectUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	c, err := jsclient.Connect(ctx, fast("nats://svc:s3cret@"+addr))
	took := time.Since(start)
	if err == nil {
		c.Close(context.Background())
		t.Fatal("Connect to a closed port succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no servers available") {
		t.Fatalf("Connect = %v, want the deadline and the last cause", err)
	}
	if took > 3*time.Second {
		t.Fatalf("Connect took %v with a 1s context", took)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	t.Logf("Connect gave up after %v: %v", took, err)
}

func TestConfigErrors(t *testing.T) {
	_, err := jsclient.Connect(context.Background(), jsclient.Config{
		Config: natsclient.Config{
			URLs:       []string{"http://u:s3cret@x", "a,b"},
			User:       "u",
			Token:      "t",
			MinBackoff: time.Second, MaxBackoff: time.Millisecond,
		},
		Streams:  []jsclient.Stream{{Name: "a b"}, {Name: "S", Subjects: []string{"x"}, MaxAge: time.Minute, Duplicates: time.Hour}},
		Consumer: jsclient.ConsumerSettings{MaxDeliver: 2, AckBackoff: []time.Duration{time.Second, 2 * time.Second}},
	})
	if !errors.Is(err, natsclient.ErrInvalidConfig) {
		t.Fatalf("Connect = %v, want ErrInvalidConfig", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
	for _, want := range []string{`"http://x"`, `"a,b"`, "at most one", "MaxBackoff", `name "a b"`, "no subjects", "Duplicates", "MaxDeliver"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"NATS_URL":                   "nats://stan:4222",
		"NATS_JETSTREAM_URL":         "nats://js-1:4222, nats://js-2:4222",
		"NATS_CLIENT_ID":             "tickets-7f9c",
		"NATS_USER":                  "tickets",
		"NATS_PASSWORD":              "secret",
		"NATS_STREAM_REPLICAS":       "3",
		"NATS_STREAM_MAX_AGE":        "168h",
		"NATS_STREAM_DUPLICATES":     "10m",
		"NATS_STREAM_EXTRA_SUBJECTS": "audit:logged",
	}
	cfg, err := jsclient.FromEnv(func(k string) string { return env[k] }, appStream)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Streams[0]
	if strings.Join(cfg.URLs, " ") != "nats://js-1:4222 nats://js-2:4222" || cfg.Name != "tickets-7f9c" || cfg.User != "tickets" ||
		len(cfg.Streams) != 1 || s.Name != appStream.Name || s.Replicas != 3 || s.MaxAge != 168*time.Hour ||
		s.Duplicates != 10*time.Minute || strings.Join(s.Subjects, ",") != strings.Join(append(appStream.Subjects, "audit:logged"), ",") {
		t.Fatalf("FromEnv = %+v", cfg)
	}
	env["NATS_NAME"] = "tickets-js"
	if cfg, err = jsclient.FromEnv(func(k string) string { return env[k] }, appStream); err != nil || cfg.Name != "tickets-js" {
		t.Fatalf("FromEnv with NATS_NAME and NATS_CLIENT_ID: name %q, %v; want NATS_NAME's", cfg.Name, err)
	}
	// Neither set: a name per instance, as natsclient's client id.
	env = map[string]string{"NATS_URL": "nats://js:4222"}
	a, err := jsclient.FromEnv(func(k string) string { return env[k] }, appStream)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := jsclient.FromEnv(func(k string) string { return env[k] }, appStream)
	if !regexp.MustCompile(`^[a-zA-Z0-9_-]+-[0-9a-f]{8}$`).MatchString(a.Name) || a.Name == b.Name {
		t.Fatalf("FromEnv default names %q and %q, want natsclient.DefaultClientID()'s: host name and a random suffix", a.Name, b.Name)
	}
	env = map[string]string{"NATS_URL": "http://nats-srv:4222", "NATS_STREAM": "-"} // as the cluster's manifests say
	if cfg, err = jsclient.FromEnv(func(k string) string { return env[k] }, appStream); err != nil || len(cfg.Streams) != 0 || cfg.URLs[0] != "nats://nats-srv:4222" {
		t.Fatalf("FromEnv without provisioning = %+v, %v", cfg, err)
	}
	env = map[string]string{"NATS_STREAM_MAX_AGE": "a week"}
	if _, err = jsclient.FromEnv(func(k string) string { return env[k] }, appStream); !errors.Is(err, natsclient.ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "NATS_STREAM_MAX_AGE") || !strings.Contains(err.Error(), "NATS_URL") {
		t.Fatalf("FromEnv with bad values = %v", err)
	}
}

// deadLetterProbe is an event of a subject of the test's own, so that the
// garbage published to dead-letter it stays out of the shared TICKETS.
type deadLetterProbe struct{}

func (deadLetterProbe) Subject() events.Subject { return "jsclient-dead-letter-probe.order:created" }

// A service's dead letters, republished by the Listener under a prefix
// (events.DeadLetterSubject(prefix + "." + source), the tickets service's
// convention) or at the prefix itself, need a stream: DeadLetterStream(prefix)
// is one of its own, with a clean name, capturing both.
func TestDeadLetterStream(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	stream, _ := testStream(t, js)
	stream.Subjects = []string{string(deadLetterProbe{}.Subject())}
	prefix := testenv.UniqueName(t) + "-service:dead-letter"
	dlq := jsclient.DeadLetterStream(prefix)
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), dlq.Name) })
	if want := "DLQ_" + strings.ReplaceAll(prefix, ":", "_"); dlq.Name != want {
		t.Fatalf("stream name %q, want %q", dlq.Name, want)
	}
	c := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{stream, dlq}})

	source := deadLetterProbe{}.Subject()
	dead := make(chan events.DeadLetter, 1)
	l, err := events.Listen(ctxFor(t), c, testenv.UniqueName(t), func(context.Context, deadLetterProbe, events.Metadata) error { return nil },
		events.DeadLetterSubject(prefix+"."+string(source)),
		events.OnDeadLetter(func(_ context.Context, dl events.DeadLetter) error { dead <- dl; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctxFor(t))
	if err := c.Publish(ctxFor(t), events.Outgoing{Subject: string(source), Data: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dead: // the hook runs once the republish succeeded
	case <-time.After(wait):
		t.Fatal("the undecodable message was not dead-lettered: its republish failed?")
	}
	if n := streamMsgs(t, js, dlq.Name, prefix+"."+string(source)); n != 1 {
		t.Fatalf("%s holds %d dead letters, want 1", dlq.Name, n)
	}
	// A Listener with DeadLetterSubject(prefix) publishes at the prefix.
	if err := c.Publish(ctxFor(t), events.Outgoing{Subject: prefix, Data: []byte("not json")}); err != nil {
		t.Fatalf("publishing at the prefix: %v", err)
	}

	// The workaround for the old DeadLetterStream(subject), a wildcard
	// prefix, is refused before anything reaches the server.
	_, err = jsclient.Connect(ctxFor(t), jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{jsclient.DeadLetterStream(prefix + ".>")}})
	if !errors.Is(err, natsclient.ErrInvalidConfig) || !strings.Contains(err.Error(), "invalid subject") {
		t.Fatalf("DeadLetterStream(prefix.>): Connect = %v, want an invalid subject", err)
	}
}

func TestConsumerName(t *testing.T) {
	a := jsclient.ConsumerName("ticket:created", "orders-service")
	b := jsclient.ConsumerName("ticket:updated", "orders-service")
	c := jsclient.ConsumerName("ticket_created", "orders-service")
	if a == b || a == c || !strings.HasPrefix(a, "orders-service_ticket_created_") || strings.ContainsAny(a, ".:*> ") {
		t.Fatalf("names %q %q %q", a, b, c)
	}
	if a != jsclient.ConsumerName("ticket:created", "orders-service") {
		t.Fatal("ConsumerName is not deterministic")
	}
}

// Close: deliveries stop, the running callback and publishes awaiting acks
// are waited for, the durable survives with its position, and a second or
// concurrent Close is harmless.
func TestCloseIsGraceful(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	stream, prefix := testStream(t, js)
	subject := prefix + "ticket:created"
	connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{stream}})

	c, err := jsclient.Connect(ctxFor(t), jsclient.Config{Config: natsclient.Config{URLs: []string{url}}})
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	var handled atomic.Int32
	_, err = c.Subscribe(ctxFor(t), subject, events.SubscribeOptions{QueueGroup: "svc", Durable: "svc", DeliverAll: true, ManualAck: true, AckWait: 5 * time.Second, MaxInFlight: 10},
		func(m events.Message) {
			if handled.Add(1) == 1 {
				close(started)
				<-release
			}
			if err := m.Ack(); err != nil {
				t.Errorf("Ack: %v", err)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: encode(t, ticket(i))}); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	closed := make(chan error, 2)
	for range 2 {
		go func() { closed <- c.Close(ctxFor(t)) }()
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a callback was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	if c.Status() == natsclient.Closed {
		t.Fatal("Closed before the callback finished")
	}
	close(release)
	for range 2 {
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if handled.Load() != 1 {
		t.Fatalf("%d deliveries, want only the one running when Close began", handled.Load())
	}
	if c.Status() != natsclient.Closed {
		t.Fatalf("Status = %v after Close", c.Status())
	}
	if err := c.Publish(ctxFor(t), events.Outgoing{Subject: subject}); !errors.Is(err, natsclient.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	// The durable is still there, one message acknowledged, two to go.
	info, err := js.Consumer(ctxFor(t), stream.Name, jsclient.ConsumerName(subject, "svc"))
	if err != nil {
		t.Fatalf("the durable did not survive Close: %v", err)
	}
	if got := info.CachedInfo().AckFloor.Stream; got != 1 {
		t.Fatalf("durable's ack floor = %d, want 1", got)
	}

	// A new member resumes after the acknowledged message. The two pulled
	// ahead by the closed member come back after their ack wait, as they
	// would from NATS Streaming.
	again := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}})
	got := make(chan events.Metadata, 10)
	start := time.Now()
	sub, err := again.Subscribe(ctxFor(t), subject, events.SubscribeOptions{QueueGroup: "svc", Durable: "svc", DeliverAll: true, ManualAck: true, AckWait: 5 * time.Second, MaxInFlight: 10},
		func(m events.Message) { got <- m.Metadata(); _ = m.Ack() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctxFor(t))
	// Redeliveries carry no order: a message handed back while the first
	// member stopped can come after one that waited for its ack wait.
	var seqs []uint64
	for len(seqs) < 2 {
		select {
		case m := <-got:
			seqs = append(seqs, m.Sequence)
		case <-time.After(wait):
			t.Fatalf("the resumed durable got %v, want sequences 2 and 3", seqs)
		}
	}
	slices.Sort(seqs)
	if !slices.Equal(seqs, []uint64{2, 3}) {
		t.Fatalf("the resumed durable got %v, want sequences 2 and 3 (1 was acknowledged)", seqs)
	}
	t.Logf("resumed durable got the rest after %v (ack wait 5s)", time.Since(start))
}

// A consumer deleted behind the client's back (an operator, or a memory
// stream after a server restart) is created again, and messages flow.
func TestConsumerRecreated(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	stream, prefix := testStream(t, js)
	subject := prefix + "ticket:created"
	cfg := jsclient.Config{Config: natsclient.Config{URLs: []string{url}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, Streams: []jsclient.Stream{stream}}
	c := connect(t, cfg)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	got := make(chan struct{}, 100)
	sub, err := c.Subscribe(ctxFor(t), subject, events.SubscribeOptions{QueueGroup: "svc", Durable: "svc", DeliverAll: true, ManualAck: true, AckWait: 2 * time.Second, MaxInFlight: 10},
		func(m events.Message) {
			mu.Lock()
			seen[m.Metadata().Sequence] = true
			mu.Unlock()
			_ = m.Ack()
			got <- struct{}{}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctxFor(t))
	publish := func(n int) {
		if err := c.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: encode(t, ticket(n))}); err != nil {
			t.Fatal(err)
		}
	}
	publish(0)
	<-got
	if err := js.DeleteConsumer(ctxFor(t), stream.Name, jsclient.ConsumerName(subject, "svc")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Messages published meanwhile are delivered by the new consumer (it
	// starts at the first message: DeliverAll), message 1 at least.
	deadline := time.After(wait)
	for n := 1; ; n++ {
		publish(n)
		mu.Lock()
		ok := seen[2]
		mu.Unlock()
		if ok {
			break
		}
		select {
		case <-got:
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatal("no delivery after the consumer was deleted")
		}
	}
	t.Logf("consuming again %v after the consumer was deleted", time.Since(start))
	if _, err := js.Consumer(ctxFor(t), stream.Name, jsclient.ConsumerName(subject, "svc")); err != nil {
		t.Fatalf("consumer not created again: %v", err)
	}
}

// NakDelays (per client) and the ack wait (per subscription) don't mix: a
// nacked message comes back after its nak delay, be it shorter or longer
// than the ack wait, which brings back only what was neither acked nor
// nacked. With AckBackoff, the server adds the schedule's growth to a nak
// delay, as ConsumerSettings.NakDelays says.
func TestNakDelayAndAckWait(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	for _, c := range []struct {
		name     string
		consumer jsclient.ConsumerSettings
		ackWait  time.Duration
		nacks    int           // the first deliveries nacked
		want     time.Duration // from the last nacked delivery to the next
	}{
		{"nak delay under the ack wait", jsclient.ConsumerSettings{NakDelays: []time.Duration{200 * time.Millisecond}},
			20 * time.Second, 1, 200 * time.Millisecond},
		{"nak delay over the ack wait", jsclient.ConsumerSettings{NakDelays: []time.Duration{2 * time.Second}},
			time.Second, 1, 2 * time.Second},
		{"nak delay with AckBackoff", jsclient.ConsumerSettings{NakDelays: []time.Duration{500 * time.Millisecond}, AckBackoff: []time.Duration{time.Second, 3 * time.Second}},
			time.Second, 2, 500*time.Millisecond + 3*time.Second - time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			stream, prefix := testStream(t, js)
			subject := prefix + "ticket:created"
			cl := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{stream}, Consumer: c.consumer})
			deliveries := make(chan time.Time, 10)
			sub, err := cl.Subscribe(ctxFor(t), subject, events.SubscribeOptions{QueueGroup: "svc", Durable: "svc", ManualAck: true, AckWait: c.ackWait},
				func(m events.Message) {
					deliveries <- time.Now()
					if m.Metadata().DeliveryCount <= c.nacks {
						_ = m.Nack()
					} else {
						_ = m.Ack()
					}
				})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close(ctxFor(t))
			if err := cl.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: encode(t, ticket(0))}); err != nil {
				t.Fatal(err)
			}
			at := make([]time.Time, c.nacks+1)
			for i := range at {
				select {
				case at[i] = <-deliveries:
				case <-time.After(wait):
					t.Fatalf("delivery %d never came", i+1)
				}
			}
			gap := at[c.nacks].Sub(at[c.nacks-1])
			if gap < c.want-100*time.Millisecond || gap > c.want+3*time.Second {
				t.Fatalf("nacked (ack wait %v, %+v): back after %v, want about %v", c.ackWait, c.consumer, gap, c.want)
			}
			t.Logf("nacked (ack wait %v): back after %v, want about %v", c.ackWait, gap, c.want)
		})
	}
}
