package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// nodeCookie is a Set-Cookie header of the cluster's auth service, made by
// Express with cookie-session 1.4.0 ({signed: false}) around a token from
// jsonwebtoken 9 (jwt.sign({id, email}, 'node-auth-key')): the exact bytes
// a browser sends back to the tickets service.
const (
	nodeCookie = "express:sess=eyJqd3QiOiJleUpoYkdjaU9pSklVekkxTmlJc0luUjVjQ0k2SWtwWFZDSjkuZXlKcFpDSTZJalZtTjJFeFl6SmlNMlEwWlRWbU5tRTNZamhqT1dRd1pTSXNJbVZ0WVdsc0lqb2libTlrWlVCbGVHRnRjR3hsTG1OdmJTSXNJbWxoZENJNk1UYzVOVGM0T0RNek0zMC4wWEZQclhVUlRKVjUzM0VWMnpoQlJPVE1rMXplYWU5aXVQanNqVTRBUlM4In0=; path=/; httponly"
	nodeKey    = "node-auth-key"
	nodeUser   = "5f7a1c2b3d4e5f6a7b8c9d0e"
)

func TestNodeSessionCookie(t *testing.T) {
	a := newAuthenticator([]byte(nodeKey))
	req, _ := http.NewRequest("GET", "/", nil)
	// The browser sends the name=value part, among other cookies.
	req.Header.Set("Cookie", "theme=dark; "+strings.SplitN(nodeCookie, ";", 2)[0]+"; other=1")
	u, err := a.user(req)
	if err != nil {
		t.Fatalf("Node's cookie rejected: %v", err)
	}
	if u.ID != nodeUser || u.Email != "node@example.com" {
		t.Errorf("user %+v", u)
	}
	// Go's own cookie parser drops this cookie (':' is not allowed in a
	// cookie name), which is why auth.go parses the header itself.
	if _, err := req.Cookie(sessionCookie); err == nil {
		t.Log("net/http now parses express:sess; readSessionCookie could use r.Cookie")
	}
}

// forge signs claims with method and key.
func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"id": alice, "email": "alice@example.com", "iat": now.Unix()}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	good := forge(t, jwt.SigningMethodHS256, testKey, claims(nil))
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	accepted := []struct {
		name    string
		headers []string
	}{
		{"bearer, no exp (as the auth service signs)", bearer(good)},
		{"cookie, no exp", cookie(good)},
		{"cookie among others", []string{"Cookie", "a=1; " + sessionCookie + "=" + sessionCookieValue(good) + "; b=2"}},
		{"cookie unpadded base64", []string{"Cookie", sessionCookie + "=" + strings.TrimRight(sessionCookieValue(good), "=")}},
		{"cookie URL-safe base64", []string{"Cookie", sessionCookie + "=" + base64.URLEncoding.EncodeToString([]byte(`{"jwt":"`+good+`"}`))}},
		{"cookie with other session fields", []string{"Cookie", sessionCookie + "=" + b64(`{"jwt":"`+good+`","views":3}`)}},
		{"exp in the future", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"exp": now.Add(time.Hour).Unix()})))},
		{"lower-case scheme", []string{"Authorization", "bearer " + good}},
	}
	for _, c := range accepted {
		t.Run("accepts "+c.name, func(t *testing.T) {
			r := h.send("POST", "/api/tickets", `{"title":"x","price":1}`, c.headers...)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if u := r.ticket(t).UserID; u != alice {
				t.Errorf("ticket owned by %q, want %q", u, alice)
			}
		})
	}

	none := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	rejected := []struct {
		name    string
		headers []string
	}{
		{"no credentials", nil},
		{"bad signature", bearer(forge(t, jwt.SigningMethodHS256, []byte("another key"), claims(nil)))},
		{"alg none", bearer(none)},
		{"alg none in a cookie", cookie(none)},
		{"HS512 with the right key", bearer(forge(t, jwt.SigningMethodHS512, testKey, claims(nil)))},
		{"HS384 with the right key", bearer(forge(t, jwt.SigningMethodHS384, testKey, claims(nil)))},
		{"expired", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})))},
		{"expired in a cookie", cookie(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})))},
		{"not valid yet", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})))},
		{"no id", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"id": nil})))},
		{"empty id", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"id": ""})))},
		{"numeric id", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"id": 42})))},
		{"object id", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"id": map[string]string{"$gt": ""}})))},
		{"absurd id", bearer(forge(t, jwt.SigningMethodHS256, testKey, claims(jwt.MapClaims{"id": strings.Repeat("a", maxUserIDLen+1)})))},
		{"truncated token", bearer(good[:len(good)-5])},
		{"garbage token", bearer("not.a.token")},
		{"basic auth", []string{"Authorization", "Basic YWxpY2U6cGFzcw=="}},
		{"bearer without token", []string{"Authorization", "Bearer"}},
		{"a bad bearer is not rescued by a good cookie", append(bearer("garbage"), cookie(good)...)},
		{"cookie not base64", []string{"Cookie", sessionCookie + "=%%%not-base64%%%"}},
		{"cookie not JSON", []string{"Cookie", sessionCookie + "=" + b64("jwt="+good)}},
		{"cookie a JSON string", []string{"Cookie", sessionCookie + "=" + b64(`"`+good+`"`)}},
		{"cookie without jwt", []string{"Cookie", sessionCookie + "=" + b64(`{"user":"alice"}`)}},
		{"cookie jwt not a string", []string{"Cookie", sessionCookie + "=" + b64(`{"jwt":{"$gt":""}}`)}},
		{"cookie jwt garbage", []string{"Cookie", sessionCookie + "=" + b64(`{"jwt":"garbage"}`)}},
		{"cookie empty", []string{"Cookie", sessionCookie + "="}},
		{"token under another cookie name", []string{"Cookie", "session=" + sessionCookieValue(good)}},
	}
	for _, c := range rejected {
		t.Run("rejects "+c.name, func(t *testing.T) {
			r := h.send("POST", "/api/tickets", `{"title":"x","price":1}`, c.headers...)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if errs := r.errors(t); len(errs) != 1 || errs[0] != (apiError{Message: "Not authorized"}) {
				t.Errorf("errors %+v", errs)
			}
		})
	}

	// Reading needs no sign-in, and bad credentials don't get in its way.
	if r := h.send("GET", "/api/tickets", "", bearer(none)...); r.status != http.StatusOK {
		t.Errorf("GET with bad credentials: status %d", r.status)
	}
}
