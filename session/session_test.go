package session_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketkit/ticketkit/session"
)

// nodeCookie is a Set-Cookie header of the cluster's auth service, made by
// Express with cookie-session 1.4.0 ({signed: false}) around a token from
// jsonwebtoken 9 (jwt.sign({id, email}, 'node-auth-key')): the exact bytes
// a browser sends back to a service.
const (
	nodeCookie = "express:sess=eyJqd3QiOiJleUpoYkdjaU9pSklVekkxTmlJc0luUjVjQ0k2SWtwWFZDSjkuZXlKcFpDSTZJalZtTjJFeFl6SmlNMlEwWlRWbU5tRTNZamhqT1dRd1pTSXNJbVZ0WVdsc0lqb2libTlrWlVCbGVHRnRjR3hsTG1OdmJTSXNJbWxoZENJNk1UYzVOVGM0T0RNek0zMC4wWEZQclhVUlRKVjUzM0VWMnpoQlJPVE1rMXplYWU5aXVQanNqVTRBUlM4In0=; path=/; httponly"
	nodeKey    = "node-auth-key"
	nodeUser   = "5f7a1c2b3d4e5f6a7b8c9d0e"
)

var testKey = []byte("test-jwt-key")

// alice is the user of the tests: a 24-hex id, like the cluster's.
const alice = "a11ce0000000000000000001"

