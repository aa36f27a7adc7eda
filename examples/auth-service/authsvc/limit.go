package authsvc

import (
	"sync"
	"time"
)

// maxBuckets is how many keys a limiter holds before it drops the ones
// whose bucket has refilled (as good as absent), so that a stream of
// distinct emails or addresses can't grow it without bound.
const maxBuckets = 1 << 16

// limiter is a token bucket per key: n attempts, refilled at n per
// window. It is safe for concurrent use; it is this instance's only (see
// SigninLimit).
type limiter struct {
	mu      sync.Mutex
	n       float64
	per     time.Duration // to earn one attempt back
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(n int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{n: float64(n), per: window / time.Duration(n), now: now, buckets: make(map[string]*bucket)}
}

// level returns key's bucket as of now, refilled; a key not held is full.
func (l *limiter) level(key string, now time.Time) float64 {
	b, ok := l.buckets[key]
	if !ok {
		return l.n
	}
	return min(l.n, b.tokens+float64(now.Sub(b.at))/float64(l.per))
}

// take takes an attempt from every key's bucket if each has one, and
// reports true; otherwise it takes none and returns how long until they
// all have one again.
func (l *limiter) take(keys ...string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		if lv := l.level(k, now); lv < 1 {
			wait = max(wait, time.Duration((1-lv)*float64(l.per)))
		}
	}
	if wait > 0 {
		return wait, false
	}
	if len(l.buckets)+len(keys) > maxBuckets {
		for k := range l.buckets {
			if l.level(k, now) >= l.n {
				delete(l.buckets, k)
			}
		}
	}
	for _, k := range keys {
		l.buckets[k] = &bucket{tokens: l.level(k, now) - 1, at: now}
	}
	return 0, true
}
