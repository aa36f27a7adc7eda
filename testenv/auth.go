package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Credentials are what a client presents to a server started with
// ServerOptions: the authentication and TLS fields that natsclient.Config
// and jsclient.Config share, and userinfo for the URL. A transport's test
// copies them into its own Config (and its URL through URL).
type Credentials struct {
	User, Password string
	Token          string
	NKeySeedFile   string
	CredsFile      string
	TLS            *tls.Config
	// Userinfo, when set, goes into the URL: "user:password", or a token.
	Userinfo string
}

// URL returns url (nats://host:port) with c.Userinfo in it, if any.
func (c Credentials) URL(url string) string {
	if c.Userinfo == "" {
		return url
	}
	return strings.Replace(url, "nats://", "nats://"+c.Userinfo+"@", 1)
}

// AuthTransport is a client package under RunAuth and RunTLS: how to start
// its server and connect its client, presenting Credentials.
type AuthTransport struct {
	// Start starts the transport's server, requiring opts, for the test t
	// (and may first set t up to check for leaked goroutines).
	Start func(t *testing.T, opts ServerOptions) *Process
	// Connect connects to srv presenting c, within ctx, and returns
	// Connect's error; a client that got in is closed again. log, when not
	// nil, is the client's Logger.
	Connect func(ctx context.Context, t *testing.T, srv *Process, c Credentials, log *slog.Logger) error
	// RoundTrip connects to srv presenting c, failing the test if it can't,
	// and publishes a message and waits for a subscription to get it.
	RoundTrip func(t *testing.T, srv *Process, c Credentials)
}

// wrongSecret is the wrong password or token of the cases: an error must
// not show it.
const wrongSecret = "wr0ng"

// A way of presenting credentials, and what it is.
type namedCredentials struct {
	name  string
	creds Credentials
}

// An authCase is a server requiring one kind of authentication, with the
// credentials that get in, through each Config field (or URL) that carries
// them, and wrong or missing ones.
type authCase struct {
	name         string
	server       ServerOptions
	right, wrong []namedCredentials
}

// authCases are the kinds of authentication a transport must support.
// Their keys and files are made for t.
func authCases(t testing.TB) []authCase {
	creds := NewCreds(t, t.TempDir())
	other := NewCreds(t, t.TempDir()) // keys no server here trusts
	none := namedCredentials{"none", Credentials{}}
	return []authCase{
		{
			name:   "user and password",
			server: ServerOptions{User: "svc", Password: "s3cret"},
			right: []namedCredentials{
				{"fields", Credentials{User: "svc", Password: "s3cret"}},
				{"URL", Credentials{Userinfo: "svc:s3cret"}},
			},
			wrong: []namedCredentials{
				{"wrong password", Credentials{User: "svc", Password: wrongSecret}},
				{"unknown user", Credentials{User: "intruder", Password: "s3cret"}},
				{"wrong password in the URL", Credentials{Userinfo: "svc:" + wrongSecret}},
				none,
			},
		},
		{
			name:   "token",
			server: ServerOptions{Token: "t0ken"},
			right: []namedCredentials{
				{"field", Credentials{Token: "t0ken"}},
				{"URL", Credentials{Userinfo: "t0ken"}},
			},
			wrong: []namedCredentials{{"wrong token", Credentials{Token: wrongSecret}}, none},
		},
		{
			name:   "NKey",
			server: ServerOptions{NKey: creds.NKeyPublic},
			right:  []namedCredentials{{"seed file", Credentials{NKeySeedFile: creds.NKeySeedFile}}},
			wrong:  []namedCredentials{{"unknown key", Credentials{NKeySeedFile: other.NKeySeedFile}}, none},
		},
		{
			// JetStream is on in the account the creds' user belongs to.
			name:   "JWT",
			server: ServerOptions{JWT: creds.Dir},
			right:  []namedCredentials{{"creds file", Credentials{CredsFile: creds.CredsFile}}},
			wrong:  []namedCredentials{{"untrusted operator", Credentials{CredsFile: other.CredsFile}}, none},
		},
	}
}

