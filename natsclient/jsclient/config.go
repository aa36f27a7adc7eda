package jsclient

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Config configures a Client: the connection, natsclient.Config (URLs is
// required; Name defaults to ClientID, else DefaultName; ClusterID is
// ignored; AckTimeout is how long a publish waits for the stream's ack
// before it is sent again with the same Nats-Msg-Id, and may be short, and
// PingMaxOut may be 1), and what JetStream adds. Every field but URLs has a
// default, applied by Connect, which reports every problem at once.
type Config struct {
	natsclient.Config

	// Streams are created, or updated to match, by Connect (and by
	// Provision). This package knows no application's subjects: the
	// cluster's stream is wire.StreamName capturing wire.Subjects().
	//
	// Empty means provision nothing: streams are managed elsewhere (the
	// nats CLI, Terraform) and must exist before anyone publishes. FromEnv
	// leaves it empty for NATS_STREAM=-, and always lists the stream it is
	// given (tuned by the environment) otherwise, so a service that adds streams of its own to
	// FromEnv's (a DeadLetterStream) adds them only when Streams is not
	// empty: then the operator's "-" covers those too.
	Streams []Stream

	// Consumer settings, for every durable consumer this client creates or
	// updates (members of a queue group share one consumer: the last to
	// subscribe sets them).
	Consumer ConsumerSettings
}

// ConsumerSettings are the JetStream consumer settings that have no
// counterpart in events.SubscribeOptions. AckWait and MaxInFlight come
// from the subscription (the Listener's AckWait and MaxInFlight options).
type ConsumerSettings struct {
	// MaxDeliver is how many times the server delivers a message before
	// giving up on it (silently: it stays in the stream, but this consumer
	// won't see it again). Default 0: unlimited, as NATS Streaming. Keep it
	// above the Listener's MaxDeliveries, which dead-letters instead.
	MaxDeliver int
	// NakDelays is how long a message the handler failed (Message.Nack)
	// waits before it comes back: NakDelays[n-1] after its n-th delivery,
	// the last entry for every later one. It keeps a failing message, or
	// one returned with events.ErrOutOfOrder, from spinning. Default:
	// 100ms, 500ms, 1s, 2s, 5s. A single 0 entry redelivers at once.
	//
	// It is the client's, for all its subscriptions, while the ack wait is
	// each subscription's (the Listener's AckWait), and the two don't mix:
	// a nacked message comes back after its nak delay, shorter or longer
	// than the ack wait; the ack wait brings back only what was neither
	// acked nor nacked (a crash, a handler still running, a lost ack).
	// NATS Streaming has no nak: there a failed message comes back after
	// the ack wait. To keep that timing, set NakDelays to the ack wait,
	// []time.Duration{ackWait}; that is one ack wait for the whole client,
	// so listeners with different ack waits need a client each to keep
	// theirs. With AckBackoff, the server adds the schedule's growth: a
	// message nacked on its n-th delivery comes back after NakDelays[n-1]
	// + AckBackoff[n-1] - AckBackoff[0] (the last entries past the end).
	NakDelays []time.Duration
	// AckBackoff, when set, is the server's redelivery schedule for
	// messages that were not acknowledged at all (a crashed or stuck
	// consumer): the n-th delivery waits AckBackoff[n-1] for its ack. It
	// replaces the subscription's AckWait (the server's rule), and needs
	// MaxDeliver unlimited or above its length. Default: none, AckWait
	// every time.
	AckBackoff []time.Duration
	// PullBatch bounds the messages a member pulls ahead of its handler.
	// Default: 256 (or the subscription's MaxInFlight, if lower).
	PullBatch int
	// PullExpiry is how long a pull request waits at the server; the
	// client renews it before it ends, with idle heartbeats every
	// PullExpiry/6 so that a lost request is noticed. Default: 30s.
	PullExpiry time.Duration
	// InactiveThreshold is how long the server keeps a non-durable
	// consumer with no member before deleting it. Default: 1m.
	InactiveThreshold time.Duration
}

// Stream is a JetStream stream this package provisions. Zero fields take
// the server's defaults unless noted.
type Stream struct {
	// Name: letters, digits, '-' and '_'. Required.
	Name string
	// Subjects the stream captures, wildcards allowed: "ticket:created",
	// "conformance.>". Required. Two streams may not capture one subject.
	Subjects []string
	// Description shows in monitoring.
	Description string
	// Retention: limits (the default, and NATS Streaming's: messages stay
	// until a limit removes them, so a new durable can replay history),
	// interest or work queue (one consumer per subject: not for the
	// cluster, whose subjects have several consuming services).
	Retention jetstream.RetentionPolicy
	// Storage: file (the default) or memory.
	Storage jetstream.StorageType
	// Replicas: 1 (default) to 5, in a JetStream cluster.
	Replicas int
	// Limits; 0 is unlimited.
	MaxAge            time.Duration
	MaxBytes          int64
	MaxMsgs           int64
	MaxMsgsPerSubject int64
	// Duplicates is the deduplication window: a message whose Nats-Msg-Id
	// the stream stored within it is acknowledged and dropped. Default:
	// 2m (the server's). It must cover the outbox relay's and the bridge's
	// retries (see docs/migration.md); the server keeps every ID of the
	// window in memory.
	Duplicates time.Duration

	// Exact makes provisioning set the stream to exactly these settings.
	// By default an existing stream keeps whatever is stronger of its own
	// settings and these: more replicas, a longer or larger limit where
	// this sets one (a limit left 0 here stays as the stream has it), a
	// longer Duplicates window, the union of the subjects, and an
	// operator's settings of fields this type has none of; each kept
	// difference is logged at Warn. Every
	// instance of every service provisions the shared stream, and one
	// deployed without NATS_STREAM_REPLICAS must not scale it down.
	Exact bool

	// Background provisions the stream without holding up Connect: a
	// goroutine retries until it succeeds or the client closes, logging
	// each failure. Until then, publishes to its subjects fail (and are
	// retried by their callers: a Listener keeps a dead letter
	// unacknowledged until it can be republished). For streams a service
	// can serve without, such as its dead letters'.
	Background bool
}

// DeadLetterStream returns a stream of its own for a service's dead
// letters, which must be captured for the Listener to republish them. It
// captures prefix and every subject under it, prefix.>, so it stores both
// a Listener's events.DeadLetterSubject(prefix) and the convention of one
// dead-letter subject per source, events.DeadLetterSubject(prefix + "." +
// source), as the tickets service does: prefix
// "tickets-service:dead-letter" captures
// "tickets-service:dead-letter.order:created". prefix is a plain subject,
// without wildcards (Connect and Provision reject "x.>"). The stream is
// named "DLQ_" and prefix, with every character a stream name can't hold
// made '_': DLQ_tickets-service_dead-letter. Prefixes that differ only in
// such characters ("a:b", "a_b") get one name, so give services prefixes
// that differ in letters or digits.
//
// A stream of its own, not subjects added to the cluster's: every service
// provisions that one, and they must all give it the same subjects, or
// each start rewrites the others'.
//
// It is provisioned in the Background: a service serves while it can't be
// (its node down), and its dead letters wait until it can. Give it the
// service's stream's Replicas (service.Config.JetStreamConfig does), so
// that it is as available as the events it keeps.
func DeadLetterStream(prefix string) Stream {
	return Stream{
		Name:        "DLQ_" + sanitize(prefix),
		Subjects:    []string{prefix, prefix + ".>"},
		Description: "dead letters published to " + prefix + " and under it",
		Background:  true,
	}
}

// Defaults applied by Connect to zero fields besides natsclient's:
// JetStream's own for publishing and consuming.
const (
	DefaultName               = "ticketkit"
	DefaultAckTimeout         = 10 * time.Second
	DefaultMaxPubAcksInFlight = 4096
	DefaultPullBatch          = 256
	DefaultPullExpiry         = 30 * time.Second
	DefaultInactiveThreshold  = time.Minute
	DefaultDuplicates         = 2 * time.Minute
)

// DefaultNakDelays is ConsumerSettings.NakDelays' default.
func DefaultNakDelays() []time.Duration {
	return []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
}

// withDefaults validates cfg and returns it with its JetStream fields
// defaulted, and its connection fields as natsconn.Settings, defaulted.
// All problems are reported at once, so fixing a config takes one round.
func (cfg Config) withDefaults() (Config, natsconn.Settings, error) {
	var p natsconn.Problems
	s := natsconn.Settings{Config: cfg.Config}
	if s.Name == "" {
		s.Name = cmp.Or(cfg.ClientID, DefaultName)
	}
	s.Check(&p, 1)

	cs := &cfg.Consumer
	p.Duration("AckTimeout", &cfg.AckTimeout, DefaultAckTimeout)
	p.Duration("Consumer.PullExpiry", &cs.PullExpiry, DefaultPullExpiry)
	p.Duration("Consumer.InactiveThreshold", &cs.InactiveThreshold, DefaultInactiveThreshold)
	if cs.PullExpiry < 3*time.Second {
		p.Add("Consumer.PullExpiry %v is under 3s", cs.PullExpiry)
	}
	switch {
	case cfg.MaxPubAcksInFlight == 0:
		cfg.MaxPubAcksInFlight = DefaultMaxPubAcksInFlight
	case cfg.MaxPubAcksInFlight < 0:
		p.Add("MaxPubAcksInFlight %d is negative", cfg.MaxPubAcksInFlight)
	}
	switch {
	case cs.PullBatch == 0:
		cs.PullBatch = DefaultPullBatch
	case cs.PullBatch < 0:
		p.Add("Consumer.PullBatch %d is negative", cs.PullBatch)
	}
	if cs.MaxDeliver < 0 {
		p.Add("Consumer.MaxDeliver %d is negative (0 is unlimited)", cs.MaxDeliver)
	}
	if cs.NakDelays == nil {
		cs.NakDelays = DefaultNakDelays()
	}
	for _, d := range cs.NakDelays {
		if d < 0 {
			p.Add("Consumer.NakDelays has a negative delay (%v)", d)
		}
	}
	for _, d := range cs.AckBackoff {
		if d < time.Millisecond {
			p.Add("Consumer.AckBackoff has a delay under 1ms (%v)", d)
		}
	}
	if len(cs.AckBackoff) > 0 && cs.MaxDeliver > 0 && cs.MaxDeliver <= len(cs.AckBackoff) {
		p.Add("Consumer.MaxDeliver (%d) must exceed the length of AckBackoff (%d)", cs.MaxDeliver, len(cs.AckBackoff))
	}

	names := make(map[string]bool)
	for i := range cfg.Streams {
		st, err := cfg.Streams[i].withDefaults()
		if err != nil {
			p.Add("Streams[%d]: %v", i, err)
			continue
		}
		if names[st.Name] {
			p.Add("Streams[%d]: name %q given twice", i, st.Name)
		}
		names[st.Name] = true
		cfg.Streams[i] = st
	}
	return cfg, s, p.Err("jsclient")
}

// withDefaults validates s and fills in Duplicates.
func (s Stream) withDefaults() (Stream, error) {
	var problems []string
	if s.Name == "" {
		problems = append(problems, "empty name")
	} else if !natsclient.ValidName(s.Name) {
		problems = append(problems, fmt.Sprintf("name %q may only contain letters, digits, '-' and '_'", s.Name))
	}
	if len(s.Subjects) == 0 {
		problems = append(problems, "no subjects")
	}
	for _, subj := range s.Subjects {
		if !validSubject(subj) {
			problems = append(problems, fmt.Sprintf("invalid subject %q", subj))
		}
	}
	if s.Replicas < 0 || s.Replicas > 5 {
		problems = append(problems, fmt.Sprintf("replicas %d is not within 1..5", s.Replicas))
	}
	for _, v := range []struct {
		name string
		n    int64
	}{{"MaxAge", int64(s.MaxAge)}, {"MaxBytes", s.MaxBytes}, {"MaxMsgs", s.MaxMsgs}, {"MaxMsgsPerSubject", s.MaxMsgsPerSubject}, {"Duplicates", int64(s.Duplicates)}} {
		if v.n < 0 {
			problems = append(problems, fmt.Sprintf("%s is negative", v.name))
		}
	}
	if s.Duplicates == 0 {
		s.Duplicates = DefaultDuplicates
		if s.MaxAge > 0 && s.MaxAge < s.Duplicates {
			s.Duplicates = s.MaxAge
		}
	}
	if s.MaxAge > 0 && s.Duplicates > s.MaxAge {
		problems = append(problems, fmt.Sprintf("Duplicates (%v) exceeds MaxAge (%v)", s.Duplicates, s.MaxAge))
	}
	if len(problems) > 0 {
		return s, errors.New(strings.Join(problems, ", "))
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	return s, nil
}

// jetstream returns the server's form of s.
func (s Stream) jetstream() jetstream.StreamConfig {
	unlimited := func(n int64) int64 {
		if n == 0 {
			return -1
		}
		return n
	}
	return jetstream.StreamConfig{
		Name:              s.Name,
		Description:       s.Description,
		Subjects:          s.Subjects,
		Retention:         s.Retention,
		Storage:           s.Storage,
		Replicas:          s.Replicas,
		MaxAge:            s.MaxAge,
		MaxBytes:          unlimited(s.MaxBytes),
		MaxMsgs:           unlimited(s.MaxMsgs),
		MaxMsgsPerSubject: unlimited(s.MaxMsgsPerSubject),
		MaxConsumers:      -1,
		MaxMsgSize:        -1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        s.Duplicates,
	}
}

// validSubject is the server's rule for a stream's subjects: dot-separated
// tokens, none empty or holding white space, and '>' only as the last.
func validSubject(subject string) bool {
	tokens := strings.Split(subject, ".")
	for i, t := range tokens {
		if t == "" || strings.ContainsAny(t, " \t\r\n\f") || t == ">" && i < len(tokens)-1 {
			return false
		}
	}
	return true
}
