package jsclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
)

// Config configures a Client. URLs is required; every other field has a
// default, applied by Connect.
type Config struct {
	// URLs are the NATS servers (with JetStream) of one cluster, e.g.
	// nats://10.0.0.1:4222. nats.go discovers the rest of the cluster from
	// any of them.
	URLs []string
	// Name is the NATS connection name shown in server monitoring.
	// Default: "ticketkit".
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
	// declared lost. Defaults: 5s and 3.
	PingInterval time.Duration
	PingMaxOut   int
	// ConnectTimeout bounds one connection attempt, and each JetStream API
	// request (stream and consumer lookups). Default: 5s.
	ConnectTimeout time.Duration
	// AckTimeout is how long a published message waits for the stream's ack
	// before it is sent again (with the same Nats-Msg-Id, so the stream
	// drops the copy if the first one was stored). Default: 10s.
	AckTimeout time.Duration
	// MaxPubAcksInFlight bounds the messages published and not yet
	// acknowledged, over all calls (jetstream.WithPublishAsyncMaxPending).
	// Default: 4096.
	MaxPubAcksInFlight int

	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// connection attempts, reconnections, and retries of publishes and
	// consumer set-up. Defaults: 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration

	// PublishWait bounds how long Publish, PublishBatch, Subscribe and
	// Subscription.Close wait for a lost connection to come back when their
	// context has no deadline, so that a forgotten context.Background()
	// can't hang a caller for ever. A context with a deadline is obeyed as
	// it is. Default: 30s.
	PublishWait time.Duration

	// Streams are created, or updated to match, by Connect (and by
	// Provision). Leave it empty when streams are managed elsewhere (the
	// nats CLI, Terraform): then they must exist before anyone publishes.
	// DefaultStream captures the cluster's subjects.
	Streams []Stream

	// Consumer settings, for every durable consumer this client creates or
	// updates (members of a queue group share one consumer: the last to
	// subscribe sets them).
	Consumer ConsumerSettings

	// Logger receives connection events. Default: discard.
	Logger *slog.Logger
	// OnStateChange, when set, is called on every change of Status, in
	// order, with the error that caused it (nil for Connected and Closed).
	// It runs on the client's own goroutines: it must return quickly and
	// must not call Close.
	OnStateChange func(s State, cause error)
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
}

// DefaultStreamName names the stream DefaultStream returns.
const DefaultStreamName = "TICKETS"

// ClusterSubjects are the cluster's subjects, as events defines them.
func ClusterSubjects() []string {
	subjects := []events.Subject{
		events.SubjectTicketCreated,
		events.SubjectTicketUpdated,
		events.SubjectOrderCreated,
		events.SubjectOrderCancelled,
		events.SubjectExpirationComplete,
		events.SubjectPaymentCreated,
	}
	out := make([]string, len(subjects))
	for i, s := range subjects {
		out[i] = string(s)
	}
	return out
}

// DefaultStream returns the stream for the cluster: DefaultStreamName,
// capturing ClusterSubjects, file storage, limits retention, one replica,
// nothing expired. Production sets Replicas and a MaxAge or MaxBytes.
func DefaultStream() Stream {
	return Stream{
		Name:        DefaultStreamName,
		Subjects:    ClusterSubjects(),
		Description: "ticketkit cluster events",
	}
}

// DeadLetterStream returns a stream of its own for a service's dead-letter
// subject (events.DeadLetterSubject), which must be captured for dead
// letters to be republished. A stream of its own, not a subject added to the
// cluster's: every service provisions that one, and they must all give it
// the same subjects, or each start rewrites the others'.
func DeadLetterStream(subject string) Stream {
	return Stream{
		Name:        "DLQ_" + sanitize(subject),
		Subjects:    []string{subject},
		Description: "dead letters of " + subject,
	}
}

// Defaults applied by Connect to zero fields.
const (
	DefaultName               = "ticketkit"
	DefaultPingInterval       = 5 * time.Second
	DefaultPingMaxOut         = 3
	DefaultConnectTimeout     = 5 * time.Second
	DefaultAckTimeout         = 10 * time.Second
	DefaultMaxPubAcksInFlight = 4096
	DefaultMinBackoff         = 100 * time.Millisecond
	DefaultMaxBackoff         = 5 * time.Second
	DefaultPublishWait        = 30 * time.Second
	DefaultPullBatch          = 256
	DefaultPullExpiry         = 30 * time.Second
	DefaultInactiveThreshold  = time.Minute
	DefaultDuplicates         = 2 * time.Minute
)

