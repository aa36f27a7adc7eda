package natsclient

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Config is the connection configuration of both transports. URLs is
// required, and on NATS Streaming ClusterID and ClientID too; every other
// field has a default, applied by the transport's Connect, which checks
// the whole Config first and reports every problem at once.
type Config struct {
	// URLs are the NATS servers of one cluster, e.g. nats://10.0.0.1:4222.
	// nats.go discovers the rest of the cluster from any of them.
	URLs []string
	// ClusterID is the NATS Streaming cluster id (the server's -cid).
	// JetStream has none and ignores it.
	ClusterID string
	// ClientID names this connection: on NATS Streaming, its client id
	// (letters, digits, '-' and '_'; the server allows one live connection
	// per id, so two instances need two ids); on JetStream, the default
	// Name. FromEnv defaults it to DefaultClientID().
	ClientID string
	// Name is the NATS connection name shown in server monitoring.
	// Default: ClientID, or "ticketkit".
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
	// declared lost (on NATS Streaming also for its own pings, which count
	// whole seconds). Defaults: 5s and 3.
	PingInterval time.Duration
	PingMaxOut   int
	// ConnectTimeout bounds one connection attempt, and each request to the
	// server (subscribe, close, JetStream API calls). Default: 5s.
	ConnectTimeout time.Duration
	// AckTimeout is how long a published message waits for its ack before
	// it is sent again. Default: 30s on NATS Streaming, 10s on JetStream
	// (where the copy carries the same Nats-Msg-Id and is dropped).
	AckTimeout time.Duration
	// MaxPubAcksInFlight bounds the messages published and not yet
	// acknowledged, over all calls. Default: 16384 on NATS Streaming
	// (stan's), 4096 on JetStream.
	MaxPubAcksInFlight int

	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// connection attempts and retries. Defaults: 100ms and 5s.
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

// Defaults both transports apply to zero fields.
const (
	DefaultPingInterval   = 5 * time.Second
	DefaultPingMaxOut     = 3
	DefaultConnectTimeout = 5 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultPublishWait    = 30 * time.Second
)
