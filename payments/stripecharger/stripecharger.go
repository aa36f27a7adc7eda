// Package stripecharger is the payments.Charger on Stripe, through
// github.com/stripe/stripe-go, Stripe's official client. It is a package
// of its own so that only a program that charges through Stripe links the
// client.
//
// It charges with the Charges API, as the cluster's Node payments service
// does (a token from Stripe.js as the source), sends the charge's
// idempotency key as Stripe's Idempotency-Key header, and records the
// order in the charge's metadata (order_id). stripe-go retries a request
// that failed in the network, with the same key, so a retry is one charge.
//
// Configured from the environment as the cluster's manifests configure the
// Node service: STRIPE_KEY (from the stripe-secret secret) is the secret
// key; STRIPE_API_BASE, when set, is another API host, such as stripe-mock
// for tests.
package stripecharger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/stripe/stripe-go/v83"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/payments"
)

// The environment variables FromEnv reads.
const (
	EnvKey     = "STRIPE_KEY"
	EnvAPIBase = "STRIPE_API_BASE"
)

// ErrNoKey is FromEnv's error when STRIPE_KEY is unset.
var ErrNoKey = errors.New("stripecharger: STRIPE_KEY is not set")

// Charger charges through Stripe. It is safe for concurrent use.
type Charger struct {
	client *stripe.Client
}

var _ payments.Charger = (*Charger)(nil)

// Option configures New.
type Option func(*config) error

type config struct {
	base    string
	http    *http.Client
	retries int64
}

// WithAPIBase sends requests to base (a URL such as
// "http://127.0.0.1:12111") instead of Stripe's API.
func WithAPIBase(base string) Option {
	return func(c *config) error {
		if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
			return fmt.Errorf("stripecharger: API base %q is not an http(s) URL", base)
		}
		c.base = strings.TrimSuffix(base, "/")
		return nil
	}
}

// WithHTTPClient makes requests with hc (its timeout bounds each one).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error { c.http = hc; return nil }
}

// WithRetries sets how often stripe-go retries a request that failed in
// the network or that Stripe asked to retry, with the same key (2 unless
// set).
func WithRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("stripecharger: %d retries", n)
		}
		c.retries = int64(n)
		return nil
	}
}

// New returns a Charger with secret key key.
func New(key string, opts ...Option) (*Charger, error) {
	if key == "" {
		return nil, ErrNoKey
	}
	cfg := config{retries: 2}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        cfg.http,
		MaxNetworkRetries: stripe.Int64(cfg.retries),
		// stripe-go logs to stderr by default; a library logs through
		// its caller's logger, and errors are returned anyway.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.base != "" {
		bc.URL = stripe.String(cfg.base)
	}
	return &Charger{client: stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))}, nil
}

// FromEnv returns a Charger configured from getenv (os.Getenv): STRIPE_KEY
// and, if set, STRIPE_API_BASE; opts apply after them. Without
// STRIPE_KEY, the error is ErrNoKey.
func FromEnv(getenv func(string) string, opts ...Option) (*Charger, error) {
	var all []Option
	if base := getenv(EnvAPIBase); base != "" {
		all = append(all, WithAPIBase(base))
	}
	return New(getenv(EnvKey), append(all, opts...)...)
}

// Charge implements payments.Charger.
func (c *Charger) Charge(ctx context.Context, ch payments.Charge) (payments.ChargeID, error) {
	params := &stripe.ChargeCreateParams{
		Amount:   stripe.Int64(int64(ch.Amount)),
		Currency: stripe.String(ch.Currency),
		Source:   &stripe.PaymentSourceSourceParams{Token: stripe.String(ch.Source)},
	}
	if ch.OrderID != "" {
		params.Metadata = map[string]string{"order_id": ch.OrderID}
	}
	if ch.IdempotencyKey != "" {
		params.IdempotencyKey = stripe.String(ch.IdempotencyKey)
	}
	charge, err := c.client.V1Charges.Create(ctx, params)
	if err != nil {
		return "", mapError(err)
	}
	if charge.ID == "" {
		return "", &ticketkit.Error{Code: ticketkit.EINTERNAL, Message: "Stripe answered a charge without an id"}
	}
	return payments.ChargeID(charge.ID), nil
}

// mapError turns what stripe-go returns into the Charger's errors, with
// Stripe's error as the cause for logs.
func mapError(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		// No answer from Stripe: the network, a timeout, a canceled
		// context. The charge may have been made; the key makes a
		// retry find it.
		return wrap(payments.ErrProviderUnavailable, "", err)
	}
	switch {
	case se.Type == stripe.ErrorTypeCard:
		return wrap(payments.ErrDeclined, se.Msg, err)
	case se.Type == stripe.ErrorTypeIdempotency:
		return wrap(payments.ErrKeyReused, "", err)
	case se.HTTPStatusCode == http.StatusConflict:
		// Another request with this key is running (or lock_timeout).
		return wrap(payments.ErrKeyInUse, "", err)
	case se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode >= 500 || se.Type == stripe.ErrorTypeAPI:
		return wrap(payments.ErrProviderUnavailable, "", err)
	case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden || se.Type != stripe.ErrorTypeInvalidRequest:
		// A bad or restricted key: ours to fix, so no details reach
		// the client.
		return &ticketkit.Error{Code: ticketkit.EINTERNAL, Message: "The payment provider refused the request", Err: err}
	case se.Param == "source" || strings.Contains(se.Msg, "token"):
		return &ticketkit.Error{Code: ticketkit.EINVALID, Message: se.Msg, Err: err,
			Fields: []ticketkit.FieldError{{Field: "token", Message: se.Msg}}}
	default:
		// Stripe refused the charge itself ("Amount must be at least
		// $0.50 usd"): its message says why, to the client too.
		return &ticketkit.Error{Code: ticketkit.EINVALID, Message: se.Msg, Err: err}
	}
}

// wrap returns an error like sentinel (so errors.Is matches it) with msg
// as its message if not empty, and cause.
func wrap(sentinel *ticketkit.Error, msg string, cause error) error {
	if msg == "" {
		msg = sentinel.Message
	}
	return &ticketkit.Error{Code: sentinel.Code, Reason: sentinel.Reason, Message: msg, Err: cause}
}
