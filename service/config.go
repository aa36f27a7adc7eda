package service

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/wire"
)

// DevJWTKey signs and checks tokens when a service runs on its in-memory
// backends and JWT_KEY is unset, so `go run` works with no setup. It is
// public, so FromEnv never uses it next to a real database or broker:
// there JWT_KEY is required.
const DevJWTKey = "ticketkit-dev-only-jwt-key"

// The values of NATS_TRANSPORT. The cluster's subjects, queue groups and
// durables are the same on both.
const (
	TransportStan      = "stan"      // NATS Streaming, natsclient/streaming (the default)
	TransportJetStream = "jetstream" // JetStream, natsclient/jsclient
)

// Defaults of the settings that are not read from the environment.
const (
	DefaultPort            = "3000"
	DefaultAckWait         = 5 * time.Second // the cluster's listeners'
	DefaultStartupTimeout  = 30 * time.Second
	DefaultShutdownTimeout = 20 * time.Second // inside Kubernetes' 30s grace period
)

// Config is everything a service reads at start-up. The environment
// variables are the ones the cluster's Node services read, so the same
// Kubernetes manifest runs either. Fields that are not read from the
// environment get defaults from FromEnv; a caller (or a test) may change
// any of them before Open and Start.
type Config struct {
	Name      string // the service's name, e.g. "orders-service"
	Port      string
	JWTKey    []byte
	DevJWTKey bool // JWTKey is DevJWTKey

	// Both empty: in-memory store and broker. Both set: MongoDB and NATS,
	// on the transport Transport names. Never one without the other.
	MongoURI  string
	NATSURL   string // the selected transport's URL variable, as set
	Transport string // TransportStan or TransportJetStream
	// Database is the service's database: the one MONGO_URI's path
	// names, else this, which is the service's name by default (Defaults).
	Database string

	// NATS Streaming: natsclient/streaming.FromEnv's reading of the
	// environment. Open adds the logger.
	Stan natsclient.Config
	// JetStream: jsclient.FromEnv's reading of the environment, whose
	// Streams are empty with NATS_STREAM=- (provision nothing). Open adds
	// the logger, the dead-letter stream and the retry timing (JetStream).
	JetStream jsclient.Config

	// Listeners (see Listen).
	QueueGroup  string        // also the durable name, as in the Node listeners; Name by default
	AckWait     time.Duration // DefaultAckWait
	DeadLetters string        // prefix of the dead-letter subjects; Name+":dead-letter" by default

	StartupTimeout  time.Duration // connecting to MongoDB and NATS
	ShutdownTimeout time.Duration // the whole shutdown sequence (SHUTDOWN_TIMEOUT)
	RequestTimeout  time.Duration // each API request's deadline (REQUEST_TIMEOUT)
	MaxInFlight     int           // API requests served at once; more get 503 (MAX_REQUESTS_IN_FLIGHT)
	// OutboxTTL is how long this instance's outbox lease may go without a
	// renewal before another instance takes its events over (OUTBOX_TTL,
	// outbox.DefaultTTL): writes stop after half of it without one, so a
	// database whose answers take longer than half the TTL refuses writes
	// (503) while it is that slow. Raise it for such a database, at the
	// cost of a crashed instance's unpublished events going out that much
	// later. Every instance sharing a database should use the same value.
	OutboxTTL time.Duration
	// GroupCommit gathers the concurrent inserts of each of the service's
	// collections into one insertMany (mongostore.WithGroupCommit;
	// GROUP_COMMIT, on by default): under load a create costs a fraction
	// of a database round trip, and a lone one is written at once.
	GroupCommit bool
}

// InMemory reports whether the service runs without MongoDB and NATS.
func (c Config) InMemory() bool { return c.MongoURI == "" }

