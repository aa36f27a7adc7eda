package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ServerOptions are what a server started by StartStanWith or
// StartJetStreamWith requires of its clients. The zero value requires
// nothing, as with StartStan and StartJetStream.
type ServerOptions struct {
	// Authentication: at most one of a user and password, a token, the
	// NKey user of a public key (Creds.NKeyPublic), or a user JWT of the
	// operator and account of a Creds (Creds.Dir).
	User, Password string
	Token          string
	NKey           string
	JWT            string

	// TLS, required when set, with this certificate and key (TLSFiles'
	// Cert and Key). With TLSCA (TLSFiles.CA), clients must present a
	// certificate this CA issued too.
	TLSCert, TLSKey string
	TLSCA           string
}

// args are the devservers flags for o.
func (o ServerOptions) args() []string {
	var args []string
	for _, f := range [][2]string{
		{"-user", o.User}, {"-pass", o.Password}, {"-token", o.Token}, {"-nkey", o.NKey}, {"-jwt", o.JWT},
		{"-tls-cert", o.TLSCert}, {"-tls-key", o.TLSKey}, {"-tls-ca", o.TLSCA},
	} {
		if f[1] != "" {
			args = append(args, f[0], f[1])
		}
	}
	return args
}

// StartStanWith is StartStan with a server that requires what opts says,
// of clients and of its own connections alike. Its URL stays nats://:
// clients switch to TLS when the server asks for it.
func StartStanWith(t testing.TB, dir string, opts ServerOptions) *Process {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, "stan", addr, dir, append([]string{"-cluster", DefaultClusterID}, opts.args()...)...)
	p.url, p.clusterID = "nats://"+addr, DefaultClusterID
	return p
}

// StartJetStreamWith is StartJetStream with a server that requires what
// opts says of clients.
func StartJetStreamWith(t testing.TB, dir string, opts ServerOptions) *Process {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, "jetstream", addr, dir, opts.args()...)
	p.url = "nats://" + addr
	return p
}

// Creds are NATS credentials made by `devservers creds`: an NKey user, and
// a user of an operator and account for decentralized JWT auth. Every
// NewCreds makes new keys, so one's credentials are wrong credentials for
// a server started with another's.
type Creds struct {
	Dir          string // for ServerOptions.JWT: the operator and accounts to trust
	CredsFile    string // the JWT user's credentials file, for a client's CredsFile
	NKeySeedFile string // the NKey user's seed file, for a client's NKeySeedFile
	NKeyPublic   string // its public key, for ServerOptions.NKey
}

// NewCreds writes new credentials into dir.
func NewCreds(t testing.TB, dir string) Creds {
	t.Helper()
	bin := require(t, EnvDevservers, "the devservers binary")
	if out, err := exec.Command(bin, "creds", "-dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("testenv: devservers creds: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "nkey.pub"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return Creds{
		Dir:          dir,
		CredsFile:    filepath.Join(dir, "user.creds"),
		NKeySeedFile: filepath.Join(dir, "nkey.seed"),
		NKeyPublic:   strings.TrimSpace(string(pub)),
	}
}

// TLSFiles are a throwaway certificate authority and the certificates it
// issued: one for servers on loopback, and one for clients.
type TLSFiles struct {
	// CA is the CA's certificate file, for ServerOptions.TLSCA.
	CA string
	// Cert and Key are the server's certificate and key files, for
	// ServerOptions.TLSCert and TLSKey: for 127.0.0.1, ::1 and localhost,
	// and good for client authentication too, which a NATS Streaming
	// server's own connections need under mutual TLS.
	Cert, Key string
	// RootCAs trusts the CA, for a client's tls.Config.
	RootCAs *x509.CertPool
	// ClientCert is a client certificate the CA issued.
	ClientCert tls.Certificate
}

// NewTLSFiles makes a CA and its certificates, writing the files into dir.
func NewTLSFiles(t testing.TB, dir string) *TLSFiles {
	t.Helper()
	fail := func(err error) {
		t.Helper()
		t.Fatalf("testenv: make TLS certificates: %v", err)
	}
	now := time.Now()
	template := func(name string) *x509.Certificate {
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
		if err != nil {
			fail(err)
		}
		return &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{Organization: []string{"ticketkit tests"}, CommonName: name},
			NotBefore:    now.Add(-time.Hour), // in case clocks differ a little
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
	}
	// issue signs a new key's certificate with the parent's key (itself
	// when parent is nil), and returns them with the certificate's DER.
	issue := func(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			fail(err)
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			fail(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			fail(err)
		}
		return key, cert, der
	}
	write := func(name, blockType string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
			fail(err)
		}
		return path
	}
	keyDER := func(key *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			fail(err)
		}
		return der
	}

	caTmpl := template("ticketkit test CA")
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	caTmpl.KeyUsage |= x509.KeyUsageCertSign
	caKey, ca, caDER := issue(caTmpl, nil, nil)

	serverTmpl := template("localhost")
	serverTmpl.DNSNames = []string{"localhost"}
	serverTmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	serverTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	serverKey, _, serverDER := issue(serverTmpl, ca, caKey)

	clientTmpl := template("ticketkit test client")
	clientTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	clientKey, clientCert, clientDER := issue(clientTmpl, ca, caKey)

	f := &TLSFiles{
		CA:         write("ca.pem", "CERTIFICATE", caDER),
		Cert:       write("server.pem", "CERTIFICATE", serverDER),
		Key:        write("server-key.pem", "PRIVATE KEY", keyDER(serverKey)),
		RootCAs:    x509.NewCertPool(),
		ClientCert: tls.Certificate{Certificate: [][]byte{clientDER}, PrivateKey: clientKey, Leaf: clientCert},
	}
	f.RootCAs.AddCert(ca)
	return f
}