// DefaultNakDelays is ConsumerSettings.NakDelays' default.
func DefaultNakDelays() []time.Duration {
	return []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
}

// withDefaults validates cfg and returns it with defaults filled in. All
// problems are reported at once, so fixing a config takes one round.
func (cfg Config) withDefaults() (Config, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(cfg.URLs) == 0 {
		bad("URLs is empty")
	}
	for _, u := range cfg.URLs {
		if err := checkURL(u); err != nil {
			bad("URL %q: %v", redact([]string{u}), err)
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

	cs := &cfg.Consumer
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
		{"Consumer.PullExpiry", &cs.PullExpiry, DefaultPullExpiry},
		{"Consumer.InactiveThreshold", &cs.InactiveThreshold, DefaultInactiveThreshold},
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
	if cs.PullExpiry < 3*time.Second {
		bad("Consumer.PullExpiry %v is under 3s", cs.PullExpiry)
	}
	switch {
	case cfg.PingMaxOut == 0:
		cfg.PingMaxOut = DefaultPingMaxOut
	case cfg.PingMaxOut < 1:
		bad("PingMaxOut %d is below 1", cfg.PingMaxOut)
	}
	switch {
	case cfg.MaxPubAcksInFlight == 0:
		cfg.MaxPubAcksInFlight = DefaultMaxPubAcksInFlight
	case cfg.MaxPubAcksInFlight < 0:
		bad("MaxPubAcksInFlight %d is negative", cfg.MaxPubAcksInFlight)
	}
	switch {
	case cs.PullBatch == 0:
		cs.PullBatch = DefaultPullBatch
	case cs.PullBatch < 0:
		bad("Consumer.PullBatch %d is negative", cs.PullBatch)
	}
	if cs.MaxDeliver < 0 {
		bad("Consumer.MaxDeliver %d is negative (0 is unlimited)", cs.MaxDeliver)
	}
	if cs.NakDelays == nil {
		cs.NakDelays = DefaultNakDelays()
	}
	for _, d := range cs.NakDelays {
		if d < 0 {
			bad("Consumer.NakDelays has a negative delay (%v)", d)
		}
	}
	for _, d := range cs.AckBackoff {
		if d < time.Millisecond {
			bad("Consumer.AckBackoff has a delay under 1ms (%v)", d)
		}
	}
	if len(cs.AckBackoff) > 0 && cs.MaxDeliver > 0 && cs.MaxDeliver <= len(cs.AckBackoff) {
		bad("Consumer.MaxDeliver (%d) must exceed the length of AckBackoff (%d)", cs.MaxDeliver, len(cs.AckBackoff))
	}

	names := make(map[string]bool)
	for i := range cfg.Streams {
		s, err := cfg.Streams[i].withDefaults()
		if err != nil {
			bad("Streams[%d]: %v", i, err)
			continue
		}
		if names[s.Name] {
			bad("Streams[%d]: name %q given twice", i, s.Name)
		}
		names[s.Name] = true
		cfg.Streams[i] = s
	}

	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	if len(problems) > 0 {
		return cfg, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return cfg, nil
}

// withDefaults validates s and fills in Duplicates.
func (s Stream) withDefaults() (Stream, error) {
	var problems []string
	if s.Name == "" {
		problems = append(problems, "empty name")
	} else if !validName(s.Name) {
		problems = append(problems, fmt.Sprintf("name %q may only contain letters, digits, '-' and '_'", s.Name))
	}
	if len(s.Subjects) == 0 {
		problems = append(problems, "no subjects")
	}
	for _, subj := range s.Subjects {
		if subj == "" || strings.ContainsAny(subj, " \t\r\n") || strings.Contains(subj, "..") ||
			subj[0] == '.' || subj[len(subj)-1] == '.' {
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

// validName is the server's rule for stream names, kept to what is also
// safe as a directory name everywhere.
func validName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return name != ""
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