func newVerifier(t *testing.T, key []byte) *session.Verifier {
	t.Helper()
	v, err := session.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// request is a GET with headers, given as name, value pairs and added in
// order, so a name may come twice.
func request(headers ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func cookie(token string) []string { return []string{"Cookie", session.CookieHeader(token)} }

func TestNodeSessionCookie(t *testing.T) {
	v := newVerifier(t, []byte(nodeKey))
	// The browser sends the name=value part, among other cookies.
	req := request("Cookie", "theme=dark; "+strings.SplitN(nodeCookie, ";", 2)[0]+"; other=1")
	u, err := v.User(req)
	if err != nil {
		t.Fatalf("Node's cookie rejected: %v", err)
	}
	if u != (session.User{ID: nodeUser, Email: "node@example.com"}) {
		t.Errorf("user %+v", u)
	}
	// Go's own cookie parser drops this cookie (':' is not allowed in a
	// cookie name), which is why the package parses the header itself.
	if _, err := req.Cookie(session.CookieName); err == nil {
		t.Log("net/http now parses express:sess; readCookie could use r.Cookie")
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

// sessionJSON is a session object holding token, with a filler field
// chosen so that its standard base64 has padding and a '+' or '/': the
// unpadded and URL-safe encodings of it then really differ from the
// standard one.
func sessionJSON(t *testing.T, token string) []byte {
	t.Helper()
	for n := range 32 {
		s := fmt.Sprintf(`{"jwt":%q,"filler":"%s"}`, token, strings.Repeat("?", n))
		if e := base64.StdEncoding.EncodeToString([]byte(s)); strings.HasSuffix(e, "=") && strings.ContainsAny(e, "+/") {
			return []byte(s)
		}
	}
	t.Fatal("no filler makes the standard base64 padded and URL-unsafe")
	return nil
}

func TestUser(t *testing.T) {
	v := newVerifier(t, testKey)
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
	hs256 := func(extra jwt.MapClaims) string { return forge(t, jwt.SigningMethodHS256, testKey, claims(extra)) }
	good := hs256(nil)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	sess := sessionJSON(t, good)
	in := func(value string) []string { return []string{"Cookie", session.CookieName + "=" + value} }

	accepted := []struct {
		name    string
		headers []string
		want    string // the id; "" for alice
	}{
		{"bearer, no exp (as the auth service signs)", bearer(good), ""},
		{"cookie, no exp", cookie(good), ""},
		{"cookie among others", []string{"Cookie", "a=1; " + session.CookieHeader(good) + "; b=2"}, ""},
		{"cookie in a second Cookie header (as HTTP/2 may send them)", []string{"Cookie", "a=1", "Cookie", session.CookieHeader(good)}, ""},
		{"cookie quoted", in(`"` + base64.StdEncoding.EncodeToString(sess) + `"`), ""},
		{"cookie standard base64", in(base64.StdEncoding.EncodeToString(sess)), ""},
		{"cookie unpadded base64", in(base64.RawStdEncoding.EncodeToString(sess)), ""},
		{"cookie URL-safe base64", in(base64.URLEncoding.EncodeToString(sess)), ""},
		{"cookie URL-safe unpadded base64", in(base64.RawURLEncoding.EncodeToString(sess)), ""},
		{"cookie with other session fields", in(b64(`{"jwt":"` + good + `","views":3}`)), ""},
		{"exp in the future", bearer(hs256(jwt.MapClaims{"exp": now.Add(time.Hour).Unix()})), ""},
		{"lower-case scheme", []string{"Authorization", "bearer " + good}, ""},
		{"upper-case scheme", []string{"Authorization", "BEARER " + good}, ""},
		{"spaces after the scheme", []string{"Authorization", "Bearer   " + good}, ""},
		{"no email", bearer(hs256(jwt.MapClaims{"email": nil})), ""},
		{"upper-case hex id", bearer(hs256(jwt.MapClaims{"id": strings.ToUpper(alice)})), strings.ToUpper(alice)},
	}
	for _, c := range accepted {
		t.Run("accepts "+c.name, func(t *testing.T) {
			u, err := v.User(request(c.headers...))
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if want == "" {
				want = alice
			}
			if u.ID != want {
				t.Errorf("user %+v, want id %q", u, want)
			}
		})
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	none := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	rejected := []struct {
		name    string
		headers []string
		want    error
	}{
		{"no credentials", nil, session.ErrNoSession},
		{"token under another cookie name", []string{"Cookie", "session=" + strings.TrimPrefix(session.CookieHeader(good), session.CookieName+"=")}, session.ErrNoSession},
		{"cookie without jwt", in(b64(`{"user":"alice"}`)), session.ErrNoSession},
		{"cookie with an empty jwt", in(b64(`{"jwt":""}`)), session.ErrNoSession},
		{"bad signature", bearer(forge(t, jwt.SigningMethodHS256, []byte("another key"), claims(nil))), session.ErrInvalid},
		{"alg none", bearer(none), session.ErrInvalid},
		{"alg none in a cookie", cookie(none), session.ErrInvalid},
		{"HS512 with the right key", bearer(forge(t, jwt.SigningMethodHS512, testKey, claims(nil))), session.ErrInvalid},
		{"HS384 with the right key", bearer(forge(t, jwt.SigningMethodHS384, testKey, claims(nil))), session.ErrInvalid},
		{"RS256", bearer(forge(t, jwt.SigningMethodRS256, rsaKey, claims(nil))), session.ErrInvalid},
		{"expired", bearer(hs256(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), session.ErrInvalid},
		{"expired in a cookie", cookie(hs256(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), session.ErrInvalid},
		{"not valid yet", bearer(hs256(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), session.ErrInvalid},
		{"no id", bearer(hs256(jwt.MapClaims{"id": nil})), session.ErrInvalid},
		{"empty id", bearer(hs256(jwt.MapClaims{"id": ""})), session.ErrInvalid},
		{"numeric id", bearer(hs256(jwt.MapClaims{"id": 42})), session.ErrInvalid},
		{"object id", bearer(hs256(jwt.MapClaims{"id": map[string]string{"$gt": ""}})), session.ErrInvalid},
		{"absurd id", bearer(hs256(jwt.MapClaims{"id": strings.Repeat("a", 24+1)})), session.ErrInvalid},
		{"truncated token", bearer(good[:len(good)-5]), session.ErrInvalid},
		{"garbage token", bearer("not.a.token"), session.ErrInvalid},
		{"basic auth", []string{"Authorization", "Basic YWxpY2U6cGFzcw=="}, session.ErrInvalid},
		{"bearer without token", []string{"Authorization", "Bearer"}, session.ErrInvalid},
		{"a bad bearer is not rescued by a good cookie", append(bearer("garbage"), cookie(good)...), session.ErrInvalid},
		{"cookie not base64", in("%%%not-base64%%%"), session.ErrInvalid},
		{"cookie not JSON", in(b64("jwt=" + good)), session.ErrInvalid},
		{"cookie a JSON string", in(b64(`"` + good + `"`)), session.ErrInvalid},
		{"cookie jwt not a string", in(b64(`{"jwt":{"$gt":""}}`)), session.ErrInvalid},
		{"cookie jwt garbage", in(b64(`{"jwt":"garbage"}`)), session.ErrInvalid},
		{"cookie empty", in(""), session.ErrInvalid},
	}
	for _, c := range rejected {
		t.Run("rejects "+c.name, func(t *testing.T) {
			u, err := v.User(request(c.headers...))
			if !errors.Is(err, c.want) {
				t.Fatalf("user %+v, error %v, want %v", u, err, c.want)
			}
			if u != (session.User{}) {
				t.Errorf("user %+v along with the error", u)
			}
			// The message says why, never what: no credential in it.
			for i := 1; i < len(c.headers); i += 2 {
				for part := range strings.FieldsFuncSeq(c.headers[i], func(r rune) bool { return strings.ContainsRune(" ;=.\"", r) }) {
					if len(part) > 12 && strings.Contains(err.Error(), part) {
						t.Errorf("error %q quotes the credential", err)
					}
				}
			}
		})
	}
}

// TestErrorsWrapCause: ErrInvalid comes with its cause, for logs and
// errors.Is.
func TestErrorsWrapCause(t *testing.T) {
	v := newVerifier(t, testKey)
	expired, err := session.Mint(testKey, session.User{ID: alice}, time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := session.Mint([]byte("another key"), session.User{ID: alice}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for token, cause := range map[string]error{expired: jwt.ErrTokenExpired, forged: jwt.ErrTokenSignatureInvalid} {
		_, err := v.User(request(bearer(token)...))
		if !errors.Is(err, session.ErrInvalid) || !errors.Is(err, cause) {
			t.Errorf("error %v, want ErrInvalid and %v", err, cause)
		}
	}
}

func TestNewVerifier(t *testing.T) {
	for _, key := range [][]byte{nil, {}} {
		if v, err := session.NewVerifier(key); err == nil || v != nil {
			t.Errorf("NewVerifier(%q) = %v, %v; want an error", key, v, err)
		}
	}
	// The key is copied: the caller's slice may be reused.
	key := []byte("a key in a buffer")
	v := newVerifier(t, key)
	token, err := session.Mint(key, session.User{ID: alice}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	copy(key, "something else")
	if _, err := v.User(request(bearer(token)...)); err != nil {
		t.Errorf("after the caller changed its key slice: %v", err)
	}
}

func TestMint(t *testing.T) {
	v := newVerifier(t, testKey)
	now := time.Now()
	u := session.User{ID: alice, Email: "alice@example.com"}

	token, err := session.Mint(testKey, u, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, headers := range [][]string{bearer(token), cookie(token)} {
		if got, err := v.User(request(headers...)); err != nil || got != u {
			t.Errorf("%s: user %+v, error %v", headers[0], got, err)
		}
	}
	// What the auth service signs: HS256 over {id, email, iat}, no exp.
	parsed, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	want := jwt.MapClaims{"id": alice, "email": "alice@example.com", "iat": float64(now.Unix())}
	if parsed.Header["alg"] != "HS256" || fmt.Sprint(parsed.Claims) != fmt.Sprint(want) {
		t.Errorf("header %v, claims %v; want HS256 and %v", parsed.Header, parsed.Claims, want)
	}

	// A ttl adds an exp, which the verifier enforces.
	withTTL, err := session.Mint(testKey, u, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.User(request(bearer(withTTL)...)); err != nil {
		t.Errorf("token with an hour left: %v", err)
	}
	lapsed, err := session.Mint(testKey, u, now.Add(-time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.User(request(bearer(lapsed)...)); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("token whose ttl ran out: error %v", err)
	}

	// What a Verifier would refuse is not minted.
	for name, c := range map[string]struct {
		key []byte
		u   session.User
		ttl time.Duration
	}{
		"empty key":    {nil, u, 0},
		"no id":        {testKey, session.User{Email: "alice@example.com"}, 0},
		"id too long":  {testKey, session.User{ID: strings.Repeat("a", 24+1)}, 0},
		"id not hex":   {testKey, session.User{ID: "$where" + strings.Repeat("0", 24-6)}, 0},
		"negative ttl": {testKey, u, -time.Hour},
	} {
		if token, err := session.Mint(c.key, c.u, now, c.ttl); err == nil {
			t.Errorf("%s: minted %q", name, token)
		}
	}
}

func TestCookieHeader(t *testing.T) {
	// cookie-session's encoding: standard padded base64 of the session.
	got := session.CookieHeader("a.b.c")
	if want := "express:sess=" + base64.StdEncoding.EncodeToString([]byte(`{"jwt":"a.b.c"}`)); got != want {
		t.Errorf("CookieHeader = %q, want %q", got, want)
	}
}

func TestMiddleware(t *testing.T) {
	v := newVerifier(t, testKey)
	token, err := session.Mint(testKey, session.User{ID: alice, Email: "alice@example.com"}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := session.FromContext(r.Context())
		seen = append(seen, fmt.Sprintf("%s %v", u.ID, ok))
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, headers := range [][]string{bearer(token), cookie(token), nil, bearer("garbage"), append(bearer("garbage"), cookie(token)...)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request(headers...))
		if rec.Code != http.StatusTeapot {
			t.Errorf("%v: status %d; the middleware must never answer itself", headers, rec.Code)
		}
	}
	want := []string{alice + " true", alice + " true", " false", " false", " false"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("handler saw %q, want %q", seen, want)
	}
}

func TestContext(t *testing.T) {
	if u, ok := session.FromContext(t.Context()); ok {
		t.Errorf("a user in a bare context: %+v", u)
	}
	u := session.User{ID: alice}
	if got, ok := session.FromContext(session.NewContext(t.Context(), u)); !ok || got != u {
		t.Errorf("FromContext(NewContext(u)) = %+v, %v", got, ok)
	}
}

// sign signs claims with key as HS256, with extra header fields: what a
// hostile or buggy issuer could send, which Mint won't make.
func sign(t *testing.T, key []byte, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Validly signed tokens that must still be refused: a crit header (RFC
// 7515: an extension this service doesn't implement), an iat in the
// future, and user ids not of the auth service's shape.
func TestRefusesSignedButUnacceptableTokens(t *testing.T) {
	v := newVerifier(t, testKey)
	now := time.Now()
	ok := jwt.MapClaims{"id": alice, "email": "a@example.com", "iat": now.Unix()}
	if _, err := v.User(request(bearer(sign(t, testKey, nil, ok))...)); err != nil {
		t.Fatalf("a plain token: %v", err)
	}
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range ok {
			c[k] = v
		}
		c[k] = val
		return c
	}
	for name, token := range map[string]string{
		"crit":               sign(t, testKey, map[string]any{"crit": []string{"exp-x"}, "exp-x": 1}, ok),
		"empty crit":         sign(t, testKey, map[string]any{"crit": []string{}}, ok),
		"iat a year ahead":   sign(t, testKey, nil, with("iat", now.Add(365*24*time.Hour).Unix())),
		"id $where":          sign(t, testKey, nil, with("id", "$where")),
		"id with NUL":        sign(t, testKey, nil, with("id", "a11ce00000000000000000\x001")),
		"id with bidi":       sign(t, testKey, nil, with("id", "a11ce000000000000000\u202e001")),
		"id operator object": sign(t, testKey, nil, with("id", map[string]any{"$gt": ""})),
		"id 23 hex":          sign(t, testKey, nil, with("id", alice[:23])),
	} {
		if u, err := v.User(request(bearer(token)...)); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("%s: accepted as %+v (%v)", name, u, err)
		}
	}
	// Clock skew within the leeway is fine.
	if _, err := v.User(request(bearer(sign(t, testKey, nil, with("iat", now.Add(30*time.Second).Unix())))...)); err != nil {
		t.Errorf("iat 30s ahead: %v", err)
	}
}
