package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	natsd "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// security is what a NATS server requires of its clients: at most one
// kind of authentication, and TLS. The zero value requires nothing, as
// `run` does. The stan and jetstream subcommands set it from their flags,
// for tests of clients' authentication and TLS.
type security struct {
	user, pass string
	token      string
	nkey       string // the public key of the one NKey user
	jwtDir     string // where `devservers creds` wrote the operator and account to trust
	tlsCert    string
	tlsKey     string
	tlsCA      string // requires client certificates this CA issued
}

func (s *security) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.user, "user", "", "require this `user` and -pass")
	fs.StringVar(&s.pass, "pass", "", "the user's `password`")
	fs.StringVar(&s.token, "token", "", "require this `token`")
	fs.StringVar(&s.nkey, "nkey", "", "require the NKey user of this `public-key`")
	fs.StringVar(&s.jwtDir, "jwt", "", "require a user JWT of the operator and account `devservers creds` wrote in `dir`")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "require TLS, with this certificate `file` (PEM)")
	fs.StringVar(&s.tlsKey, "tls-key", "", "the certificate's key `file` (PEM)")
	fs.StringVar(&s.tlsCA, "tls-ca", "", "also require a client certificate issued by this CA `file` (PEM)")
}

func (s *security) check() error {
	kinds := 0
	for _, set := range []bool{s.user != "" || s.pass != "", s.token != "", s.nkey != "", s.jwtDir != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return errors.New("-user/-pass, -token, -nkey and -jwt exclude each other")
	case (s.user == "") != (s.pass == ""):
		return errors.New("-user and -pass go together")
	case (s.tlsCert == "") != (s.tlsKey == ""):
		return errors.New("-tls-cert and -tls-key go together")
	case s.tlsCA != "" && s.tlsCert == "":
		return errors.New("-tls-ca needs -tls-cert")
	}
	return nil
}

// configure makes o require what s says, and returns the options with
// which the server's own clients get in: NATS Streaming's connections to
// its embedded NATS server. With -nkey they get an NKey user of their
// own; with -jwt they use the user in the creds directory; with -tls-ca
// they present the server's certificate, which must then allow client
// authentication too.
func (s *security) configure(o *natsd.Options) (self []nats.Option, err error) {
	switch {
	case s.user != "":
		o.Username, o.Password = s.user, s.pass
		self = append(self, nats.UserInfo(s.user, s.pass))
	case s.token != "":
		o.Authorization = s.token
		self = append(self, nats.Token(s.token))
	case s.nkey != "":
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, err
		}
		pub, _ := kp.PublicKey()
		o.Nkeys = []*natsd.NkeyUser{{Nkey: s.nkey}, {Nkey: pub}}
		self = append(self, nats.Nkey(pub, kp.Sign))
	case s.jwtDir != "":
		op, err := natsd.ReadOperatorJWT(filepath.Join(s.jwtDir, credsOperator))
		if err != nil {
			return nil, err
		}
		resolver := &natsd.MemAccResolver{}
		for _, name := range []string{credsSystem, credsAccount} {
			account, err := os.ReadFile(filepath.Join(s.jwtDir, name))
			if err != nil {
				return nil, err
			}
			claims, err := jwt.DecodeAccountClaims(string(account))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			_ = resolver.Store(claims.Subject, string(account))
		}
		o.TrustedOperators = []*jwt.OperatorClaims{op}
		o.SystemAccount = op.SystemAccount // only a config file's operator sets it by itself
		o.AccountResolver = resolver
		self = append(self, nats.UserCredentials(filepath.Join(s.jwtDir, credsUser)))
	}

	if s.tlsCert == "" {
		return self, nil
	}
	o.TLSConfig, err = natsd.GenTLSConfig(&natsd.TLSConfigOpts{
		CertFile: s.tlsCert, KeyFile: s.tlsKey, CaFile: s.tlsCA, Verify: s.tlsCA != "",
	})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	// Not o.TLSVerify: o.TLSConfig requires client certificates already,
	// and the streaming server would replace a TLSConfig with TLSVerify
	// set by one made of o.TLSCert and o.TLSKey, which are empty.

	// The server's own clients trust its certificate as it is: they need
	// no CA to reach it on loopback.
	cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		roots.AddCert(c)
	}
	cfg := &tls.Config{RootCAs: roots}
	if s.tlsCA != "" {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return append(self, nats.Secure(cfg)), nil
}
