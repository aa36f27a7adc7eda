package jsclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/testenv"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
)

// A way to set up a Config, and what it is.
type authVariant struct {
	name string
	set  func(*jsclient.Config)
}

// authInURL puts userinfo (user:password, or a token) into the Config's URL.
func authInURL(userinfo string) func(*jsclient.Config) {
	return func(c *jsclient.Config) {
		c.URLs[0] = strings.Replace(c.URLs[0], "nats://", "nats://"+userinfo+"@", 1)
	}
}

// The server requires a kind of authentication. The client gets in with
// the right credentials, through each Config field (or URL) that carries
// them, provisions its stream, and publishes and receives. With wrong or
// no credentials Connect fails at once, with the server's authorization
// error: retrying can't fix it.
func TestAuth(t *testing.T) {
	creds := testenv.NewCreds(t, t.TempDir())
	other := testenv.NewCreds(t, t.TempDir()) // keys no server here trusts
	tests := []struct {
		name   string
		server testenv.ServerOptions
		right  []authVariant
		wrong  []authVariant
	}{
		{
			name:   "user and password",
			server: testenv.ServerOptions{User: "svc", Password: "s3cret"},
			right: []authVariant{
				{"fields", func(c *jsclient.Config) { c.User, c.Password = "svc", "s3cret" }},
				{"URL", authInURL("svc:s3cret")},
			},
			wrong: []authVariant{
				{"wrong password", func(c *jsclient.Config) { c.User, c.Password = "svc", "wr0ng" }},
				{"unknown user", func(c *jsclient.Config) { c.User, c.Password = "intruder", "s3cret" }},
				{"wrong password in the URL", authInURL("svc:wr0ng")},
				{"none", func(*jsclient.Config) {}},
			},
		},
		{
			name:   "token",
			server: testenv.ServerOptions{Token: "t0ken"},
			right: []authVariant{
				{"field", func(c *jsclient.Config) { c.Token = "t0ken" }},
				{"URL", authInURL("t0ken")},
			},
			wrong: []authVariant{
				{"wrong token", func(c *jsclient.Config) { c.Token = "wr0ng" }},
				{"none", func(*jsclient.Config) {}},
			},
		},
		{
			name:   "NKey",
			server: testenv.ServerOptions{NKey: creds.NKeyPublic},
			right:  []authVariant{{"seed file", func(c *jsclient.Config) { c.NKeySeedFile = creds.NKeySeedFile }}},
			wrong: []authVariant{
				{"unknown key", func(c *jsclient.Config) { c.NKeySeedFile = other.NKeySeedFile }},
				{"none", func(*jsclient.Config) {}},
			},
		},
		{
			// JetStream is on in the account the creds' user belongs to.
			name:   "JWT",
			server: testenv.ServerOptions{JWT: creds.Dir},
			right:  []authVariant{{"creds file", func(c *jsclient.Config) { c.CredsFile = creds.CredsFile }}},
			wrong: []authVariant{
				{"untrusted operator", func(c *jsclient.Config) { c.CredsFile = other.CredsFile }},
				{"none", func(*jsclient.Config) {}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.StartJetStreamWith(t, t.TempDir(), tt.server)
			for _, v := range tt.right {
				t.Run(v.name, func(t *testing.T) {
					cfg := fast(srv.URL())
					v.set(&cfg)
					authRoundTrip(t, cfg)
				})
			}
			for _, v := range tt.wrong {
				t.Run(v.name, func(t *testing.T) {
					err := authRefused(t, srv, v.set)
					if !errors.Is(err, nats.ErrAuthorization) {
						t.Fatalf("Connect = %v, want nats.ErrAuthorization", err)
					}
					if strings.Contains(err.Error(), "wr0ng") {
						t.Errorf("the error shows the credentials: %v", err)
					}
				})
			}
		})
	}
}

// The server requires TLS, and then a client certificate too. A client
// trusting the CA that issued the server's certificate gets in and
// publishes and receives; one with no TLS config, which trusts only the
// system's CAs, or one trusting another CA, is refused at once: retrying
// can't fix the certificate.
func TestTLS(t *testing.T) {
	certs := testenv.NewTLSFiles(t, t.TempDir())
	otherCA := testenv.NewTLSFiles(t, t.TempDir()).RootCAs
	untrusted := []authVariant{
		{"no TLS config", func(*jsclient.Config) {}},
		{"another CA", func(c *jsclient.Config) { c.TLS = &tls.Config{RootCAs: otherCA} }},
	}
	t.Run("server certificate", func(t *testing.T) {
		srv := testenv.StartJetStreamWith(t, t.TempDir(), testenv.ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key})
		cfg := fast(srv.URL())
		cfg.TLS = &tls.Config{RootCAs: certs.RootCAs}
		authRoundTrip(t, cfg)
		for _, v := range untrusted {
			t.Run(v.name, func(t *testing.T) { refusedCertificate(t, authRefused(t, srv, v.set)) })
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		srv := testenv.StartJetStreamWith(t, t.TempDir(), testenv.ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key, TLSCA: certs.CA})
		cfg := fast(srv.URL())
		cfg.TLS = &tls.Config{RootCAs: certs.RootCAs, Certificates: []tls.Certificate{certs.ClientCert}}
		authRoundTrip(t, cfg)
		for _, v := range untrusted {
			t.Run(v.name, func(t *testing.T) { refusedCertificate(t, authRefused(t, srv, v.set)) })
		}
		t.Run("no client certificate", func(t *testing.T) {
			// The server ends the connection after the handshake; nats.go
			// reads that as ErrTLS (or the server's alert, if it reads it
			// first). natsconn does not count it as permanent, so Connect
			// retries until its context ends, and then says why.
			cfg := fast(srv.URL())
			cfg.TLS = &tls.Config{RootCAs: certs.RootCAs}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			c, err := jsclient.Connect(ctx, cfg)
			if err == nil {
				c.Close(context.Background())
				t.Fatal("Connect without a client certificate succeeded")
			}
			if !errors.Is(err, nats.ErrTLS) && !strings.Contains(err.Error(), "certificate required") {
				t.Fatalf("Connect = %v, want nats.ErrTLS or the server's certificate required alert", err)
			}
		})
	})
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

// authRefused connects to srv with set applied to a test Config, expects a
// failure that retrying can't fix, and returns it. Connect must give up at
// once: its context is the test's whole patience, and nothing may be
// retried.
func authRefused(t *testing.T, srv *testenv.Process, set func(*jsclient.Config)) error {
	t.Helper()
	var log lockedBuffer
	cfg := fast(srv.URL())
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	set(&cfg)
	c, err := jsclient.Connect(ctxFor(t), cfg)
	if err == nil {
		c.Close(context.Background())
		t.Fatal("Connect succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(log.String(), "retrying") {
		t.Fatalf("Connect retried a permanent failure: %v\n%s", err, log.String())
	}
	t.Logf("Connect: %v", err)
	return err
}

func refusedCertificate(t *testing.T, err error) {
	t.Helper()
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) {
		t.Fatalf("Connect = %v, want a *tls.CertificateVerificationError", err)
	}
}

// lockedBuffer is a log's destination, read by the test while nats.go's
// goroutines may still write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
