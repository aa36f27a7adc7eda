package session_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/session"
)

// The cookie SetCookie writes is what cookie-session writes (express:sess
// of base64 {"jwt": token}; path=/; httponly), and a Verifier reads it
// back as a browser returns it.
func TestSetCookie(t *testing.T) {
	u := session.User{ID: alice, Email: "alice@example.com"}
	now := time.Now()
	token, err := session.Mint(testKey, u, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	session.SetCookie(rec, token)
	lines := rec.Header().Values("Set-Cookie")
	if len(lines) != 1 || lines[0] != session.CookieHeader(token)+"; path=/; httponly" {
		t.Fatalf("Set-Cookie = %q", lines)
	}
	pair, _, _ := strings.Cut(lines[0], ";")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", pair)
	v, err := session.NewVerifier(testKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Claims(r)
	if err != nil || c.User != u || c.IssuedAt.Unix() != now.Unix() || !c.ExpiresAt.IsZero() {
		t.Errorf("Claims = %+v, %v; want %+v issued at %v, no expiry", c, err, u, now.Unix())
	}
}

// ClearCookie writes exactly the line the Node auth service's signout
// test expects, and a browser that sends the emptied cookie back is
// signed out, not invalid.
func TestClearCookie(t *testing.T) {
	rec := httptest.NewRecorder()
	session.ClearCookie(rec)
	const want = "express:sess=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly"
	if got := rec.Header().Values("Set-Cookie"); len(got) != 1 || got[0] != want {
		t.Fatalf("Set-Cookie = %q, want %q", got, want)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "express:sess=")
	v, err := session.NewVerifier(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.User(r); err == nil {
		t.Errorf("an emptied cookie signs in")
	}
}

// Claims carries the expiry of a token that has one.
func TestClaimsExpiry(t *testing.T) {
	now := time.Now()
	token, err := session.Mint(testKey, session.User{ID: alice}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	v, err := session.NewVerifier(testKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Claims(r)
	if err != nil || c.ExpiresAt.Unix() != now.Add(time.Hour).Unix() {
		t.Errorf("Claims = %+v, %v; want an expiry an hour on", c, err)
	}
}
