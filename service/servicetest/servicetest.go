// Package servicetest runs a service built on package service for the
// service's own tests, as its peers see it: several instances sharing one
// database and one broker, in memory (Memory) or on the real servers
// testenv finds (Servers); a peer that publishes events and awaits what
// the instances publish and how their listeners dealt with each message;
// and the cluster's session cookies and tokens.
//
//	c := servicetest.Memory(t)
//	a := c.Start("orders-service", build)
//	b := c.Start("orders-service", build) // a second instance, same database
//	c.Publish(wire.TicketCreated{...})
//	c.AwaitHandled(wire.SubjectTicketCreated, events.Acked, 1)
//	r := a.Send("POST", "/api/orders", `{"ticketId":"..."}`, c.User())
//	e := servicetest.Await(c, func(e wire.OrderCreated) bool { return e.ID == id })
//
// Everything a test starts is stopped when it ends, and every wait is
// bounded by Wait. It is for tests only; no library package imports it.
package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// Wait bounds every wait of this package: a start, a request, an event.
const Wait = 15 * time.Second

// Key is the JWT key every instance of a Cluster checks tokens with.
const Key = "servicetest-jwt-key"

// Cluster is what the instances of a test share: one broker, and one
// database per service (instances of one service share its database,
// and each service has its own, as in the cluster), and the peer's own
// connection to the broker.
type Cluster struct {
	t         testing.TB
	transport string // "" in memory, else service.TransportStan or TransportJetStream

	broker *memtransport.Broker // in memory
	env    map[string]string    // on the servers: what FromEnv reads, less MONGO_URI and the client id
	// suffix makes the queue groups (and durables) of this cluster's
	// services its own on the shared servers, so that tests running at
	// once don't take each other's messages.
	suffix string

	peer    events.Transport
	handled *eventstest.Handled
	users   atomic.Int64

	mu        sync.Mutex
	recorders []*eventstest.Recorder  // one per instance: what it published
	memDBs    map[string]*memstore.DB // in memory, by service
	mongoURIs map[string]string       // on the servers, by service
	mongoDBs  map[string]*mongo.Database
}

// database returns service name's database, in memory or its MONGO_URI.
func (c *Cluster) database(name string) (*memstore.DB, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.env == nil {
		if c.memDBs[name] == nil {
			c.memDBs[name] = memstore.NewDB()
		}
		return c.memDBs[name], ""
	}
	if c.mongoURIs[name] == "" {
		db := testenv.Mongo(c.t)
		c.mongoDBs[name], c.mongoURIs[name] = db, testenv.DatabaseURI(c.t, db)
	}
	return nil, c.mongoURIs[name]
}

