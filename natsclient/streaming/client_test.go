package streaming_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "user.creds")
	if err := os.WriteFile(creds, []byte("not checked here"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := natsclient.Config{ClusterID: "test-cluster", ClientID: "svc-1", URLs: []string{"nats://127.0.0.1:4222"}}
	tests := []struct {
		name   string
		change func(*natsclient.Config)
		want   string // in the error; "" for a valid config
	}{
		{"valid", func(*natsclient.Config) {}, ""},
		{"host:port without scheme", func(c *natsclient.Config) { c.URLs = []string{"127.0.0.1:4222"} }, ""},
		{"cluster of URLs", func(c *natsclient.Config) { c.URLs = []string{"nats://a:4222", "tls://b:4222"} }, ""},
		{"creds file", func(c *natsclient.Config) { c.CredsFile = creds }, ""},
		{"no cluster id", func(c *natsclient.Config) { c.ClusterID = "" }, "ClusterID is empty"},
		{"no client id", func(c *natsclient.Config) { c.ClientID = "" }, "ClientID is empty"},
		{"bad client id", func(c *natsclient.Config) { c.ClientID = "svc.1" }, `ClientID "svc.1"`},
		{"no URLs", func(c *natsclient.Config) { c.URLs = nil }, "URLs is empty"},
		{"empty URL", func(c *natsclient.Config) { c.URLs = []string{""} }, `URL "": empty`},
		{"comma list", func(c *natsclient.Config) { c.URLs = []string{"nats://a:1,nats://b:2"} }, "one URL per element"},
		{"bad scheme", func(c *natsclient.Config) { c.URLs = []string{"http://a:4222"} }, `scheme "http"`},
		{"password alone", func(c *natsclient.Config) { c.Password = "secret" }, "Password is set without User"},
		{"two auth methods", func(c *natsclient.Config) { c.User, c.Token = "u", "t" }, "at most one of"},
		{"missing creds file", func(c *natsclient.Config) { c.CredsFile = filepath.Join(dir, "nope") }, "CredsFile"},
		{"missing seed file", func(c *natsclient.Config) { c.NKeySeedFile = filepath.Join(dir, "nope") }, "NKeySeedFile"},
		{"negative timeout", func(c *natsclient.Config) { c.ConnectTimeout = -time.Second }, "ConnectTimeout is negative"},
		{"backoff upside down", func(c *natsclient.Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "MaxBackoff"},
		{"ping max out 1", func(c *natsclient.Config) { c.PingMaxOut = 1 }, "PingMaxOut 1"},
		{"negative in flight", func(c *natsclient.Config) { c.MaxPubAcksInFlight = -1 }, "MaxPubAcksInFlight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			// An already-cancelled context: a valid config gets as far as
			// the context check, an invalid one fails before.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			c, err := streaming.Connect(ctx, cfg)
			if c != nil {
				t.Fatal("Connect returned a client with a cancelled context")
			}
			if tt.want == "" {
				if errors.Is(err, natsclient.ErrInvalidConfig) || !errors.Is(err, context.Canceled) {
					t.Fatalf("Connect = %v, want only the context's error", err)
				}
				return
			}
			if !errors.Is(err, natsclient.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Connect = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("all problems at once", func(t *testing.T) {
		_, err := streaming.Connect(context.Background(), natsclient.Config{})
		for _, want := range []string{"ClusterID", "ClientID", "URLs"} {
			if !strings.Contains(fmt.Sprint(err), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
	})
}

// A server that isn't there makes Connect retry until its context ends,
// then fail with the context's error and the last cause.
func TestConnectUnreachable(t *testing.T) {
	noLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	logs := newLogs(t)
	cfg := config(t, "nats://ticketkit:s3cret@"+addr, "test-cluster")
	cfg.Logger = logs.logger()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c, err := streaming.Connect(ctx, cfg)
		if c != nil {
			c.Close(context.Background())
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(timeout):
		t.Fatal("Connect to an unreachable server did not return after its context ended")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, nats.ErrNoServers) {
		t.Fatalf("Connect = %v, want deadline exceeded wrapping nats.ErrNoServers", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not say where it tried", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
	for _, r := range logs.all() {
		if r.Level >= slog.LevelError {
			t.Errorf("logged at %v: %s", r.Level, r.Message)
		}
	}
}

// A NATS server without that streaming cluster: same, with stan's cause.
func TestConnectWrongCluster(t *testing.T) {
	noLeaks(t)
	url, _ := testenv.NATS(t)
	ctx := ctxFor(t, time.Second)
	_, err := streaming.Connect(ctx, config(t, url, "no-such-cluster"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, stan.ErrConnectReqTimeout) {
		t.Fatalf("Connect = %v, want deadline exceeded wrapping stan.ErrConnectReqTimeout", err)
	}
}

func TestPublishSubscribe(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	st := newStates()
	cfg := config(t, url, cluster)
	cfg.OnStateChange = st.record
	c := connect(t, cfg)
	if got := st.list(); len(got) != 1 || got[0] != natsclient.Connected || c.Status() != natsclient.Connected {
		t.Fatalf("after Connect: states %v, status %v; want [connected]", got, c.Status())
	}
	subject := testenv.UniqueName(t)

	// Not acknowledged on its first delivery, so it comes back.
	type delivery struct {
		data string
		meta events.Metadata
	}
	got := make(chan delivery, 10)
	sub, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{
		QueueGroup: "q", Durable: "d", DeliverAll: true, ManualAck: true, AckWait: time.Second, MaxInFlight: 10,
	}, func(m events.Message) {
		got <- delivery{string(m.Data()), m.Metadata()}
		if m.Metadata().Redelivered {
			if err := m.Ack(); err != nil {
				t.Errorf("Ack: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	before := time.Now().Add(-time.Minute) // the server's clock may differ a little
	if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte("hello")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	var first, second delivery
	for i, d := range []*delivery{&first, &second} {
		select {
		case *d = <-got:
		case <-time.After(timeout):
			t.Fatalf("delivery %d never came", i+1)
		}
	}
	want := events.Metadata{Subject: subject, Sequence: 1, DeliveryCount: 1}
	if m := first.meta; first.data != "hello" || m.Subject != want.Subject || m.Sequence != 1 || m.Redelivered || m.DeliveryCount != 1 || m.Timestamp.Before(before) {
		t.Fatalf("first delivery %q %+v, want hello %+v with a timestamp", first.data, m, want)
	}
	if m := second.meta; second.data != "hello" || m.Sequence != 1 || !m.Redelivered || m.DeliveryCount != 2 || !m.Timestamp.Equal(first.meta.Timestamp) {
		t.Fatalf("second delivery %q %+v, want the same message redelivered, count 2", second.data, m)
	}
	if err := sub.Close(ctxFor(t, timeout)); err != nil {
		t.Fatalf("Subscription.Close: %v", err)
	}
	if err := sub.Close(ctxFor(t, timeout)); err != nil {
		t.Fatalf("second Subscription.Close: %v", err)
	}
}

func TestPublishErrors(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	c := connect(t, config(t, url, cluster))
	for _, subject := range []string{"", "a.*", "a.>", "a..b", ".a", "a.", "a/b", "a b"} {
		if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject}); !errors.Is(err, natsclient.ErrInvalidSubject) {
			t.Errorf("Publish to %q = %v, want ErrInvalidSubject", subject, err)
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Publish(cancelled, events.Outgoing{Subject: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context = %v, want context.Canceled", err)
	}
	errs := c.PublishBatch(ctxFor(t, timeout), []events.Outgoing{{Subject: "ok." + testenv.UniqueName(t)}, {Subject: "bad.*"}})
	if errs[0] != nil || !errors.Is(errs[1], natsclient.ErrInvalidSubject) {
		t.Errorf("PublishBatch = %v, want [nil, ErrInvalidSubject]", errs)
	}
	if _, err := c.Subscribe(ctxFor(t, timeout), "a.*", events.SubscribeOptions{}, func(events.Message) {}); !errors.Is(err, natsclient.ErrInvalidSubject) {
		t.Errorf("Subscribe to a wildcard = %v, want ErrInvalidSubject", err)
	}
}

func TestPublishBatch(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	cfg := config(t, url, cluster)
	cfg.MaxPubAcksInFlight = 64 // fewer than the batch, so the bound is exercised
	c := connect(t, cfg)
	subject := testenv.UniqueName(t)
	const n = 2000
	msgs := make([]events.Outgoing, n)
	want := make([]string, n)
	for i := range msgs {
		want[i] = fmt.Sprint(i)
		msgs[i] = events.Outgoing{Subject: subject, Data: []byte(want[i])}
	}
	for i, err := range c.PublishBatch(ctxFor(t, timeout), msgs) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	in := newInbox()
	var mu sync.Mutex
	var order []string
	sub, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{DeliverAll: true, MaxInFlight: 256},
		func(m events.Message) {
			mu.Lock()
			order = append(order, string(m.Data()))
			mu.Unlock()
			in.add(m)
		})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctxFor(t, timeout))
	in.await(t, "the whole batch", hasAll(want))
	mu.Lock()
	defer mu.Unlock()
	for i, p := range order[:n] {
		if p != want[i] {
			t.Fatalf("message %d is %s: the batch was not stored in order", i, p)
		}
	}
}

// The server refuses a second live connection with the same client id
// ("client ID already registered"). Connect retries it, without logging
// errors, until the first connection is gone, here killed abruptly: its
// NATS connection closed without stan's close protocol, as in a crash,
// so the server still holds its registration.
func TestClientIDAlreadyRegistered(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	cfg := config(t, url, cluster)
	first, err := stan.Connect(cluster, cfg.ClientID, stan.NatsURL(url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })

	t.Run("gives up when the context ends", func(t *testing.T) {
		_, err := streaming.Connect(ctxFor(t, time.Second), cfg)
		if !errors.Is(err, streaming.ErrClientIDRegistered) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Connect = %v, want ErrClientIDRegistered and deadline exceeded", err)
		}
	})

	t.Run("gets in once the old connection is gone", func(t *testing.T) {
		logs := newLogs(t)
		cfg.Logger = logs.logger()
		type result struct {
			c   *streaming.Client
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, err := streaming.Connect(ctxFor(t, timeout), cfg)
			done <- result{c, err}
		}()
		logs.await("client ID still registered")
		first.NatsConn().Close() // a crash: no goodbye to the server

		var r result
		select {
		case r = <-done:
		case <-time.After(timeout):
			t.Fatal("Connect did not return")
		}
		if r.err != nil {
			t.Fatalf("Connect after the old connection died: %v", r.err)
		}
		defer r.c.Close(ctxFor(t, timeout))
		if err := r.c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: testenv.UniqueName(t), Data: []byte("in")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		registered := 0
		for _, rec := range logs.all() {
			if rec.Level >= slog.LevelError {
				t.Errorf("logged at %v: %s", rec.Level, rec.Message)
			}
			if strings.Contains(rec.Message, "client ID still registered") {
				registered++
			}
		}
		if registered == 0 {
			t.Error("the retries were not logged as a registered client ID")
		}
	})
}
