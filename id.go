package ticketkit

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"
)

// NewID returns a fresh id: a 24-hex MongoDB ObjectID, because the
// cluster's Node services cast every id to an ObjectId. The layout is
// MongoDB's (seconds, per-process random, counter), so ids sort by
// creation time; it is built here because the domains import no database
// driver.
func NewID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(time.Now().Unix()))
	copy(b[4:9], idProcess[:])
	c := idCounter.Add(1)
	b[9], b[10], b[11] = byte(c>>16), byte(c>>8), byte(c)
	return hex.EncodeToString(b[:])
}

// The per-process part of NewID's ids, fixed for the life of the process
// as MongoDB's own drivers do.
var (
	idProcess = func() (p [5]byte) { rand.Read(p[:]); return p }()
	idCounter atomic.Uint32
)

func init() {
	var b [4]byte
	rand.Read(b[:])
	idCounter.Store(binary.BigEndian.Uint32(b[:]))
}

// ValidID reports whether id is a 24-hex ObjectID, in either case. It
// runs on every decoded event, so it allocates nothing.
func ValidID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// CanonicalID returns id in its one canonical form, lower-case hex, and
// whether it is a valid id at all. MongoDB casts "5F…" and "5f…" to the
// same ObjectId, so anything keyed by an id that came from a client (an
// idempotency key, a charge) must use this form, or a retry in the other
// case is a different key.
func CanonicalID(id string) (string, bool) {
	if !ValidID(id) {
		return "", false
	}
	return strings.ToLower(id), true
}
