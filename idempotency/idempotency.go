// Package idempotency makes a create safe to retry: a client sends an
// Idempotency-Key header (as in the IETF httpapi draft and Stripe's API)
// with a create, and the same key with the same request does the work
// once, across instances and restarts, however often it is sent.
//
// The key is stored with the aggregate it created, in the same
// single-document write (store.Collection.Insert reads it from the
// context), under a unique index: the first request costs no extra round
// trip, and a repeated one fails that insert and finds the earlier
// document by its key instead. So the check is exactly as atomic as the
// write, on MongoDB standalone or a replica set, with no transaction and
// no store of keys beside the data.
//
// httpapi.Idempotent reads the header and puts a Key in the request's
// context; the stores honour it; a domain's create turns the Replayed
// error a store returns into the earlier aggregate, answered as it is now
// (with the header Idempotent-Replayed: true). The same key with another
// request is ErrReused (answered 422). Keys expire after their TTL
// (DefaultTTL, 24 hours, as Stripe's do): a key reused after that creates
// anew.
//
// A key is scoped to its caller (the signed-in user), so one client's key
// can neither collide with nor reveal another's.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/ticketkit/ticketkit"
)

// DefaultTTL is how long a key is remembered: a retry within it repeats
// the first answer, one after it creates anew.
const DefaultTTL = 24 * time.Hour

// MaxLength bounds a client's key, as Stripe's do.
const MaxLength = 255

// Key is one create's idempotency key, as a store keeps it with the
// document it created.
type Key struct {
	// ID is unique per caller and client key: a hash of both, so that
	// it has a fixed length and nothing a client sent is stored as is.
	ID string
	// Request is a hash of the request the key came with (its method,
	// path and body): the same key with another request is refused.
	Request string
	// Expires is when the key is forgotten.
	Expires time.Time

	replayed *atomic.Pointer[string]
}

// New returns the Key of a client's key sent by caller scope (a user
// id) with request (a canonical form of what was asked: method, path,
// body), remembered for ttl from now (DefaultTTL if ttl <= 0).
func New(scope, key string, request []byte, ttl time.Duration) Key {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return Key{
		ID:       hash([]byte(scope), []byte(key)),
		Request:  hash(request),
		Expires:  time.Now().Add(ttl).UTC().Truncate(time.Millisecond),
		replayed: new(atomic.Pointer[string]),
	}
}

// hash is the hex SHA-256 of parts, each length-prefixed so that no two
// different lists of parts hash alike.
func hash(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		l := uint64(len(p))
		for i := range n {
			n[i] = byte(l >> (56 - 8*i))
		}
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Expired reports whether k is forgotten at now.
func (k Key) Expired(now time.Time) bool { return !k.Expires.IsZero() && now.After(k.Expires) }

type ctxKey struct{}

// NewContext returns ctx carrying k: the creates made with it store k.
func NewContext(ctx context.Context, k Key) context.Context {
	return context.WithValue(ctx, ctxKey{}, k)
}

// FromContext returns the Key ctx carries, if any.
func FromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(ctxKey{}).(Key)
	return k, ok
}

// MarkReplayed records, on the request ctx belongs to, that its create
// was answered from an earlier one's document (id): httpapi.Idempotent
// says so in the answer's Idempotent-Replayed header. Stores call it.
func MarkReplayed(ctx context.Context, id string) {
	if k, ok := FromContext(ctx); ok && k.replayed != nil {
		k.replayed.Store(&id)
	}
}

// ReplayedID returns the id MarkReplayed recorded on ctx's request.
func ReplayedID(ctx context.Context) (string, bool) {
	k, ok := FromContext(ctx)
	if !ok || k.replayed == nil {
		return "", false
	}
	p := k.replayed.Load()
	if p == nil {
		return "", false
	}
	return *p, true
}

// Replayed is the error a store's Insert returns when the key in its
// context already created a document with the same request: nothing was
// written, and ID is the earlier document, which the create answers
// with. errors.As finds it.
type Replayed struct {
	ID string
}

func (e *Replayed) Error() string { return "idempotency: replayed the create of " + e.ID }

// ErrReused is the error of a key sent again with another request (a
// different body, say): nothing is written. httpapi answers it 422.
var ErrReused = &ticketkit.Error{
	Code:    ticketkit.EINVALID,
	Reason:  "idempotency_key_reused",
	Message: "This Idempotency-Key was already used with a different request",
}
