package session

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ticketkit/ticketkit"
)

// CookieName is the cookie the cluster's auth service sets: cookie-session
// with signed: false, so its value is base64 of the JSON session object
// {"jwt":"<token>"}. Go's net/http drops cookies whose name is not an HTTP
// token, and ':' is not a token character, so r.Cookie never sees this
// one, and http.Cookie can't write it; this package reads and writes the
// header itself.
const CookieName = "express:sess"

// A user id is what the auth service issues: a MongoDB ObjectId
// (ticketkit.ValidID). Anything else in a validly signed token (an id like
// "$where", or holding NUL or bidi controls) is refused rather than
// stored in every ticket and event as someone's userId.

// leeway is the clock skew tolerated between the auth service and this
// one, for iat (and an exp, when present).
const leeway = time.Minute

// User is the signed-in user, as the auth service put it in the token.
type User struct {
	ID    string
	Email string
}

// Errors of Verifier.User, for errors.Is. A service answers both the same
// way (signed out), but only ErrInvalid is worth logging: a request with
// no credentials at all is the normal case of a signed-out visitor.
var (
	// ErrNoSession means the request carries no credentials: no
	// Authorization header, and no session cookie or one whose session
	// holds no token (as after a sign-out).
	ErrNoSession = errors.New("session: no session")
	// ErrInvalid means the request carries credentials that don't hold.
	// The error wraps the cause too (a jwt error such as
	// jwt.ErrTokenExpired, a base64 or JSON error), so its message says
	// why without the credential itself: tokens are never part of it.
	ErrInvalid = errors.New("session: invalid credentials")
)

var errEmptyKey = errors.New("session: the key is empty")

// claims is the token payload the auth service signs: {id, email, iat},
// and no exp.
type claims struct {
	UserID string `json:"id"`
	Email  string `json:"email"`
	jwt.RegisteredClaims
}

// Verifier checks the auth service's tokens. It is safe for concurrent use.
type Verifier struct {
	key    []byte
	parser *jwt.Parser
}

// NewVerifier returns a Verifier of tokens signed with key, the cluster's
// JWT_KEY. An empty key is an error rather than a key: HMAC takes it, and
// anyone can sign with it, so a service whose JWT_KEY went missing would
// let everyone in as anyone.
func NewVerifier(key []byte) (*Verifier, error) {
	if len(key) == 0 {
		return nil, errEmptyKey
	}
	return &Verifier{
		key: append([]byte(nil), key...), // the caller's slice may change
		// Only HS256: the auth service signs nothing else, and accepting
		// more ("none", or RS256 with the HMAC key as a public key) is how
		// JWT checks get bypassed. Expiry is optional because the auth
		// service sets none, but an exp that is present is enforced.
		// iat, which the auth service always sets, may not be in the
		// future beyond the clock skew.
		parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuedAt(), jwt.WithLeeway(leeway)),
	}, nil
}

// Claims are a verified token's payload, as Node's currentUser
// middleware puts it in req.currentUser: the user, when the token was
// issued, and when it expires (zero when it doesn't, as the Node auth
// service's tokens don't).
type Claims struct {
	User
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// User returns the request's user, or ErrNoSession or ErrInvalid. A
// Bearer token takes precedence over the cookie, so a script can act as
// someone else than the browser session it was copied from; when an
// Authorization header is present the cookie is not consulted, so a bad
// bearer token is never papered over by a cookie.
func (v *Verifier) User(r *http.Request) (User, error) {
	c, err := v.Claims(r)
	return c.User, err
}

// Claims is User with the token's times, for a handler that answers them
// (the auth service's current-user route). Errors are User's.
func (v *Verifier) Claims(r *http.Request) (Claims, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return Claims{}, invalid(errors.New("authorization header is not a Bearer token"))
		}
		return v.verify(strings.TrimSpace(token))
	}
	value, ok := readCookie(r)
	if !ok {
		return Claims{}, ErrNoSession
	}
	token, err := cookieToken(value)
	if err != nil {
		return Claims{}, err
	}
	return v.verify(token)
}

// invalid is ErrInvalid for cause, matching both in errors.Is.
func invalid(cause error) error { return fmt.Errorf("%w: %w", ErrInvalid, cause) }

// verify checks the token's signature and claims.
func (v *Verifier) verify(token string) (Claims, error) {
	var c claims
	t, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case err != nil:
		return Claims{}, invalid(err)
	case t.Header["crit"] != nil:
		// RFC 7515, 4.1.11: a token whose crit names extensions the
		// recipient doesn't understand must be rejected; this one
		// understands none.
		return Claims{}, invalid(errors.New("token has a crit header naming extensions this service does not implement"))
	case c.UserID == "":
		return Claims{}, invalid(errors.New("token has no user id"))
	case !ticketkit.ValidID(c.UserID):
		return Claims{}, invalid(errors.New("token's user id is not a 24-hex id"))
	}
	out := Claims{User: User{ID: c.UserID, Email: c.Email}}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	return out, nil
}

// readCookie finds the session cookie in the Cookie headers.
func readCookie(r *http.Request) (string, bool) {
	for _, line := range r.Header.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && name == CookieName {
				return strings.Trim(value, `"`), true
			}
		}
	}
	return "", false
}

// cookieToken decodes a cookie-session value. Node's base64 decoder takes
// the standard and the URL alphabet, padded or not, so this does too.
func cookieToken(value string) (string, error) {
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(value); err == nil {
			break
		}
	}
	if err != nil {
		return "", invalid(fmt.Errorf("session cookie is not base64: %w", err))
	}
	var s struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(fmt.Errorf("session cookie is not a JSON session: %w", err))
	}
	if s.JWT == "" {
		return "", ErrNoSession
	}
	return s.JWT, nil
}
