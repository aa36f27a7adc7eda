package natsclient

import (
	"crypto/tls"
	"log/slog"
	"regexp"
	"time"

	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Config configures a Client. ClusterID, ClientID and URLs are required;
// every other field has a default, applied by Connect. jsclient.Config has
// the same connection fields (all but ClusterID, ClientID, AckTimeout and
// MaxPubAcksInFlight).
type Config struct {
	// ClusterID is the NATS Streaming cluster id (the server's -cid).
	ClusterID string
	// ClientID names this connection to the server: letters, digits, '-'
	// and '_'. The server allows one live connection per id, so two
	// instances of a service need two ids.
	ClientID string
	// URLs are the NATS servers of one cluster, e.g. nats://10.0.0.1:4222.
	// nats.go discovers the rest of the cluster from any of them.
	URLs []string
	// Name is the NATS connection name shown in server monitoring.
	// Default: ClientID.
	Name string

	// Authentication: at most one of user/password, token, NKey seed file
	// or credentials (JWT) file. Credentials in a URL work too.
	User, Password string
	Token          string
	NKeySeedFile   string
	CredsFile      string
	// TLS, when set, requires TLS with this configuration.
	TLS *tls.Config

	// PingInterval and PingMaxOut decide how soon a silent connection is
	// declared lost, both for the NATS connection and for NATS Streaming's
	// own pings (which count in whole seconds, so the interval is rounded
	// up to one). Defaults: 5s and 3.
	PingInterval time.Duration
	PingMaxOut   int
	// ConnectTimeout bounds one connection attempt, and each request to the
	// server (subscribe, close). Default: 5s.
	ConnectTimeout time.Duration
	// AckTimeout is how long a published message waits for its ack before
	// it is sent again. Default: 30s.
	AckTimeout time.Duration
	// MaxPubAcksInFlight bounds the messages published and not yet
	// acknowledged, over all calls. Default: 16384 (stan's).
	MaxPubAcksInFlight int

	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// connection attempts. Defaults: 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration

	// PublishWait bounds how long Publish, PublishBatch and Subscribe wait
	// for a lost connection to come back when their context has no
	// deadline, so that a forgotten context.Background() can't hang a
	// caller for ever. A context with a deadline is obeyed as it is.
	// Default: 30s.
	PublishWait time.Duration

	// Logger receives connection events. Default: discard.
	Logger *slog.Logger
	// OnStateChange, when set, is called on every change of Status, in
	// order, with the error that caused it (nil for Connected and Closed).
	// It runs on the client's own goroutines: it must return quickly and
	// must not call Close.
	OnStateChange func(s State, cause error)
}

// Defaults applied by Connect to zero fields.
const (
	DefaultPingInterval       = natsconn.DefaultPingInterval
	DefaultPingMaxOut         = natsconn.DefaultPingMaxOut
	DefaultConnectTimeout     = natsconn.DefaultConnectTimeout
	DefaultAckTimeout         = 30 * time.Second
	DefaultMaxPubAcksInFlight = 16384
	DefaultMinBackoff         = natsconn.DefaultMinBackoff
	DefaultMaxBackoff         = natsconn.DefaultMaxBackoff
	DefaultPublishWait        = natsconn.DefaultPublishWait
)

// The server's own rule for client ids.
var clientIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// withDefaults validates cfg and returns it with its NATS Streaming fields
// defaulted, and its connection fields as natsconn.Settings, defaulted.
// All problems are reported at once, so fixing a config takes one round.
func (cfg Config) withDefaults() (Config, natsconn.Settings, error) {
	var p natsconn.Problems
	if cfg.ClusterID == "" {
		p.Add("ClusterID is empty")
	}
	switch {
	case cfg.ClientID == "":
		p.Add("ClientID is empty")
	case !clientIDPattern.MatchString(cfg.ClientID):
		p.Add("ClientID %q may only contain letters, digits, '-' and '_'", cfg.ClientID)
	}
	s := cfg.settings()
	if s.Name == "" {
		s.Name = cfg.ClientID
	}
	// stan refuses 1: a single unanswered ping would close the connection.
	s.Check(&p, 2)
	p.Duration("AckTimeout", &cfg.AckTimeout, DefaultAckTimeout)
	switch {
	case cfg.MaxPubAcksInFlight == 0:
		cfg.MaxPubAcksInFlight = DefaultMaxPubAcksInFlight
	case cfg.MaxPubAcksInFlight < 0:
		p.Add("MaxPubAcksInFlight %d is negative", cfg.MaxPubAcksInFlight)
	}
	return cfg, s, p.Err("natsclient")
}

// settings are cfg's connection fields, which jsclient.Config has too.
func (cfg *Config) settings() natsconn.Settings {
	return natsconn.Settings{
		URLs: cfg.URLs, Name: cfg.Name,
		User: cfg.User, Password: cfg.Password, Token: cfg.Token,
		NKeySeedFile: cfg.NKeySeedFile, CredsFile: cfg.CredsFile, TLS: cfg.TLS,
		PingInterval: cfg.PingInterval, PingMaxOut: cfg.PingMaxOut, ConnectTimeout: cfg.ConnectTimeout,
		MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff, PublishWait: cfg.PublishWait,
		Logger: cfg.Logger, OnStateChange: cfg.OnStateChange,
	}
}
