package jsclient

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Environment variables read by FromEnv.
const (
	// EnvJetStreamURL holds the server URLs, comma-separated, and wins
	// over natsclient.EnvURL (NATS_URL) when both are set, so that one
	// environment can serve a NATS Streaming transport and this one, as
	// the bridge needs and as `make test` provides.
	EnvJetStreamURL = "NATS_JETSTREAM_URL"
	// EnvName is the connection name; by default the ClientID that
	// natsclient.FromEnv reads (NATS_CLIENT_ID, or host name and a random
	// suffix), so server monitoring tells instances apart.
	EnvName = "NATS_NAME"
	// EnvStream names the stream to provision (default: the name of the
	// stream FromEnv is given); "-"
	// provisions none, for streams managed elsewhere: Config.Streams is
	// then empty.
	EnvStream = "NATS_STREAM"
	// EnvStreamSubjects lists the stream's subjects, comma-separated.
	// Default: the subjects of the stream FromEnv is given.
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
// in a service, a map in a test): the connection as natsclient.FromEnv
// reads it (NATS_JETSTREAM_URL before NATS_URL), and Config.Streams:
// stream, tuned by the NATS_STREAM variables, or empty with NATS_STREAM=-
// (provision nothing). A service of the cluster passes
// jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()}; this
// package knows no application's subjects. Logger, OnStateChange, TLS and the
// timing fields are left for the caller to set. The result is checked as
// Connect would.
func FromEnv(getenv func(string) string, stream Stream) (Config, error) {
	cfg := Config{Config: natsclient.FromEnv(getenv)}
	var p natsconn.Problems
	if raw := getenv(EnvJetStreamURL); raw != "" {
		cfg.URLs = natsclient.ParseURLs(raw)
	}
	if len(cfg.URLs) == 0 {
		p.Add("set %s or %s", EnvJetStreamURL, natsclient.EnvURL)
	}
	cfg.Name = cmp.Or(getenv(EnvName), cfg.ClientID)

	if name := getenv(EnvStream); name != "-" {
		s := stream
		s.Subjects = slices.Clone(stream.Subjects)
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
