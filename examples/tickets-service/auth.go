package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sessionCookie is the cookie the cluster's auth service sets: cookie-session
// with signed: false, so its value is base64 of the JSON session object
// {"jwt":"<token>"}. Go's net/http drops cookies whose name is not an HTTP
// token, and ':' is not a token character, so r.Cookie never sees this
// one; readSessionCookie parses the header itself.
const sessionCookie = "express:sess"

// maxUserIDLen bounds the id taken from a token. The cluster's ids are
// 24-hex ObjectIds; the bound only stops a validly signed but absurd id
// from being stored in every ticket and event.
const maxUserIDLen = 128

// currentUser is the signed-in user, as the auth service put it in the
// token.
type currentUser struct {
	ID    string
	Email string
}

// userClaims is the token payload the auth service signs: {id, email, iat},
// and no exp.
type userClaims struct {
	UserID string `json:"id"`
	Email  string `json:"email"`
	jwt.RegisteredClaims
}

// authenticator checks the auth service's tokens. Like the Node
// currentUser middleware, it never fails a request: a missing or bad token
// just means signed out, and protected routes answer 401.
type authenticator struct {
	key    []byte
	parser *jwt.Parser
}

func newAuthenticator(key []byte) *authenticator {
	return &authenticator{
		key: key,
		// Only HS256: the auth service signs nothing else, and accepting
		// more ("none", or RS256 with the HMAC key as a public key) is how
		// JWT checks get bypassed. Expiry is optional because the auth
		// service sets none, but an exp that is present is enforced.
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})),
	}
}

// user returns the request's user. A Bearer token takes precedence over
// the cookie, so a script can act as someone else than the browser session
// it was copied from; when a Bearer header is present the cookie is not
// consulted, so a bad bearer token is never papered over by a cookie.
func (a *authenticator) user(r *http.Request) (currentUser, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return currentUser{}, errors.New("authorization header is not a Bearer token")
		}
		return a.verify(strings.TrimSpace(token))
	}
	value, ok := readSessionCookie(r)
	if !ok {
		return currentUser{}, errNoSession
	}
	token, err := sessionToken(value)
	if err != nil {
		return currentUser{}, err
	}
	return a.verify(token)
}

var errNoSession = errors.New("no session")

// verify checks the token's signature and claims.
func (a *authenticator) verify(token string) (currentUser, error) {
	var c userClaims
	_, err := a.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil })
	switch {
	case err != nil:
		return currentUser{}, err
	case c.UserID == "":
		return currentUser{}, errors.New("token has no user id")
	case len(c.UserID) > maxUserIDLen:
		return currentUser{}, errors.New("token's user id is too long")
	}
	return currentUser{ID: c.UserID, Email: c.Email}, nil
}

// readSessionCookie finds the session cookie in the Cookie headers.
func readSessionCookie(r *http.Request) (string, bool) {
	for _, line := range r.Header.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && name == sessionCookie {
				return strings.Trim(value, `"`), true
			}
		}
	}
	return "", false
}

// sessionToken decodes a cookie-session value. Node's base64 decoder takes
// the standard and the URL alphabet, padded or not, so this does too.
func sessionToken(value string) (string, error) {
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(value); err == nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("session cookie is not base64: %w", err)
	}
	var session struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(raw, &session); err != nil {
		return "", fmt.Errorf("session cookie is not a JSON session: %w", err)
	}
	if session.JWT == "" {
		return "", errNoSession
	}
	return session.JWT, nil
}

// mintToken signs a token as the auth service does: HS256 over {id, email,
// iat}, with an exp only when ttl > 0.
func mintToken(key []byte, id, email string, now time.Time, ttl time.Duration) (string, error) {
	c := userClaims{UserID: id, Email: email}
	c.IssuedAt = jwt.NewNumericDate(now)
	if ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
}

// sessionCookieValue is what cookie-session would set for token.
func sessionCookieValue(token string) string {
	session, _ := json.Marshal(map[string]string{"jwt": token})
	return base64.StdEncoding.EncodeToString(session)
}
