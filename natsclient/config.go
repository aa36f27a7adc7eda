package natsclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config configures a Client. ClusterID, ClientID and URLs are required;
// every other field has a default, applied by Connect.
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
	DefaultPingInterval       = 5 * time.Second
	DefaultPingMaxOut         = 3
	DefaultConnectTimeout     = 5 * time.Second
	DefaultAckTimeout         = 30 * time.Second
	DefaultMaxPubAcksInFlight = 16384
	DefaultMinBackoff         = 100 * time.Millisecond
	DefaultMaxBackoff         = 5 * time.Second
	DefaultPublishWait        = 30 * time.Second
)

// The server's own rule for client ids.
var clientIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// withDefaults validates cfg and returns it with defaults filled in. All
// problems are reported at once, so fixing a config takes one round.
func (cfg Config) withDefaults() (Config, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if cfg.ClusterID == "" {
		bad("ClusterID is empty")
	}
	switch {
	case cfg.ClientID == "":
		bad("ClientID is empty")
	case !clientIDPattern.MatchString(cfg.ClientID):
		bad("ClientID %q may only contain letters, digits, '-' and '_'", cfg.ClientID)
	}
	if len(cfg.URLs) == 0 {
		bad("URLs is empty")
	}
	for _, u := range cfg.URLs {
		if err := checkURL(u); err != nil {
			bad("URL %q: %v", u, err)
		}
	}

	methods := 0
	if cfg.User != "" {
		methods++
	} else if cfg.Password != "" {
		bad("Password is set without User")
	}
	for _, set := range []bool{cfg.Token != "", cfg.NKeySeedFile != "", cfg.CredsFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		bad("set at most one of User/Password, Token, NKeySeedFile and CredsFile")
	}
	// Read at every connection attempt; checked now so a typo fails at
	// startup rather than as an endless reconnect.
	for _, file := range [][2]string{{"NKeySeedFile", cfg.NKeySeedFile}, {"CredsFile", cfg.CredsFile}} {
		if file[1] == "" {
			continue
		}
		if f, err := os.Open(file[1]); err != nil {
			bad("%s: %v", file[0], err)
		} else {
			f.Close()
		}
	}

	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"PingInterval", &cfg.PingInterval, DefaultPingInterval},
		{"ConnectTimeout", &cfg.ConnectTimeout, DefaultConnectTimeout},
		{"AckTimeout", &cfg.AckTimeout, DefaultAckTimeout},
		{"MinBackoff", &cfg.MinBackoff, DefaultMinBackoff},
		{"MaxBackoff", &cfg.MaxBackoff, DefaultMaxBackoff},
		{"PublishWait", &cfg.PublishWait, DefaultPublishWait},
	}
	for _, f := range durations {
		switch {
		case *f.d < 0:
			bad("%s is negative (%v)", f.name, *f.d)
		case *f.d == 0:
			*f.d = f.def
		}
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		bad("MaxBackoff (%v) is below MinBackoff (%v)", cfg.MaxBackoff, cfg.MinBackoff)
	}
	switch {
	case cfg.PingMaxOut == 0:
		cfg.PingMaxOut = DefaultPingMaxOut
	case cfg.PingMaxOut < 2:
		// stan refuses 1: a single unanswered ping would close the connection.
		bad("PingMaxOut %d is below 2", cfg.PingMaxOut)
	}
	switch {
	case cfg.MaxPubAcksInFlight == 0:
		cfg.MaxPubAcksInFlight = DefaultMaxPubAcksInFlight
	case cfg.MaxPubAcksInFlight < 0:
		bad("MaxPubAcksInFlight %d is negative", cfg.MaxPubAcksInFlight)
	}
	if cfg.Name == "" {
		cfg.Name = cfg.ClientID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	if len(problems) > 0 {
		return cfg, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return cfg, nil
}

func checkURL(raw string) error {
	if raw == "" {
		return errors.New("empty")
	}
	if strings.Contains(raw, ",") {
		return errors.New("one URL per element, not a comma-separated list")
	}
	s := raw
	if !strings.Contains(s, "://") {
		s = "nats://" + s // nats.go accepts host:port alone
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("scheme %q is not nats, tls, ws or wss", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	return nil
}