// RunAuth tests tr against servers that require each kind of
// authentication. The client gets in with the right credentials, through
// each Config field (or URL) that carries them, and publishes and
// receives. With wrong or no credentials Connect fails at once, with the
// server's authorization error, which does not show them: retrying can't
// fix it. A NATS Streaming server's own connections get in (devservers
// sees to that), so it is the client's credentials alone that are tried.
func RunAuth(t *testing.T, tr AuthTransport) {
	for _, tc := range authCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			srv := tr.Start(t, tc.server)
			for _, v := range tc.right {
				t.Run(v.name, func(t *testing.T) { tr.RoundTrip(t, srv, v.creds) })
			}
			for _, v := range tc.wrong {
				t.Run(v.name, func(t *testing.T) {
					err := refused(t, tr, srv, v.creds)
					if !errors.Is(err, nats.ErrAuthorization) {
						t.Fatalf("Connect = %v, want nats.ErrAuthorization", err)
					}
					if strings.Contains(err.Error(), wrongSecret) {
						t.Errorf("the error shows the credentials: %v", err)
					}
				})
			}
		})
	}
}

// A tlsCase is a server requiring TLS, with the client TLS config that gets
// in, and those that don't.
type tlsCase struct {
	name   string
	server ServerOptions
	right  Credentials
	// untrusting don't trust the server's certificate: refused at once.
	untrusting []namedCredentials
	// certless trust it, but present no client certificate where the
	// server requires one.
	certless []namedCredentials
}

// tlsCases are the TLS set-ups a transport must support. Their
// certificates are made for t.
func tlsCases(t testing.TB) []tlsCase {
	certs := NewTLSFiles(t, t.TempDir())
	otherCA := NewTLSFiles(t, t.TempDir()).RootCAs
	untrusting := []namedCredentials{
		{"no TLS config", Credentials{}},
		{"another CA", Credentials{TLS: &tls.Config{RootCAs: otherCA}}},
	}
	return []tlsCase{
		{
			name:       "server certificate",
			server:     ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key},
			right:      Credentials{TLS: &tls.Config{RootCAs: certs.RootCAs}},
			untrusting: untrusting,
		},
		{
			name:       "client certificate",
			server:     ServerOptions{TLSCert: certs.Cert, TLSKey: certs.Key, TLSCA: certs.CA},
			right:      Credentials{TLS: &tls.Config{RootCAs: certs.RootCAs, Certificates: []tls.Certificate{certs.ClientCert}}},
			untrusting: untrusting,
			certless:   []namedCredentials{{"no client certificate", Credentials{TLS: &tls.Config{RootCAs: certs.RootCAs}}}},
		},
	}
}

// RunTLS tests tr against a server that requires TLS, and then a client
// certificate too. A client trusting the CA that issued the server's
// certificate gets in and publishes and receives; one with no TLS config,
// which trusts only the system's CAs, or one trusting another CA, is
// refused at once: retrying can't fix the certificate.
func RunTLS(t *testing.T, tr AuthTransport) {
	for _, tc := range tlsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			srv := tr.Start(t, tc.server)
			tr.RoundTrip(t, srv, tc.right)
			for _, v := range tc.untrusting {
				t.Run(v.name, func(t *testing.T) {
					err := refused(t, tr, srv, v.creds)
					var certErr *tls.CertificateVerificationError
					if !errors.As(err, &certErr) {
						t.Fatalf("Connect = %v, want a *tls.CertificateVerificationError", err)
					}
				})
			}
			for _, v := range tc.certless {
				t.Run(v.name, func(t *testing.T) {
					// The server ends the connection after the handshake;
					// nats.go reads that as ErrTLS (or the server's alert, if
					// it reads it first). natsconn does not count it as
					// permanent, so Connect retries until its context ends,
					// and then says why.
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					err := tr.Connect(ctx, t, srv, v.creds, nil)
					if err == nil {
						t.Fatal("Connect without a client certificate succeeded")
					}
					if !errors.Is(err, nats.ErrTLS) && !strings.Contains(err.Error(), "certificate required") {
						t.Fatalf("Connect = %v, want nats.ErrTLS or the server's certificate required alert", err)
					}
				})
			}
		})
	}
}

// refused connects to srv presenting c, expects a failure that retrying
// can't fix, and returns it. Connect must give up at once: its context is
// the test's whole patience, and nothing may be retried (or logged as
// retried, at any level).
func refused(t *testing.T, tr AuthTransport, srv *Process, c Credentials) error {
	t.Helper()
	var log syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := tr.Connect(ctx, t, srv, c, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err == nil {
		t.Fatal("Connect succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(log.String(), "retrying") {
		t.Fatalf("Connect retried a permanent failure: %v\n%s", err, log.String())
	}
	t.Logf("Connect: %v", err)
	return err
}