// AwaitStored waits until service's database holds document id in
// collection (a store's or a replica's name): that an event reached it,
// say. On the servers a fresh cluster's listeners first replay what
// other tests left on the broker, so counting handled events proves
// less than this.
func (c *Cluster) AwaitStored(service, collection, id string) {
	c.t.Helper()
	mem, _ := c.database(service)
	c.mu.Lock()
	db := c.mongoDBs[service]
	c.mu.Unlock()
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil && mem == nil {
		c.t.Fatalf("servicetest: AwaitStored: %q is no id", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	for {
		if mem != nil && mem.Has(collection, id) {
			return
		}
		if db != nil {
			if n, err := db.Collection(collection).CountDocuments(ctx, bson.D{{Key: "_id", Value: oid}}); err == nil && n > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("servicetest: %s's %s never held %s within %v", service, collection, id, Wait)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Memory returns a cluster in this process: one memstore.DB and one
// in-memory broker, which every instance started on it shares.
func Memory(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t, broker: memtransport.NewBroker(), handled: eventstest.NewHandled(), memDBs: map[string]*memstore.DB{}}
	c.peer = c.broker.Connect()
	c.closeOnCleanup(c.peer)
	return c
}

// Servers returns a cluster on the servers testenv finds (MONGO_URI, and
// NATS_URL or NATS_JETSTREAM_URL): a database of the test's own for each
// service, queue groups (and so durables) of the cluster's own, named
// after the service's, so that tests running at once on the same
// servers don't take each other's messages, and NATS Streaming or
// JetStream as transport says (service.TransportStan or
// service.TransportJetStream). Without the servers the test is skipped,
// or fails under CI, as testenv does.
func Servers(t testing.TB, transport string) *Cluster {
	t.Helper()
	testenv.MongoURI(t) // skipped (or failed) here without the database
	c := &Cluster{t: t, transport: transport, handled: eventstest.NewHandled(), mongoURIs: map[string]string{}, mongoDBs: map[string]*mongo.Database{}, suffix: testenv.UniqueName(t)}
	c.env = map[string]string{
		"NATS_TRANSPORT": transport,
		"JWT_KEY":        Key,
		"PORT":           "0",
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	switch transport {
	case service.TransportStan:
		url, clusterID := testenv.NATS(t)
		c.env["NATS_URL"], c.env["NATS_CLUSTER_ID"] = url, clusterID
		tr, err := streaming.Connect(ctx, natsclient.Config{URLs: []string{url}, ClusterID: clusterID, ClientID: testenv.UniqueName(t)})
		if err != nil {
			t.Fatalf("servicetest: the peer's connection: %v", err)
		}
		c.peer = tr
	case service.TransportJetStream:
		c.env["NATS_JETSTREAM_URL"] = testenv.JetStreamURL(t)
		cfg, err := jsclient.FromEnv(c.getenv(), jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Name = testenv.UniqueName(t)
		tr, err := jsclient.Connect(ctx, cfg)
		if err != nil {
			t.Fatalf("servicetest: the peer's connection: %v", err)
		}
		c.peer = tr
	default:
		t.Fatalf("servicetest: transport %q is neither %q nor %q", transport, service.TransportStan, service.TransportJetStream)
	}
	c.closeOnCleanup(c.peer)
	return c
}

func (c *Cluster) closeOnCleanup(tr events.Transport) {
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if err := tr.Close(ctx); err != nil {
			c.t.Errorf("servicetest: close the peer's connection: %v", err)
		}
	})
}

// Env returns the environment the instances of service name read on the
// real servers (nil in memory), for a test that starts a service's binary
// itself: its MONGO_URI, the broker's variables, JWT_KEY and PORT=0.
func (c *Cluster) Env(name string) map[string]string {
	if c.env == nil {
		return nil
	}
	out := make(map[string]string, len(c.env)+1)
	for k, v := range c.env {
		out[k] = v
	}
	_, out["MONGO_URI"] = c.database(name)
	return out
}

func (c *Cluster) getenv() func(string) string {
	return func(k string) string { return c.env[k] }
}

// Option configures one instance (Start).
type Option func(*start) error

type start struct {
	configure []func(*service.Config)
	opts      []service.Option
	logs      []io.Writer
}

// LogTo copies the instance's log (JSON lines, at Debug) to w as well, for
// a test that reads it as it goes; w must be safe for concurrent writes.
func LogTo(w io.Writer) Option {
	return func(s *start) error {
		if w == nil {
			return fmt.Errorf("servicetest: LogTo(nil)")
		}
		s.logs = append(s.logs, w)
		return nil
	}
}

// Configure edits an instance's configuration before it starts: a
// shorter ack wait, a request limit.
func Configure(edit func(*service.Config)) Option {
	return func(s *start) error {
		if edit == nil {
			return fmt.Errorf("servicetest: Configure(nil)")
		}
		s.configure = append(s.configure, edit)
		return nil
	}
}

// DatabaseProxy connects the instance to its database (on the servers)
// through a new testenv.Proxy, which *p is set to: for tests of what the
// service answers when the database loses an answer, or a write.
func DatabaseProxy(t testing.TB, p **testenv.Proxy) Option {
	return Configure(func(cfg *service.Config) {
		u, err := url.Parse(cfg.MongoURI)
		if err != nil || u.Host == "" {
			t.Fatalf("servicetest: DatabaseProxy: MONGO_URI %q: %v", cfg.MongoURI, err)
		}
		*p = testenv.StartProxy(t, u.Host)
		u.Host = (*p).Addr()
		cfg.MongoURI = u.String()
	})
}

// With passes options to service.Start (the cluster adds its own hooks,
// which a service.WithHooks here replaces).
func With(opts ...service.Option) Option {
	return func(s *start) error { s.opts = append(s.opts, opts...); return nil }
}

// Instance is one running instance of a service, serving HTTP at URL.
type Instance struct {
	*service.Service
	URL string

	c    *Cluster
	srv  *httptest.Server
	logs *buffer
	stop sync.Once
}

// Start starts an instance of service name on the cluster: the
// configuration service.FromEnv reads (in memory: service.Defaults) with
// Key, the shortest ack wait NATS Streaming allows (1s) so redeliveries
// come quickly, and an instance name of its own; build adds the service's
// stores, listeners and routes, as in its main. It is stopped when the
// test ends, and its log is printed if the test failed.
func (c *Cluster) Start(name string, build service.Build, opts ...Option) *Instance {
	c.t.Helper()
	var st start
	for _, o := range opts {
		if err := o(&st); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	in := &Instance{c: c, logs: &buffer{}}
	log := slog.New(service.TraceHandler(slog.NewJSONHandler(io.MultiWriter(append([]io.Writer{in.logs}, st.logs...)...), &slog.HandlerOptions{Level: slog.LevelDebug})))

	var cfg service.Config
	var b *service.Backends
	if c.env == nil {
		cfg = service.Defaults(name)
		cfg.JWTKey, cfg.DevJWTKey = []byte(Key), false
	} else {
		env := c.Env(name)
		env["NATS_CLIENT_ID"] = testenv.UniqueName(c.t)
		var err error
		if cfg, err = service.FromEnv(name, func(k string) string { return env[k] }); err != nil {
			c.t.Fatal(err)
		}
	}
	cfg.AckWait = time.Second
	cfg.StartupTimeout, cfg.ShutdownTimeout = Wait, Wait
	if c.suffix != "" {
		cfg.QueueGroup = cfg.QueueGroup + "-" + c.suffix
	}
	for _, edit := range st.configure {
		edit(&cfg)
	}
	var rec *eventstest.Recorder
	if c.env == nil {
		rec = eventstest.NewRecorder(c.broker.Connect())
		db, _ := c.database(name)
		b = service.Memory(db, rec)
	} else {
		var err error
		if b, err = service.Open(ctx, cfg, log); err != nil {
			c.t.Fatalf("servicetest: open the backends of %s: %v\n%s", name, err, in.logs)
		}
		rec = eventstest.NewRecorder(b.Transport)
		b.Transport = rec
	}
	c.mu.Lock()
	c.recorders = append(c.recorders, rec)
	c.mu.Unlock()

	s, err := service.Start(ctx, cfg, log, b, append([]service.Option{service.WithHooks(c.handled.Hooks())}, st.opts...)...)
	if err != nil {
		c.t.Fatalf("servicetest: start %s: %v", name, err)
	}
	in.Service = s
	c.t.Cleanup(func() {
		in.Stop()
		if c.t.Failed() {
			c.t.Logf("log of %s at %s:\n%s", name, in.URL, in.logs)
		}
	})
	api, err := build(ctx, s)
	if err != nil {
		c.t.Fatalf("servicetest: build %s: %v\n%s", name, err, in.logs)
	}
	in.srv = httptest.NewServer(s.Handler(api))
	in.URL = in.srv.URL
	return in
}

// Stop stops the instance as a SIGTERM would: HTTP first, then the
// listeners, the outbox and the backends. Later calls do nothing.
func (in *Instance) Stop() {
	in.stop.Do(func() {
		if in.srv != nil {
			in.srv.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if err := in.Shutdown(ctx); err != nil {
			in.c.t.Errorf("servicetest: shutdown: %v", err)
		}
	})
}

// Logs returns what the instance has logged so far (JSON lines).
func (in *Instance) Logs() string { return in.logs.String() }

// Response is an answer of an instance.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing t if it isn't JSON of v's shape.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("status %d, body %s: %v", r.Status, r.Body, err)
	}
}

// Errors returns the problems of the cluster's error body
// ({"errors":[...]}), failing t if the body is not one.
func (r Response) Errors(t testing.TB) []httpapi.Problem {
	t.Helper()
	var b struct{ Errors []httpapi.Problem }
	if err := json.Unmarshal(r.Body, &b); err != nil || len(b.Errors) == 0 {
		t.Fatalf("status %d, body %s: not an error body (%v)", r.Status, r.Body, err)
	}
	return b.Errors
}

// Send makes a request to the instance with nobody signed in, with body
// as JSON when it is not empty. A request that gets no answer fails the
// test.
func (in *Instance) Send(method, path, body string) Response {
	in.c.t.Helper()
	return in.SendAs(session.User{}, method, path, body)
}

// SendAs is Send with user signed in, by the cluster's cookie session,
// and headers: name, value pairs (an Idempotency-Key, say).
func (in *Instance) SendAs(user session.User, method, path, body string, headers ...string) Response {
	in.c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, in.URL+path, r)
	if err != nil {
		in.c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user.ID != "" {
		req.Header.Set("Cookie", in.c.Cookie(user))
	}
	if len(headers)%2 != 0 {
		in.c.t.Fatalf("servicetest: SendAs: headers %q are not name, value pairs", headers)
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		in.c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		in.c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// User returns a new user: a fresh id and an email of its own.
func (c *Cluster) User() session.User {
	return session.User{ID: ticketkit.NewID(), Email: fmt.Sprintf("user%d@example.com", c.users.Add(1))}
}

// Token returns a token for u signed with Key, as the auth service issues
// one.
func (c *Cluster) Token(u session.User) string {
	c.t.Helper()
	tk, err := session.Mint([]byte(Key), u, time.Now(), 0)
	if err != nil {
		c.t.Fatal(err)
	}
	return tk
}

// Cookie returns the value of a Cookie header carrying u's session, as a
// browser sends it.
func (c *Cluster) Cookie(u session.User) string { return session.CookieHeader(c.Token(u)) }

// Publish publishes e as a peer service would.
func (c *Cluster) Publish(e events.Event) {
	c.t.Helper()
	data, err := events.Encode(e)
	if err != nil {
		c.t.Fatal(err)
	}
	c.PublishRaw(e.Subject(), data)
}

// PublishRaw publishes data on subject as it is: poison, a Node peer's
// exact bytes.
func (c *Cluster) PublishRaw(subject events.Subject, data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := c.peer.Publish(ctx, events.Outgoing{Subject: string(subject), Data: data}); err != nil {
		c.t.Fatalf("servicetest: publish on %s: %v", subject, err)
	}
}

// Transport is the peer's own connection to the cluster's broker, for a
// test that publishes through a typed events.Publisher (in a trace, with
// headers) or listens as another service would.
func (c *Cluster) Transport() events.Transport { return c.peer }

// Messages returns every message the instances published, instance by
// instance, each in publish order: dead letters too.
func (c *Cluster) Messages() []events.Outgoing {
	var out []events.Outgoing
	for _, r := range c.recordersNow() {
		out = append(out, r.Messages()...)
	}
	return out
}

// Handled records how the instances' listeners dealt with each delivery.
func (c *Cluster) Handled() *eventstest.Handled { return c.handled }

// AwaitHandled waits until the instances' listeners, together, ended at
// least n deliveries on subject with outcome.
func (c *Cluster) AwaitHandled(subject events.Subject, outcome events.Outcome, n int) {
	c.t.Helper()
	c.handled.Await(c.t, subject, outcome, n)
}

// Published returns the events of type E that the instances published,
// instance by instance, each in publish order.
func Published[E events.Event](c *Cluster) []E {
	c.t.Helper()
	var out []E
	for _, r := range c.recordersNow() {
		out = append(out, eventstest.Published[E](c.t, r)...)
	}
	return out
}

// Await waits until an instance has published an event of type E that
// match accepts, and returns it.
func Await[E events.Event](c *Cluster, match func(E) bool) E {
	c.t.Helper()
	deadline := time.NewTimer(Wait)
	defer deadline.Stop()
	for {
		// Take the signals before looking, so nothing recorded in between
		// is missed.
		recs := c.recordersNow()
		changed := make([]<-chan struct{}, len(recs))
		for i, r := range recs {
			changed[i] = r.Changed()
		}
		for _, r := range recs {
			for _, e := range eventstest.Published[E](c.t, r) {
				if match(e) {
					return e
				}
			}
		}
		if !waitAny(changed, deadline.C) {
			var zero E
			c.t.Fatalf("servicetest: no %s matching within %v", zero.Subject(), Wait)
			return zero
		}
	}
}

// waitAny waits until one of chans is closed (true) or timeout fires.
func waitAny(chans []<-chan struct{}, timeout <-chan time.Time) bool {
	any := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range chans {
		go func() {
			select {
			case <-ch:
				select {
				case any <- struct{}{}:
				case <-stop:
				}
			case <-stop:
			}
		}()
	}
	select {
	case <-any:
		return true
	case <-timeout:
		return false
	}
}

func (c *Cluster) recordersNow() []*eventstest.Recorder {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*eventstest.Recorder(nil), c.recorders...)
}

// buffer is a log destination safe for concurrent writes.
type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