// Defaults returns the configuration of service name with nothing read
// from the environment: in memory, with the development key.
func Defaults(name string) Config {
	return Config{
		Name:            name,
		Database:        name,
		Port:            DefaultPort,
		JWTKey:          []byte(DevJWTKey),
		DevJWTKey:       true,
		Transport:       TransportStan,
		QueueGroup:      name,
		AckWait:         DefaultAckWait,
		DeadLetters:     name + ":dead-letter",
		StartupTimeout:  DefaultStartupTimeout,
		ShutdownTimeout: DefaultShutdownTimeout,
		RequestTimeout:  httpapi.DefaultRequestTimeout,
		MaxInFlight:     httpapi.DefaultMaxInFlight,
		OutboxTTL:       outbox.DefaultTTL,
		GroupCommit:     true,
	}
}

// FromEnv reads the configuration of service name from the environment:
// PORT, MONGO_URI (whose path names the database; the service's name when
// it has none), NATS_URL, NATS_TRANSPORT, NATS_CLUSTER_ID,
// NATS_CLIENT_ID (and the other variables natsclient and jsclient read),
// JWT_KEY, REQUEST_TIMEOUT, MAX_REQUESTS_IN_FLIGHT, OUTBOX_TTL (see
// Config.OutboxTTL), GROUP_COMMIT (on, the default, or off; see
// Config.GroupCommit) and SHUTDOWN_TIMEOUT (the whole shutdown sequence;
// keep it under the pod's grace period). Every problem is
// reported at once, so a broken manifest takes one round to fix.
func FromEnv(name string, getenv func(string) string) (Config, error) {
	c := Defaults(name)
	c.JWTKey, c.DevJWTKey = nil, false
	c.MongoURI = getenv("MONGO_URI")
	var problems []string
	if c.MongoURI != "" {
		// The database is MONGO_URI's path, as the Node services have it
		// (mongodb://orders-mongo-srv:27017/orders), else the service's name.
		if cs, err := connstring.ParseAndValidate(c.MongoURI); err != nil {
			problems = append(problems, fmt.Sprintf("MONGO_URI: %v", err))
		} else if cs.Database != "" {
			c.Database = cs.Database
		}
	}
	if v := getenv("REQUEST_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("REQUEST_TIMEOUT %q is not a positive duration (e.g. 10s)", v))
		} else {
			c.RequestTimeout = d
		}
	}
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("SHUTDOWN_TIMEOUT %q is not a positive duration (e.g. 20s)", v))
		} else {
			c.ShutdownTimeout = d
		}
	}
	if v := getenv("OUTBOX_TTL"); v != "" {
		if d, err := time.ParseDuration(v); err != nil || d < time.Second {
			problems = append(problems, fmt.Sprintf("OUTBOX_TTL %q is not a duration of a second or more (e.g. 20s)", v))
		} else {
			c.OutboxTTL = d
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("GROUP_COMMIT"))); v {
	case "", "on", "true", "1":
	case "off", "false", "0":
		c.GroupCommit = false
	default:
		problems = append(problems, fmt.Sprintf("GROUP_COMMIT %q is neither on nor off", v))
	}
	if v := getenv("MAX_REQUESTS_IN_FLIGHT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			problems = append(problems, fmt.Sprintf("MAX_REQUESTS_IN_FLIGHT %q is not a positive number", v))
		} else {
			c.MaxInFlight = n
		}
	}
	if p := getenv("PORT"); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			problems = append(problems, fmt.Sprintf("PORT %q is not a port number", p))
		}
		c.Port = p
	}

	// The URL variable that counts is the selected transport's: `make dev`
	// exports both servers' URLs, and NATS_TRANSPORT picks one.
	natsVar, natsVarWanted := "NATS_URL", "NATS_URL"
	switch t := strings.ToLower(strings.TrimSpace(getenv("NATS_TRANSPORT"))); t {
	case "", TransportStan:
		c.Transport = TransportStan
	case TransportJetStream:
		c.Transport = TransportJetStream
		natsVarWanted = jsclient.EnvJetStreamURL + " (or NATS_URL)"
		if getenv(jsclient.EnvJetStreamURL) != "" {
			natsVar = jsclient.EnvJetStreamURL
		}
	default:
		problems = append(problems, fmt.Sprintf("NATS_TRANSPORT %q is not one of %s (NATS Streaming, the default) or %s",
			getenv("NATS_TRANSPORT"), TransportStan, TransportJetStream))
	}
	c.NATSURL = getenv(natsVar)

	switch {
	case c.MongoURI == "" && c.NATSURL == "":
		// Local mode. A stray NATS_CLUSTER_ID or NATS_TRANSPORT does no harm.
	case c.MongoURI == "":
		problems = append(problems, natsVar+" is set but MONGO_URI is not: set both (MongoDB and NATS) or neither (in-memory)")
	case c.NATSURL == "":
		problems = append(problems, "MONGO_URI is set but "+natsVarWanted+" is not: set both (MongoDB and NATS) or neither (in-memory)")
	case c.Transport == TransportStan:
		// NATS_URL as the Node manifests write it (http://), NATS_CLIENT_ID
		// defaulting to the host name and a random suffix (two replicas on
		// one host, or a restart before the server dropped the old
		// connection, must not share one), and the auth variables.
		if getenv(natsclient.EnvClusterID) == "" {
			problems = append(problems, "NATS_CLUSTER_ID is required with NATS_URL")
		} else if stan, err := streaming.FromEnv(getenv); err != nil {
			problems = append(problems, err.Error())
		} else {
			c.Stan = stan
		}
	case c.Transport == TransportJetStream:
		// NATS_CLUSTER_ID means nothing to JetStream. The connection name
		// is NATS_NAME, else NATS_CLIENT_ID, else the host name and a random
		// suffix, as on NATS Streaming: it tells an operator which pod a
		// connection is.
		js, err := jsclient.FromEnv(getenv, jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()})
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.JetStream = js
	}

	if key := getenv("JWT_KEY"); key != "" {
		c.JWTKey = []byte(key)
	} else if c.InMemory() && c.NATSURL == "" {
		c.JWTKey, c.DevJWTKey = []byte(DevJWTKey), true
	} else {
		problems = append(problems, "JWT_KEY is required with MONGO_URI and "+natsVar)
	}

	if len(problems) > 0 {
		return c, errors.New("config: " + strings.Join(problems, "; "))
	}
	return c, nil
}

