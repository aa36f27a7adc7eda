package streaming_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

// The cases, and what is asserted of them, are testenv's: the same for
// every transport.
func TestAuth(t *testing.T) { testenv.RunAuth(t, authTransport) }
func TestTLS(t *testing.T)  { testenv.RunTLS(t, authTransport) }

// authTransport runs the cases on a NATS Streaming server each, checking
// that the clients leave no goroutines behind.
var authTransport = testenv.AuthTransport{
	Start: func(t *testing.T, opts testenv.ServerOptions) *testenv.Process {
		noLeaks(t)
		return testenv.StartStanWith(t, t.TempDir(), opts)
	},
	Connect: func(ctx context.Context, t *testing.T, srv *testenv.Process, creds testenv.Credentials, log *slog.Logger) error {
		cfg := authConfig(t, srv, creds)
		if log != nil {
			cfg.Logger = log
		}
		c, err := streaming.Connect(ctx, cfg)
		if err == nil {
			c.Close(context.Background())
		}
		return err
	},
	RoundTrip: func(t *testing.T, srv *testenv.Process, creds testenv.Credentials) {
		roundTrip(t, connect(t, authConfig(t, srv, creds)))
	},
}

// authConfig is a test Config for srv presenting creds.
func authConfig(t *testing.T, srv *testenv.Process, creds testenv.Credentials) natsclient.Config {
	cfg := config(t, creds.URL(srv.URL()), srv.ClusterID())
	cfg.User, cfg.Password, cfg.Token = creds.User, creds.Password, creds.Token
	cfg.NKeySeedFile, cfg.CredsFile, cfg.TLS = creds.NKeySeedFile, creds.CredsFile, creds.TLS
	return cfg
}

// roundTrip publishes a message and waits for a subscription to get it.
func roundTrip(t *testing.T, c *streaming.Client) {
	t.Helper()
	subject := testenv.UniqueName(t)
	in := newInbox()
	if _, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{ManualAck: true}, in.deliver(t)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte("hello")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	in.await(t, "the message published", hasAll([]string{"hello"}))
}
