package natsclient

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
)

// Environment variables read by FromEnv: the cluster's own names, so a Go
// service reads the manifests written for the Node services.
const (
	EnvURL       = "NATS_URL"        // server URLs, comma-separated: list every node of a cluster (see ParseURLs)
	EnvClusterID = "NATS_CLUSTER_ID" // the streaming cluster id
	EnvClientID  = "NATS_CLIENT_ID"  // default: DefaultClientID
	// Authentication, at most one kind.
	EnvUser      = "NATS_USER"
	EnvPassword  = "NATS_PASSWORD"
	EnvToken     = "NATS_TOKEN"
	EnvNKeySeed  = "NATS_NKEY_SEED_FILE"
	EnvCredsFile = "NATS_CREDS_FILE"
)

// FromEnv reads a Config from the environment, through getenv (os.Getenv in
// a service, a map in a test), defaulting ClientID to DefaultClientID().
// Logger, OnStateChange, TLS and the timing fields are left for the caller.
// Each transport's Connect checks the result (streaming.FromEnv and
// jsclient.FromEnv read and check it at once).
func FromEnv(getenv func(string) string) Config {
	cfg := Config{
		URLs:         ParseURLs(getenv(EnvURL)),
		ClusterID:    getenv(EnvClusterID),
		ClientID:     getenv(EnvClientID),
		User:         getenv(EnvUser),
		Password:     getenv(EnvPassword),
		Token:        getenv(EnvToken),
		NKeySeedFile: getenv(EnvNKeySeed),
		CredsFile:    getenv(EnvCredsFile),
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID()
	}
	return cfg
}

// ParseURLs reads a NATS_URL as the Node services do: a comma-separated
// list of servers of one cluster.
//
// List every node of a cluster (or a name that resolves to all of them,
// as a Kubernetes headless service does). A running client learns the
// other nodes from the server and fails over to them by itself, but a
// client starting up knows only what is listed: with one node listed and
// that node down, it waits until the node is back, however many others
// are up. Their manifests say http://nats-srv:4222,
// which node-nats-streaming accepts because it ignores the scheme; nats.go
// does not, so http becomes nats and https becomes tls.
func ParseURLs(s string) []string {
	var urls []string
	for u := range strings.SplitSeq(s, ",") {
		u = strings.TrimSpace(u)
		if rest, ok := strings.CutPrefix(u, "http://"); ok {
			u = "nats://" + rest
		} else if rest, ok := strings.CutPrefix(u, "https://"); ok {
			u = "tls://" + rest
		}
		if u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// DefaultClientID is the host name plus a random suffix, in the server's
// alphabet: two replicas on one host, or a restart before the server
// dropped the old connection, must not share a client id. Kubernetes
// manifests usually set NATS_CLIENT_ID to the pod name instead.
func DefaultClientID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "client"
	}
	host = SafeName(host, '-')
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	return host + "-" + hex.EncodeToString(suffix[:])
}
