package jsclient_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/testenv"
)

// syncLog is a logger's destination that a test reads.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// An existing stream keeps what is stronger of its settings and the
// configured ones, says so at Warn, and Exact sets the configured ones.
func TestProvisionNeverWeakensAStream(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	name := "KEEP_" + strings.ToUpper(testenv.UniqueName(t)[len(testenv.UniqueName(t))-8:])
	subject := strings.ToLower(name) + ".events"
	extra := strings.ToLower(name) + ".operators"
	ctx := ctxFor(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{subject, extra}, MaxAge: 48 * time.Hour, MaxMsgs: 1000,
		Duplicates: 5 * time.Minute, MaxMsgSize: 4096,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })

	var log syncLog
	cfg := fast(url)
	cfg.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	cfg.Streams = []jsclient.Stream{{Name: name, Subjects: []string{subject}, MaxAge: 24 * time.Hour, Duplicates: time.Minute}}
	connect(t, cfg)
	info := streamInfo(t, js, name)
	if c := info.Config; c.MaxAge != 48*time.Hour || c.MaxMsgs != 1000 || c.Duplicates != 5*time.Minute || c.MaxMsgSize != 4096 ||
		!slices.Contains(c.Subjects, extra) || !slices.Contains(c.Subjects, subject) {
		t.Fatalf("after provisioning: %+v, want the operator's stronger settings kept", c)
	}
	if l := log.String(); !strings.Contains(l, `"level":"WARN"`) || !strings.Contains(l, `"max_age":172800000000000`) || !strings.Contains(l, "subjects_kept") {
		t.Errorf("no Warn naming what was kept:\n%s", l)
	}

	cfg.Streams[0].Exact = true
	connect(t, cfg)
	if c := streamInfo(t, js, name).Config; c.MaxAge != 24*time.Hour || c.MaxMsgs != -1 || slices.Contains(c.Subjects, extra) {
		t.Fatalf("with Exact: %+v, want the configured settings", c)
	}
}

func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(ctxFor(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// On a three-node cluster, with the only node of an R1 dead-letter stream
// killed: a new client starts without waiting for that stream and
// publishes (its own stream is R3), dead letters wait on the broker while their stream has no leader,
// and once the node is back the stream is raised to the configured three
// replicas and every dead letter arrives in it, once. No stream loses a
// replica. A client listing every node also starts with the first one down.
func TestDeadLettersSurviveTheirNodeDown(t *testing.T) {
	nodes := testenv.StartJetStreamCluster(t, t.TempDir(), 3)
	urls := []string{nodes[0].URL(), nodes[1].URL(), nodes[2].URL()}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const app, dead = "app", "app-dead"
	dlq := jsclient.DeadLetterStream(dead)
	dlq.Replicas = 3
	ctx := ctxFor(t)
	// An operator (or an older version) made the dead-letter stream R1.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: dlq.Name, Subjects: dlq.Subjects, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	holder := streamInfo(t, js, dlq.Name).Cluster.Leader
	down := slices.IndexFunc(nodes, func(p *testenv.Process) bool {
		return strings.HasSuffix(holder, fmt.Sprintf("-n%d", slices.Index(nodes, p)))
	})
	if down < 0 {
		t.Fatalf("no node is %q", holder)
	}
	nodes[down].Kill()

	// The down node listed first: the client finds the others.
	order := append([]string{urls[down]}, slices.Delete(slices.Clone(urls), down, down+1)...)
	cfg := fast(order...)
	cfg.PublishWait = time.Second // each republish that can't land fails soon
	var log syncLog
	cfg.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	cfg.Streams = []jsclient.Stream{{Name: "APP", Subjects: []string{app}, Replicas: 3}, dlq}
	// Connect returns although the dead-letter stream can't be
	// provisioned until its node is back (which is after Connect): it
	// would otherwise fail when its context ends.
	started := time.Now()
	c := connect(t, cfg)
	t.Logf("connected in %v with the dead-letter stream's node down", time.Since(started).Round(time.Millisecond))

	handled := eventstest.NewHandled()
	l, err := events.Listen(ctx, c, "g", func(context.Context, appEvent, events.Metadata) error { return nil },
		events.DeliverAll(), events.AckWait(time.Second), events.DeadLetterSubject(dead), events.WithHooks(handled.Hooks()),
		events.WithLogger(cfg.Logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(ctxFor(t)) })
	const poison = 2
	for i := range poison {
		if err := c.Publish(ctx, events.Outgoing{Subject: app, Data: []byte(fmt.Sprintf("poison %d", i))}); err != nil {
			t.Fatalf("publish to the service's own stream with a node down: %v", err)
		}
	}
	// Each poison message fails its republish more often than a
	// Listener gives up on a failure that is not the broker being
	// unavailable (5 times).
	for n := poison; n <= 6*poison; n += poison { // each step within Handled's bound
		handled.Await(t, events.Subject(app), events.Failed, n)
	}
	if n := handled.Count(events.Subject(app), events.DeadLettered); n != 0 {
		t.Fatalf("%d dead-lettered while their stream has no leader", n)
	}
	if !strings.Contains(log.String(), "no leader") {
		t.Errorf("no log line names the cause (no leader):\n%s", log.String())
	}

	nodes[down].Restart()
	handled.Await(t, events.Subject(app), events.DeadLettered, poison)
	deadline := time.Now().Add(wait)
	for {
		info := streamInfo(t, js, dlq.Name)
		if info.State.Msgs == poison && info.Config.Replicas == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead-letter stream: %d messages at %d replicas, want %d at 3", info.State.Msgs, info.Config.Replicas, poison)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := streamInfo(t, js, "APP").Config.Replicas; r != 3 {
		t.Errorf("the service's stream has %d replicas, want 3", r)
	}
}

// appEvent is the event on the test's subject "app"; poison (not JSON)
// never decodes into it.
type appEvent struct {
	ID string `json:"id"`
}

func (appEvent) Subject() events.Subject { return "app" }
