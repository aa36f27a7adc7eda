package natsclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/testenv"
	"github.com/ticketkit/ticketkit/natsclient"
)

// A way to set up a Config, and what it is.
type variant struct {
	name string
	set  func(*natsclient.Config)
}

// inURL puts userinfo (user:password, or a token) into the Config's URL.
func inURL(userinfo string) func(*natsclient.Config) {
	return func(c *natsclient.Config) {
		c.URLs[0] = strings.Replace(c.URLs[0], "nats://", "nats://"+userinfo+"@", 1)
	}
}

// The server requires a kind of authentication. The client gets in with
// the right credentials, through each Config field (or URL) that carries
// them, and publishes and receives. With wrong or no credentials Connect
// fails at once, with the server's authorization error: retrying can't fix
// it. The server's own connections get in (devservers sees to that), so it
// is the client's credentials alone that are tried.
func TestAuth(t *testing.T) {
	creds := testenv.NewCreds(t, t.TempDir())
	other := testenv.NewCreds(t, t.TempDir()) // keys no server here trusts
	tests := []struct {
		name   string
		server testenv.ServerOptions
		right  []variant
		wrong  []variant
	}{
		{
			name:   "user and password",
			server: testenv.ServerOptions{User: "svc", Password: "s3cret"},
			right: []variant{
				{"fields", func(c *natsclient.Config) { c.User, c.Password = "svc", "s3cret" }},
				{"URL", inURL("svc:s3cret")},
			},
			wrong: []variant{
				{"wrong password", func(c *natsclient.Config) { c.User, c.Password = "svc", "wr0ng" }},
				{"unknown user", func(c *natsclient.Config) { c.User, c.Password = "intruder", "s3cret" }},
				{"wrong password in the URL", inURL("svc:wr0ng")},
				{"none", func(*natsclient.Config) {}},
			},
		},
		{
			name:   "token",
			server: testenv.ServerOptions{Token: "t0ken"},
			right: []variant{
				{"field", func(c *natsclient.Config) { c.Token = "t0ken" }},
				{"URL", inURL("t0ken")},
			},
			wrong: []variant{
				{"wrong token", func(c *natsclient.Config) { c.Token = "wr0ng" }},
				{"none", func(*natsclient.Config) {}},
			},
		},
		{
			name:   "NKey",
			server: testenv.ServerOptions{NKey: creds.NKeyPublic},
			right:  []variant{{"seed file", func(c *natsclient.Config) { c.NKeySeedFile = creds.NKeySeedFile }}},
			wrong: []variant{
				{"unknown key", func(c *natsclient.Config) { c.NKeySeedFile = other.NKeySeedFile }},
				{"none", func(*natsclient.Config) {}},
			},
		},
		{
			name:   "JWT",
			server: testenv.ServerOptions{JWT: creds.Dir},
			right:  []variant{{"creds file", func(c *natsclient.Config) { c.CredsFile = creds.CredsFile }}},
			wrong: []variant{
				{"untrusted operator", func(c *natsclient.Config) { c.CredsFile = other.CredsFile }},
				{"none", func(*natsclient.Config) {}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeaks(t)
			srv := testenv.StartStanWith(t, t.TempDir(), tt.server)
			for _, v := range tt.right {
				t.Run(v.name, func(t *testing.T) {
					cfg := config(t, srv.URL(), srv.ClusterID())
					v.set(&cfg)
					roundTrip(t, connect(t, cfg))
				})
			}
			for _, v := range tt.wrong {
				t.Run(v.name, func(t *testing.T) {
					err := refused(t, srv, v.set)
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
	untrusted := []variant{
		{"no TLS config", func(*natsclient.Config) {}},
		{"another CA", func(c *natsclient.Config) { c.TLS = &tls.Config{RootCAs: otherCA} }},
	}
	t.Run("server certificate", func(t *testing.T) {
		noLeaks(t)
		srv := testenv.StartStanWith(t, t.TempDir(), testenv.ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key})
		cfg := config(t, srv.URL(), srv.ClusterID())
		cfg.TLS = &tls.Config{RootCAs: certs.RootCAs}
		roundTrip(t, connect(t, cfg))
		for _, v := range untrusted {
			t.Run(v.name, func(t *testing.T) { refusedCertificate(t, refused(t, srv, v.set)) })
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		noLeaks(t)
		srv := testenv.StartStanWith(t, t.TempDir(), testenv.ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key, TLSCA: certs.CA})
		cfg := config(t, srv.URL(), srv.ClusterID())
		cfg.TLS = &tls.Config{RootCAs: certs.RootCAs, Certificates: []tls.Certificate{certs.ClientCert}}
		roundTrip(t, connect(t, cfg))
		for _, v := range untrusted {
			t.Run(v.name, func(t *testing.T) { refusedCertificate(t, refused(t, srv, v.set)) })
		}
		t.Run("no client certificate", func(t *testing.T) {
			// The server ends the connection after the handshake; nats.go
			// reads that as ErrTLS (or the server's alert, if it reads it
			// first). natsconn does not count it as permanent, so Connect
			// retries until its context ends, and then says why.
			cfg := config(t, srv.URL(), srv.ClusterID())
			cfg.TLS = &tls.Config{RootCAs: certs.RootCAs}
			c, err := natsclient.Connect(ctxFor(t, 2*time.Second), cfg)
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

// roundTrip publishes a message and waits for a subscription to get it.
func roundTrip(t *testing.T, c *natsclient.Client) {
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

// refused connects to srv with set applied to a test Config, expects a
// failure that retrying can't fix, and returns it. Connect must give up at
// once: its context is the test's whole patience, and nothing may be
// retried.
func refused(t *testing.T, srv *testenv.Process, set func(*natsclient.Config)) error {
	t.Helper()
	logs := newLogs(t)
	cfg := config(t, srv.URL(), srv.ClusterID())
	cfg.Logger = logs.logger()
	set(&cfg)
	c, err := natsclient.Connect(ctxFor(t, timeout), cfg)
	if err == nil {
		c.Close(context.Background())
		t.Fatal("Connect succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) || len(logs.matching("retrying")) > 0 {
		t.Fatalf("Connect retried a permanent failure: %v", err)
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
