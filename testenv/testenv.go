// Package testenv gives integration tests the servers they talk to: the
// module's own, and those of a service built on it, which run them under
// `devservers run` (or against real servers) as `make test` does. It is for
// tests only; no library package imports it.
//
// Tests find servers through environment variables, so they run against
// whatever the developer points them at:
//
//	MONGO_URI             a MongoDB (or MongoDB wire compatible) server, e.g. mongodb://127.0.0.1:27017/
//	NATS_URL              a NATS Streaming server, e.g. nats://127.0.0.1:4222
//	NATS_CLUSTER_ID       its cluster id; ticketing when unset (the cluster's, which devservers serves)
//	NATS_JETSTREAM_URL    a NATS server with JetStream enabled
//	STRIPE_API_BASE       a Stripe API host for tests, such as stripe-mock
//	                      (http://127.0.0.1:12111), which devservers serves
//	TICKETKIT_DEVSERVERS  the devservers binary, for tests that start, kill
//	                      and restart their own servers (see StartStan), or
//	                      need a server that requires authentication or TLS
//	                      (StartStanWith, NewCreds, NewTLSFiles)
//
// StartProxy puts a fault proxy in front of a server, for tests of a call
// whose answer is lost (the write landed) or whose request is.
//
// `make test` sets all of them: it builds devservers (the nested module in
// devservers/) and runs `go test` under `devservers run`, which starts
// throwaway servers on free loopback ports. `make dev` prints the same
// variables as export lines and keeps the servers up, for running tests
// or examples by hand.
//
// A test whose variable is unset is skipped with a message saying so,
// except when CI is set: there a missing server is a broken setup, and
// the test fails.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Names of the environment variables read by this package.
const (
	EnvMongoURI     = "MONGO_URI"
	EnvNATSURL      = "NATS_URL"
	EnvClusterID    = "NATS_CLUSTER_ID"
	EnvJetStreamURL = "NATS_JETSTREAM_URL"
	EnvDevservers   = "TICKETKIT_DEVSERVERS"
	EnvStripeBase   = "STRIPE_API_BASE"
)

// DefaultClusterID is the NATS Streaming cluster id used when
// NATS_CLUSTER_ID is unset, and the one of servers started by devservers.
const DefaultClusterID = "ticketing"

// timeout bounds every wait on a server in this package, generous enough
// for a loaded CI machine running tests with -race.
const timeout = 30 * time.Second

// require returns the value of the environment variable name, or ends
// the test: skipped normally, failed under CI.
func require(t testing.TB, name, what string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	msg := fmt.Sprintf("needs %s: set %s or run make test", what, name)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (failing rather than skipping because CI is set)")
	}
	t.Skip(msg)
	return ""
}

// MongoURI returns the MongoDB connection string from MONGO_URI.
func MongoURI(t testing.TB) string {
	t.Helper()
	return require(t, EnvMongoURI, "a MongoDB server")
}

// Mongo connects to MONGO_URI and returns a database of its own for the
// test, dropped (and the client disconnected) when the test ends.
func Mongo(t testing.TB) *mongo.Database {
	t.Helper()
	uri := MongoURI(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("testenv: connect to %s: %v", uri, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Connect is lazy; fail here, with the address, rather than in the
	// middle of the test.
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(ctx)
		t.Fatalf("testenv: MongoDB at %s does not answer: %v", uri, err)
	}
	db := client.Database(UniqueName(t))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("testenv: drop database %s: %v", db.Name(), err)
		}
		if err := client.Disconnect(ctx); err != nil {
			t.Errorf("testenv: disconnect from MongoDB: %v", err)
		}
	})
	return db
}

// StripeAPIBase returns the URL of a Stripe API for tests from
// STRIPE_API_BASE: stripe-mock under devservers. stripe-mock answers every
// request from Stripe's OpenAPI fixtures after validating it against the
// spec; it keeps no state, so it replays nothing by Idempotency-Key and
// declines no card.
func StripeAPIBase(t testing.TB) string {
	t.Helper()
	return require(t, EnvStripeBase, "a Stripe API such as stripe-mock")
}

// NATS returns the URL and cluster id of the NATS Streaming server.
func NATS(t testing.TB) (url, clusterID string) {
	t.Helper()
	url = require(t, EnvNATSURL, "a NATS Streaming server")
	clusterID = os.Getenv(EnvClusterID)
	if clusterID == "" {
		clusterID = DefaultClusterID
	}
	return url, clusterID
}

// JetStreamURL returns the URL of the NATS server with JetStream.
func JetStreamURL(t testing.TB) string {
	t.Helper()
	return require(t, EnvJetStreamURL, "a NATS server with JetStream")
}

// UniqueName returns a name derived from the test's name that no other
// test or run uses, made of [a-z0-9_] and short enough for a MongoDB
// database, a NATS Streaming channel or client id, or a JetStream stream.
func UniqueName(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	name := b.String()
	if len(name) > 40 {
		name = name[len(name)-40:] // subtest names are at the end, and tell most
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	return "t_" + name + "_" + hex.EncodeToString(suffix[:])
}

// DatabaseURI is MONGO_URI naming db as its database: what a service
// under test is configured with, to run on the database Mongo gave the
// test (and drops when it ends).
func DatabaseURI(t testing.TB, db *mongo.Database) string {
	t.Helper()
	u, err := url.Parse(MongoURI(t))
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvMongoURI, err)
	}
	u.Path = "/" + db.Name()
	return u.String()
}
