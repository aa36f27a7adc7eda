package jsclient_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/testenv"
)

// The cases, and what is asserted of them, are testenv's: the same for
// every transport. (TestMain checks for leaked goroutines.)
func TestAuth(t *testing.T) { testenv.RunAuth(t, authTransport) }
func TestTLS(t *testing.T)  { testenv.RunTLS(t, authTransport) }

// authTransport runs the cases on a JetStream server each.
var authTransport = testenv.AuthTransport{
	Start: func(t *testing.T, opts testenv.ServerOptions) *testenv.Process {
		return testenv.StartJetStreamWith(t, t.TempDir(), opts)
	},
	Connect: func(ctx context.Context, _ *testing.T, srv *testenv.Process, creds testenv.Credentials, log *slog.Logger) error {
		cfg := authConfig(srv, creds)
		cfg.Logger = log
		c, err := jsclient.Connect(ctx, cfg)
		if err == nil {
			c.Close(context.Background())
		}
		return err
	},
	RoundTrip: func(t *testing.T, srv *testenv.Process, creds testenv.Credentials) {
		authRoundTrip(t, authConfig(srv, creds))
	},
}

// authConfig is a test Config for srv presenting creds.
func authConfig(srv *testenv.Process, creds testenv.Credentials) jsclient.Config {
	cfg := fast(creds.URL(srv.URL()))
	cfg.User, cfg.Password, cfg.Token = creds.User, creds.Password, creds.Token
	cfg.NKeySeedFile, cfg.CredsFile, cfg.TLS = creds.NKeySeedFile, creds.CredsFile, creds.TLS
	return cfg
}

// authRoundTrip connects with cfg, provisioning a stream of the test's own,
// publishes a message and waits for a subscription to get it.
func authRoundTrip(t *testing.T, cfg jsclient.Config) {
	t.Helper()
	name := testenv.UniqueName(t)
	subject := name + ".hello"
	cfg.Streams = []jsclient.Stream{{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.MemoryStorage}}
	c := connect(t, cfg)
	got := make(chan string, 1)
	if _, err := c.Subscribe(ctxFor(t), subject, events.SubscribeOptions{}, func(m events.Message) {
		select {
		case got <- string(m.Data()):
		default:
		}
	}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := c.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: []byte("hello")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case data := <-got:
		if data != "hello" {
			t.Fatalf("received %q, want hello", data)
		}
	case <-time.After(wait):
		t.Fatal("the message published never came")
	}
}
