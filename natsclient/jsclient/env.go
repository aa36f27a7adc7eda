package jsclient

import (
	"strconv"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Environment variables read by FromEnv.
const (
	// EnvURL and EnvJetStreamURL hold the server URLs, comma-separated.
	// NATS_JETSTREAM_URL wins when both are set, so that one environment
	// can serve a NATS Streaming transport (NATS_URL) and this one, as the
	// bridge needs and as `make test` provides.
	EnvURL          = natsclient.EnvURL
	EnvJetStreamURL = "NATS_JETSTREAM_URL"
	// EnvName is the connection name; NATS_CLIENT_ID, the NATS Streaming
	// client id of the same service, is used when it is unset, and
	// natsclient.DefaultClientID() (host name and a random suffix) when
	// both are, so server monitoring tells instances apart.
	EnvName     = "NATS_NAME"
	EnvClientID = natsclient.EnvClientID
	// Authentication, at most one kind: the same variables as natsclient.
	EnvUser      = natsclient.EnvUser
	EnvPassword  = natsclient.EnvPassword
	EnvToken     = natsclient.EnvToken
	EnvNKeySeed  = natsclient.EnvNKeySeed
	EnvCredsFile = natsclient.EnvCredsFile
	// EnvStream names the stream to provision (default TICKETS); "-"
	// provisions none, for streams managed elsewhere: Config.Streams is
	// then empty.
	EnvStream = "NATS_STREAM"
	// EnvStreamSubjects lists the stream's subjects, comma-separated.
	// Default: the cluster's subjects.
	EnvStreamSubjects = "NATS_STREAM_SUBJECTS"
	// EnvStreamExtraSubjects adds subjects to those, comma-separated. Every
	// service provisions the stream, so all must give the same list; a
	// service's own dead-letter subjects belong in its DeadLetterStream.
	EnvStreamExtraSubjects = "NATS_STREAM_EXTRA_SUBJECTS"
	// EnvStreamReplicas, EnvStreamMaxAge (a Go duration: 168h) and
	// EnvStreamDuplicates (the dedup window: 10m) tune the stream.
	EnvStreamReplicas   = "NATS_STREAM_REPLICAS"
	EnvStreamMaxAge     = "NATS_STREAM_MAX_AGE"
	EnvStreamDuplicates = "NATS_STREAM_DUPLICATES"
)

// FromEnv builds a Config from the environment, through getenv (os.Getenv
// in a service, a map in a test). Config.Streams is DefaultStream, tuned
// by the NATS_STREAM variables, or empty with NATS_STREAM=- (provision
// nothing). The connection name defaults as natsclient.FromEnv's client id
// does, to natsclient.DefaultClientID(). Logger, OnStateChange, TLS and the
// timing fields are left for the caller to set. The result is checked as
// Connect would.
func FromEnv(getenv func(string) string) (Config, error) {
	var cfg Config
	var p natsconn.Problems
	raw := getenv(EnvJetStreamURL)
	if raw == "" {
		raw = getenv(EnvURL)
	}
	cfg.URLs = natsclient.ParseURLs(raw)
	if len(cfg.URLs) == 0 {
		p.Add("set %s or %s", EnvJetStreamURL, EnvURL)
	}
	cfg.Name = getenv(EnvName)
	if cfg.Name == "" {
		cfg.Name = getenv(EnvClientID)
	}
	if cfg.Name == "" {
		cfg.Name = natsclient.DefaultClientID()
	}
	cfg.User, cfg.Password = getenv(EnvUser), getenv(EnvPassword)
	cfg.Token = getenv(EnvToken)
	cfg.NKeySeedFile = getenv(EnvNKeySeed)
	cfg.CredsFile = getenv(EnvCredsFile)

	if name := getenv(EnvStream); name != "-" {
		s := DefaultStream()
		if name != "" {
			s.Name = name
		}
		if subjects := getenv(EnvStreamSubjects); subjects != "" {
			s.Subjects = splitList(subjects)
		}
		s.Subjects = append(s.Subjects, splitList(getenv(EnvStreamExtraSubjects))...)
		if v := getenv(EnvStreamReplicas); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				p.Add("%s: %v", EnvStreamReplicas, err)
			}
			s.Replicas = n
		}
		for _, d := range []struct {
			name string
			to   *time.Duration
		}{{EnvStreamMaxAge, &s.MaxAge}, {EnvStreamDuplicates, &s.Duplicates}} {
			if v := getenv(d.name); v != "" {
				var err error
				if *d.to, err = time.ParseDuration(v); err != nil {
					p.Add("%s: %v", d.name, err)
				}
			}
		}
		cfg.Streams = []Stream{s}
	}
	if err := p.Err("jsclient"); err != nil {
		return cfg, err
	}
	if _, _, err := cfg.withDefaults(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
