package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit/natsclient"
)

// Settings is a transport's natsclient.Config as natsconn checks and uses
// it (Check, Backoff, DialTimeout, Bound).
type Settings struct {
	natsclient.Config
}

// Defaults that Check applies to zero fields: natsclient's.
const (
	DefaultPingInterval   = natsclient.DefaultPingInterval
	DefaultPingMaxOut     = natsclient.DefaultPingMaxOut
	DefaultConnectTimeout = natsclient.DefaultConnectTimeout
	DefaultMinBackoff     = natsclient.DefaultMinBackoff
	DefaultMaxBackoff     = natsclient.DefaultMaxBackoff
	DefaultPublishWait    = natsclient.DefaultPublishWait
)

// Problems collects what is wrong with a config, so that all of it is
// reported at once and fixing a config takes one round.
type Problems []string

// Add records a problem.
func (p *Problems) Add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// Duration records a negative *d as a problem, and sets a zero one to def.
func (p *Problems) Duration(name string, d *time.Duration, def time.Duration) {
	switch {
	case *d < 0:
		p.Add("%s is negative (%v)", name, *d)
	case *d == 0:
		*d = def
	}
}

// Err is nil without problems, else an error wrapping ErrInvalidConfig
// that lists them, after pkg's name.
func (p Problems) Err(pkg string) error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w: %s", pkg, ErrInvalidConfig, strings.Join(p, "; "))
}

// Check records s's problems in p and fills in its defaults, all but
// Name's, which each driver defaults its own way. minPingMaxOut is the
// least PingMaxOut the driver's protocol accepts.
func (s *Settings) Check(p *Problems, minPingMaxOut int) {
	if len(s.URLs) == 0 {
		p.Add("URLs is empty")
	}
	for _, u := range s.URLs {
		if err := checkURL(u); err != nil {
			p.Add("URL %q: %v", Redact([]string{u}), err)
		}
	}

	methods := 0
	if s.User != "" {
		methods++
	} else if s.Password != "" {
		p.Add("Password is set without User")
	}
	for _, set := range []bool{s.Token != "", s.NKeySeedFile != "", s.CredsFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		p.Add("set at most one of User/Password, Token, NKeySeedFile and CredsFile")
	}
	// Read at every connection attempt; checked now so a typo fails at
	// startup rather than as an endless reconnect.
	for _, file := range [][2]string{{"NKeySeedFile", s.NKeySeedFile}, {"CredsFile", s.CredsFile}} {
		if file[1] == "" {
			continue
		}
		if f, err := os.Open(file[1]); err != nil {
			p.Add("%s: %v", file[0], err)
		} else {
			f.Close()
		}
	}

	p.Duration("PingInterval", &s.PingInterval, DefaultPingInterval)
	p.Duration("ConnectTimeout", &s.ConnectTimeout, DefaultConnectTimeout)
	p.Duration("MinBackoff", &s.MinBackoff, DefaultMinBackoff)
	p.Duration("MaxBackoff", &s.MaxBackoff, DefaultMaxBackoff)
	p.Duration("PublishWait", &s.PublishWait, DefaultPublishWait)
	if s.MaxBackoff < s.MinBackoff {
		p.Add("MaxBackoff (%v) is below MinBackoff (%v)", s.MaxBackoff, s.MinBackoff)
	}
	switch {
	case s.PingMaxOut == 0:
		s.PingMaxOut = DefaultPingMaxOut
	case s.PingMaxOut < minPingMaxOut:
		p.Add("PingMaxOut %d is below %d", s.PingMaxOut, minPingMaxOut)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
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

// Redact drops credentials from URLs (nats://user:password@host, or a
// token as the user), which must not end up in errors and logs, and joins
// them with commas.
func Redact(urls []string) string {
	out := make([]string, len(urls))
	for i, raw := range urls {
		out[i] = raw
		s := raw
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		if u, err := url.Parse(s); err == nil && u.User != nil {
			u.User = nil
			out[i] = u.String()
		} else if err != nil {
			out[i] = "(unparsable URL)"
		}
	}
	return strings.Join(out, ",")
}

// Backoff returns the wait before retry number attempt (from 0):
// exponential from MinBackoff, capped at MaxBackoff, jittered over its
// upper half so that a cluster's clients don't reconnect in lockstep.
func (s *Settings) Backoff(attempt int) time.Duration {
	d := s.MinBackoff
	for i := 0; i < attempt && d < s.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// DialTimeout bounds one connection attempt: ConnectTimeout, cut to ctx's
// deadline.
func (s *Settings) DialTimeout(ctx context.Context) time.Duration {
	d := s.ConnectTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, max(time.Until(dl), time.Millisecond))
	}
	return d
}

// Bound applies PublishWait to a context without a deadline.
func (s *Settings) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.PublishWait)
}
