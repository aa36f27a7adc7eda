package testenv_test

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/stan.go"

	"github.com/ticketkit/ticketkit/testenv"
)

// Servers started with ServerOptions require what they say: plain nats.go
// gets in with the right credentials and not without, and the server works
// behind them (NATS Streaming's own connections got in too; JetStream is
// on in the account).
func TestServerOptions(t *testing.T) {
	creds := testenv.NewCreds(t, t.TempDir())
	certs := testenv.NewTLSFiles(t, t.TempDir())
	trust := nats.Secure(&tls.Config{RootCAs: certs.RootCAs})
	tests := []struct {
		name  string
		opts  testenv.ServerOptions
		right []nats.Option
	}{
		{"user", testenv.ServerOptions{User: "svc", Password: "s3cret"}, []nats.Option{nats.UserInfo("svc", "s3cret")}},
		{"token", testenv.ServerOptions{Token: "t0ken"}, []nats.Option{nats.Token("t0ken")}},
		{"nkey", testenv.ServerOptions{NKey: creds.NKeyPublic}, []nats.Option{must(nats.NkeyOptionFromSeed(creds.NKeySeedFile))}},
		{"jwt", testenv.ServerOptions{JWT: creds.Dir}, []nats.Option{nats.UserCredentials(creds.CredsFile)}},
		{"tls", testenv.ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key}, []nats.Option{trust}},
		{"mutual tls", testenv.ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key, TLSCA: certs.CA},
			[]nats.Option{nats.Secure(&tls.Config{RootCAs: certs.RootCAs, Certificates: []tls.Certificate{certs.ClientCert}})}},
		{"user over tls", testenv.ServerOptions{User: "svc", Password: "s3cret", TLSCert: certs.Cert, TLSKey: certs.Key},
			[]nats.Option{nats.UserInfo("svc", "s3cret"), trust}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("stan", func(t *testing.T) {
				srv := testenv.StartStanWith(t, t.TempDir(), tt.opts)
				refused(t, srv.URL(), tt.opts)
				nc := connected(t, srv.URL(), tt.right)
				sc, err := stan.Connect(srv.ClusterID(), testenv.UniqueName(t), stan.NatsConn(nc))
				if err != nil {
					t.Fatalf("stan.Connect: %v", err)
				}
				if err := sc.Publish("smoke", []byte("x")); err != nil {
					t.Fatalf("stan Publish: %v", err)
				}
				if err := sc.Close(); err != nil {
					t.Fatalf("stan Close: %v", err)
				}
			})
			t.Run("jetstream", func(t *testing.T) {
				srv := testenv.StartJetStreamWith(t, t.TempDir(), tt.opts)
				refused(t, srv.URL(), tt.opts)
				js, err := jetstream.New(connected(t, srv.URL(), tt.right))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := js.AccountInfo(ctx(t)); err != nil {
					t.Fatalf("JetStream AccountInfo: %v", err)
				}
			})
		})
	}
}

func must(o nats.Option, err error) nats.Option {
	if err != nil {
		panic(err)
	}
	return o
}

func connected(t *testing.T, url string, opts []nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect with the right credentials: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// refused checks that a client with nothing but the CA (when the server
// has TLS) does not get in.
func refused(t *testing.T, url string, o testenv.ServerOptions) {
	t.Helper()
	var opts []nats.Option
	if o.TLSCert != "" {
		certs := testenv.NewTLSFiles(t, t.TempDir()) // a CA that did not issue the server's certificate
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: certs.RootCAs}))
	}
	nc, err := nats.Connect(url, opts...)
	if err == nil {
		nc.Close()
		t.Fatal("a client without credentials (or trusting another CA) got in")
	}
	var certErr *tls.CertificateVerificationError
	if !errors.Is(err, nats.ErrAuthorization) && !errors.As(err, &certErr) {
		t.Fatalf("refused with %v, want an authorization violation or an untrusted certificate", err)
	}
}
