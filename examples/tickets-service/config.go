package main

import (
	"errors"
	"fmt"
	"github.com/ticketkit/ticketkit/httpapi"
	"strconv"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
)

// devJWTKey signs and checks tokens when the service runs on its in-memory
// backends and JWT_KEY is unset, so `go run ./examples/tickets-service`
// works with no setup. It is public, so it is never used next to a real
// database or broker: there JWT_KEY is required.
const devJWTKey = "ticketkit-dev-only-jwt-key"

// config is everything the service reads at start-up. The environment
// variables are the ones the cluster's Node tickets service reads, so the
// same Kubernetes manifest runs either.
type config struct {
	port      string
	jwtKey    []byte
	devJWTKey bool // jwtKey is devJWTKey

	// Both empty: in-memory store and broker. Both set: MongoDB and NATS,
	// on the transport NATS_TRANSPORT names. Never one without the other
	// (see loadConfig).
	mongoURI  string
	natsURL   string // the selected transport's URL variable, as set
	transport string // transportStan or transportJetStream

	// NATS Streaming (transportStan): natsclient.FromEnv's reading of
	// the environment. connectNATS adds the logger.
	stan natsclient.Config

	// JetStream (transportJetStream): jsclient.FromEnv's reading of the
	// environment, whose Streams are empty with NATS_STREAM=- (provision
	// nothing). jetStreamConfig adds the logger, the dead-letter stream
	// and the retry timing, which depend on the fields below.
	js jsclient.Config

	// Not from the environment: tuned by tests, fixed otherwise.
	queueGroup      string        // also the durable name, as in the Node listeners
	ackWait         time.Duration // the cluster's 5s
	reservedRetries int           // see onOrderCreated
	deadLetters     string        // subject dead letters are republished to
	startupTimeout  time.Duration // connecting to MongoDB and NATS
	shutdownTimeout time.Duration // the whole shutdown sequence
	requestTimeout  time.Duration // each API request's deadline (REQUEST_TIMEOUT)
	maxInFlight     int           // API requests served at once; more get 503 (MAX_REQUESTS_IN_FLIGHT)
}

// Defaults of the settings that are not read from the environment.
const (
	defaultPort            = "3000"
	defaultQueueGroup      = "tickets-service"
	defaultAckWait         = 5 * time.Second
	defaultReservedRetries = 12 // a minute of redeliveries at the 5s ack wait
	defaultDeadLetters     = "tickets-service:dead-letter"
	defaultStartupTimeout  = 30 * time.Second
	defaultShutdownTimeout = 20 * time.Second // inside Kubernetes' 30s grace period
)

// The values of NATS_TRANSPORT. The cluster's subjects, queue groups and
// durables are the same on both.
const (
	transportStan      = "stan"      // NATS Streaming, natsclient (the default)
	transportJetStream = "jetstream" // JetStream, natsclient/jsclient
)

// inMemory reports whether the service runs without MongoDB and NATS.
func (c config) inMemory() bool { return c.mongoURI == "" }

// loadConfig reads the environment. Every problem is reported at once, so
// a broken manifest takes one round to fix.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		port:            getenv("PORT"),
		mongoURI:        getenv("MONGO_URI"),
		transport:       strings.ToLower(strings.TrimSpace(getenv("NATS_TRANSPORT"))),
		queueGroup:      defaultQueueGroup,
		ackWait:         defaultAckWait,
		reservedRetries: defaultReservedRetries,
		deadLetters:     defaultDeadLetters,
		startupTimeout:  defaultStartupTimeout,
		shutdownTimeout: defaultShutdownTimeout,
		requestTimeout:  httpapi.DefaultRequestTimeout,
		maxInFlight:     httpapi.DefaultMaxInFlight,
	}
	var problems []string
	if v := getenv("REQUEST_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("REQUEST_TIMEOUT %q is not a positive duration (e.g. 10s)", v))
		} else {
			c.requestTimeout = d
		}
	}
	if v := getenv("MAX_REQUESTS_IN_FLIGHT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			problems = append(problems, fmt.Sprintf("MAX_REQUESTS_IN_FLIGHT %q is not a positive number", v))
		} else {
			c.maxInFlight = n
		}
	}
	if c.port == "" {
		c.port = defaultPort
	} else if n, err := strconv.Atoi(c.port); err != nil || n < 0 || n > 65535 {
		problems = append(problems, fmt.Sprintf("PORT %q is not a port number", c.port))
	}

	// The URL variable that counts is the selected transport's: `make dev`
	// exports both servers' URLs, and NATS_TRANSPORT picks one.
	natsVar, natsVarWanted := "NATS_URL", "NATS_URL"
	switch c.transport {
	case "":
		c.transport = transportStan
	case transportStan:
	case transportJetStream:
		natsVarWanted = jsclient.EnvJetStreamURL + " (or NATS_URL)"
		if getenv(jsclient.EnvJetStreamURL) != "" {
			natsVar = jsclient.EnvJetStreamURL
		}
	default:
		problems = append(problems, fmt.Sprintf("NATS_TRANSPORT %q is not one of %s (NATS Streaming, the default) or %s",
			getenv("NATS_TRANSPORT"), transportStan, transportJetStream))
	}
	c.natsURL = getenv(natsVar)

	switch {
	case c.mongoURI == "" && c.natsURL == "":
		// Local mode. A stray NATS_CLUSTER_ID or NATS_TRANSPORT does no harm.
	case c.mongoURI == "":
		problems = append(problems, natsVar+" is set but MONGO_URI is not: set both (MongoDB and NATS) or neither (in-memory)")
	case c.natsURL == "":
		problems = append(problems, "MONGO_URI is set but "+natsVarWanted+" is not: set both (MongoDB and NATS) or neither (in-memory)")
	case c.transport == transportStan:
		// NATS_URL as the Node manifests write it (http://), NATS_CLIENT_ID
		// defaulting to the host name and a random suffix (two replicas on
		// one host, or a restart before the server dropped the old
		// connection, must not share one), and the auth variables.
		if getenv(natsclient.EnvClusterID) == "" {
			problems = append(problems, "NATS_CLUSTER_ID is required with NATS_URL")
		} else if stan, err := streaming.FromEnv(getenv); err != nil {
			problems = append(problems, err.Error())
		} else {
			c.stan = stan
		}
	case c.transport == transportJetStream:
		// NATS_CLUSTER_ID means nothing to JetStream. The connection name
		// is NATS_NAME, else NATS_CLIENT_ID, else the host name and a random
		// suffix, as on NATS Streaming: it tells an operator which pod a
		// connection is.
		js, err := jsclient.FromEnv(getenv)
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.js = js
	}

	if key := getenv("JWT_KEY"); key != "" {
		c.jwtKey = []byte(key)
	} else if c.inMemory() && c.natsURL == "" {
		c.jwtKey, c.devJWTKey = []byte(devJWTKey), true
	} else {
		problems = append(problems, "JWT_KEY is required with MONGO_URI and "+natsVar)
	}

	if len(problems) > 0 {
		return c, errors.New("config: " + strings.Join(problems, "; "))
	}
	return c, nil
}
