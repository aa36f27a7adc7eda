// Package authsvc is the auth service on ticketkit, as the command
// auth-service runs it: the cluster's Node auth service's four routes
// (signup, signin, signout, currentuser), its error bodies, its
// express:sess cookie (session.SetCookie, session.ClearCookie) and its
// password hashes (package password), over users in its own collection
// "users" in the Node service's document shape ({_id, email, password}),
// so either service reads the other's users.
//
// Where the Node service is weak, this one is not:
//   - the email is unique in the database (store.Unique), so two
//     simultaneous signups of one email can't both succeed;
//   - sign-in attempts are limited per email and per client address
//     (SigninLimit), answered 429 with Retry-After;
//   - a token may be given a lifetime (TokenTTL, JWT_TTL); by default it
//     has none, as Node's, so that the Node services' tokens stay alike.
//
// The auth service publishes no event, as the Node one publishes none.
// It is a package apart from its command so that another program (a
// whole cluster in one process, a system test) can run it too.
package authsvc

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/ticketkit/ticketkit/service"
)

// Name is the service's name: its database when MONGO_URI names none.
const Name = "auth-service"

// Collection is the users' collection, as Mongoose names it for the Node
// service's User model.
const Collection = "users"

// Defaults of the sign-in limit: 10 attempts a minute, per email and per
// client address.
const (
	DefaultSigninAttempts = 10
	DefaultSigninWindow   = time.Minute
)

// Option configures New.
type Option func(*settings) error

type settings struct {
	ttl      time.Duration
	attempts int
	window   time.Duration
	hashes   int
	now      func() time.Time
}

// TokenTTL gives the tokens the service signs an exp of d after their
// iat (the JWT_TTL variable), which every service of the cluster, Node's
// (jsonwebtoken's verify) or Go's (session.Verifier), enforces. 0, the
// default, signs none, as the Node auth service: a token is then good
// until JWT_KEY changes, however long the browser keeps the cookie.
func TokenTTL(d time.Duration) Option {
	return func(c *settings) error {
		if d < 0 {
			return fmt.Errorf("authsvc: TokenTTL(%v): negative", d)
		}
		c.ttl = d
		return nil
	}
}

// SigninLimit allows n sign-in attempts per window for each email and
// for each client address, refilled evenly over the window (a token
// bucket of n); an attempt beyond is answered 429 with Retry-After, and
// is not tried. The limits are held in the instance's memory: with k
// instances behind a load balancer, a client may get up to k times n
// attempts per window. That still bounds a guesser to a few hundred
// passwords an hour per email, where the Node service allows as many as
// it can hash.
func SigninLimit(n int, window time.Duration) Option {
	return func(c *settings) error {
		if n < 1 || window <= 0 {
			return fmt.Errorf("authsvc: SigninLimit(%d, %v): at least one attempt in a positive window", n, window)
		}
		c.attempts, c.window = n, window
		return nil
	}
}

// Clock sets the time source of the sign-in limits, for tests.
func Clock(now func() time.Time) Option {
	return func(c *settings) error {
		if now == nil {
			return fmt.Errorf("authsvc: nil Clock")
		}
		c.now = now
		return nil
	}
}

// New returns the service's Build with opts.
func New(opts ...Option) (service.Build, error) {
	c := settings{
		attempts: DefaultSigninAttempts, window: DefaultSigninWindow, now: time.Now,
		// Each scrypt takes 16 MiB: at most this many at once, so a burst
		// of signups costs CPU time, not memory without bound.
		hashes: max(2, runtime.GOMAXPROCS(0)),
	}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("authsvc: nil Option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, s *service.Service) (http.Handler, error) {
		return build(ctx, s, c)
	}, nil
}

// FromEnv returns the service's Build configured by the environment:
// JWT_TTL, a Go duration ("24h"), empty for none.
func FromEnv(getenv func(string) string) (service.Build, error) {
	var opts []Option
	if v := getenv("JWT_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("JWT_TTL=%q: want a duration such as 24h", v)
		}
		opts = append(opts, TokenTTL(d))
	}
	return New(opts...)
}

// Build adds the auth service with the default settings to s
// (service.Build).
func Build(ctx context.Context, s *service.Service) (http.Handler, error) {
	b, err := New()
	if err != nil {
		return nil, err
	}
	return b(ctx, s)
}

func build(ctx context.Context, s *service.Service, c settings) (http.Handler, error) {
	users, err := service.Collection[User](ctx, s, Collection)
	if err != nil {
		return nil, err
	}
	a := &api{
		users:  users,
		verify: s.Verifier(),
		key:    s.Config().JWTKey,
		ttl:    c.ttl,
		limit:  newLimiter(c.attempts, c.window, c.now),
		hashes: make(chan struct{}, c.hashes),
		log:    s.Logger(),
	}
	return a.routes(), nil
}