// JetStreamConfig is what Open connects JetStream with: c.JetStream
// completed with what depends on the service's own settings. It leaves c
// unchanged.
func (c Config) JetStreamConfig() jsclient.Config {
	jcfg := c.JetStream
	// The dead letters (DeadLetterSubject: the prefix, a dot, the source
	// subject) need a stream to be published to, or each one fails and is
	// redelivered for ever. A stream of their own: every service
	// provisions the cluster's stream, and must give it the same subjects.
	// Unless no stream is provisioned (NATS_STREAM=-): streams, this one
	// too, are managed elsewhere.
	// It follows the service's stream: as many replicas, the same
	// storage, so the dead letters are as safe as the events they were.
	if len(jcfg.Streams) > 0 {
		dlq := jsclient.DeadLetterStream(c.DeadLetters)
		dlq.Replicas, dlq.Storage = jcfg.Streams[0].Replicas, jcfg.Streams[0].Storage
		jcfg.Streams = append(append([]jsclient.Stream(nil), jcfg.Streams...), dlq)
	}
	// NATS Streaming retries a failed message after the ack wait; keep
	// that timing on JetStream. NakDelays is the client's, for every
	// listener: they all have c.AckWait.
	jcfg.Consumer.NakDelays = []time.Duration{c.AckWait}
	return jcfg
}

// DeadLetterSubject is where a listener of subject republishes what it
// gives up on: one subject per source subject, because the republished
// message is only the payload's bytes, and the subject it came from would
// be lost otherwise.
func (c Config) DeadLetterSubject(subject string) string {
	return c.DeadLetters + "." + subject
}
