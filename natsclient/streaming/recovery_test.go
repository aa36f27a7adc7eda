package streaming_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

// publisher publishes numbered messages until stopped, and remembers which
// ones Publish returned nil for: those must all be delivered.
type publisher struct {
	c       *streaming.Client
	subject string
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	mu      sync.Mutex
	acked   []string
	failed  int
	changed chan struct{}
}

func startPublisher(t *testing.T, c *streaming.Client, subject string) *publisher {
	p := &publisher{c: c, subject: subject, stop: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{})}
	go func() {
		defer close(p.done)
		// Paced, so that the store and the -race detector keep up; what
		// the test waits for are conditions, never this pace.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			payload := fmt.Sprintf("m%d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			err := c.Publish(ctx, events.Outgoing{Subject: subject, Data: []byte(payload)})
			cancel()
			if err != nil && !errors.Is(err, natsclient.ErrDisconnected) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Publish %s: %v, want nil, ErrDisconnected or a deadline", payload, err)
			}
			p.mu.Lock()
			if err == nil {
				p.acked = append(p.acked, payload)
			} else {
				p.failed++
			}
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *publisher) ackedSoFar() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acked...)
}

// awaitMore waits until n more messages than now have been acknowledged.
func (p *publisher) awaitMore(t *testing.T, n int) {
	t.Helper()
	p.mu.Lock()
	target := len(p.acked) + n
	p.mu.Unlock()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		got, changed := len(p.acked), p.changed
		p.mu.Unlock()
		if got >= target {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("publisher: %d acknowledged, want %d", got, target)
		}
	}
}

func (p *publisher) halt() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// TestRecovery restarts the server under a running publisher and a
// durable queue subscription, and checks that the client recovers with no
// help: every message whose Publish returned nil is delivered, and both
// publishing and receiving carry on.
//
// brief outages are survived by nats.go reconnecting under the same stan
// session; long ones outlast the pings, so stan gives the session up and
// the client makes a new one and subscribes again; a wiped server has
// forgotten the client, which the client learns from the server's answers.
func TestRecovery(t *testing.T) {
	tests := []struct {
		name string
		kill bool // SIGKILL rather than SIGTERM
		long bool // wait until stan gives the session up
		wipe bool // restart on an empty store
	}{
		{name: "SIGTERM"},
		{name: "SIGKILL", kill: true},
		{name: "SIGTERM long outage", long: true},
		{name: "SIGKILL long outage", kill: true, long: true},
		{name: "SIGKILL store lost", kill: true, wipe: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeaks(t)
			dir := t.TempDir()
			srv := testenv.StartStan(t, dir)
			logs := newLogs(t)
			st := newStates()
			cfg := config(t, srv.URL(), srv.ClusterID())
			cfg.Logger = logs.logger()
			cfg.OnStateChange = st.record
			cfg.AckTimeout = 5 * time.Second
			c := connect(t, cfg)

			subject := testenv.UniqueName(t)
			in := newInbox()
			if _, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{
				QueueGroup: "q", Durable: "q", DeliverAll: true, ManualAck: true, AckWait: time.Second, MaxInFlight: 64,
			}, in.deliver(t)); err != nil {
				t.Fatal(err)
			}
			// A plain subscription too: the server keeps it only while it
			// keeps the connection, so a new session makes it again at its
			// oldest unacknowledged message.
			plain := newInbox()
			if _, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{
				ManualAck: true, AckWait: time.Second, MaxInFlight: 64,
			}, plain.deliver(t)); err != nil {
				t.Fatal(err)
			}
			pub := startPublisher(t, c, subject)
			defer pub.halt() // on t.Fatal too, before the client is closed
			in.await(t, "a first few messages", func(got map[string]int) bool { return len(got) >= 20 })

			if tt.kill {
				srv.Kill()
			} else {
				srv.Stop()
			}
			st.await(t, c, natsclient.Reconnecting)
			if tt.long {
				logs.await("NATS Streaming connection lost")
			}
			if tt.wipe {
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
						t.Fatal(err)
					}
				}
			}
			// What was delivered before a wipe is all a wiped server could
			// ever deliver of what came before it.
			beforeWipe := len(pub.ackedSoFar())

			// During the outage, a publish fails when its context ends...
			short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := c.Publish(short, events.Outgoing{Subject: subject, Data: []byte("too late")})
			cancel()
			if !errors.Is(err, natsclient.ErrDisconnected) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Publish during the outage = %v, want ErrDisconnected wrapping deadline exceeded", err)
			}
			// ...and one with time to spare goes through once it is back.
			patient := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				patient <- c.Publish(ctx, events.Outgoing{Subject: subject, Data: []byte("patient")})
			}()

			restarting := time.Now()
			srv.Restart()
			ready := time.Now()
			st.await(t, c, natsclient.Connected)
			path := "same session"
			if len(logs.matching("NATS Streaming connection lost")) > 0 {
				path = "new session"
			}
			t.Logf("MEASURE %s: connected (%s) %v after the restart began, %v after the server was ready",
				tt.name, path, time.Since(restarting).Round(time.Millisecond), time.Since(ready).Round(time.Millisecond))
			select {
			case err := <-patient:
				if err != nil {
					t.Fatalf("Publish waiting through the outage: %v", err)
				}
			case <-time.After(timeout):
				t.Fatal("Publish waiting through the outage never returned")
			}

			pub.awaitMore(t, 50)
			pub.halt()
			want := append(pub.ackedSoFar(), "patient")
			if tt.wipe {
				want = want[beforeWipe:]
			}
			delivered := time.Now()
			in.await(t, "every acknowledged message", hasAll(want))
			t.Logf("MEASURE %s: %d acknowledged messages (%d publishes failed during the outage); all delivered %v after publishing stopped",
				tt.name, len(want), pub.failed, time.Since(delivered).Round(time.Millisecond))
			if m := missing(in, want); len(m) > 0 {
				t.Fatalf("%d acknowledged messages never delivered: %v", len(m), m)
			}
			plain.await(t, "every acknowledged message on the plain subscription", hasAll(want))
			if tt.long || tt.wipe {
				logs.await("NATS Streaming connection restored")
			}
		})
	}
}

// Subscribe, like Publish, waits for the connection within its context.
func TestSubscribeDuringOutage(t *testing.T) {
	noLeaks(t)
	srv := testenv.StartStan(t, t.TempDir())
	st := newStates()
	cfg := config(t, srv.URL(), srv.ClusterID())
	cfg.OnStateChange = st.record
	c := connect(t, cfg)
	subject := testenv.UniqueName(t)
	opts := events.SubscribeOptions{QueueGroup: "q", Durable: "q", DeliverAll: true, ManualAck: true, AckWait: time.Second}

	srv.Stop()
	st.await(t, c, natsclient.Reconnecting)
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Subscribe(short, subject, opts, func(events.Message) {}); !errors.Is(err, natsclient.ErrDisconnected) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe during the outage = %v, want ErrDisconnected wrapping deadline exceeded", err)
	}
	in := newInbox()
	subscribed := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(ctxFor(t, timeout), subject, opts, in.deliver(t))
		subscribed <- err
	}()
	srv.Restart()
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("Subscribe waiting through the outage: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Subscribe waiting through the outage never returned")
	}
	if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	in.await(t, "the message", hasAll([]string{"after"}))
}
