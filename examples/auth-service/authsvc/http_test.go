package authsvc

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/session"
)

// The Node service's signup.test.ts, with the bodies and messages it
// answers.
func TestSignup(t *testing.T) {
	in := start(t)
	r := signup(t, in, "test@test.com", "password")
	u := userOf(t, r)
	if u.Email != "test@test.com" || !ticketkit.ValidID(u.ID) || strings.Contains(string(r.Body), "password") {
		t.Errorf("signup answered %s", r.Body)
	}
	if got := currentUser(t, in, cookieOf(t, r)); got == nil || got.ID != u.ID || got.Email != u.Email || got.IAT == 0 || got.EXP != 0 {
		t.Errorf("the signup's cookie is %+v, want %+v with an iat and no exp", got, u)
	}
	for _, c := range []struct {
		body string
		want []httpapi.Problem
	}{
		{credentialsBody("alskdflaskjfd", "password"), []httpapi.Problem{{Field: "email", Message: msgEmail}}},
		{credentialsBody("alskdflaskjfd", "p"), []httpapi.Problem{{Field: "email", Message: msgEmail}, {Field: "password", Message: msgPasswordLength}}},
		{`{"email":"test2@test.com"}`, []httpapi.Problem{{Field: "password", Message: msgPasswordLength}}},
		{`{"password":"alskjdf"}`, []httpapi.Problem{{Field: "email", Message: msgEmail}}},
		{credentialsBody("t@test.com", strings.Repeat("a", 21)), []httpapi.Problem{{Field: "password", Message: msgPasswordLength}}},
		{credentialsBody("t@test.com", "  ab  "), []httpapi.Problem{{Field: "password", Message: msgPasswordLength}}}, // trimmed to 2
	} {
		r := post(in, "/api/users/signup", c.body)
		if r.Status != http.StatusBadRequest || !slices.Equal(r.Errors(t), c.want) {
			t.Errorf("signup %s: %d %s, want 400 %+v", c.body, r.Status, r.Body, c.want)
		}
	}
	r = post(in, "/api/users/signup", credentialsBody("test@test.com", "another"))
	if r.Status != http.StatusBadRequest || !slices.Equal(r.Errors(t), []httpapi.Problem{{Message: msgEmailInUse}}) {
		t.Errorf("duplicate signup: %d %s", r.Status, r.Body)
	}
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a refused signup set a cookie")
	}
	// Characters, not bytes: 20 of them in 60 bytes is a valid password.
	signup(t, in, "long@test.com", strings.Repeat("✓", 20))
}

// The Node service's signin.test.ts, and what it leaves out: one message
// whether the email or the password is wrong, and the password trimmed
// as express-validator trims it.
func TestSignin(t *testing.T) {
	in := start(t)
	bad := []httpapi.Problem{{Message: msgInvalidCreds}}
	if r := post(in, "/api/users/signin", credentialsBody("test@test.com", "password")); r.Status != http.StatusBadRequest || !slices.Equal(r.Errors(t), bad) {
		t.Errorf("unknown email: %d %s", r.Status, r.Body)
	}
	u := userOf(t, signup(t, in, "test@test.com", " password\t"))
	if r := post(in, "/api/users/signin", credentialsBody("test@test.com", "aslkdfjalskdfj")); r.Status != http.StatusBadRequest || !slices.Equal(r.Errors(t), bad) {
		t.Errorf("wrong password: %d %s", r.Status, r.Body)
	}
	if r := post(in, "/api/users/signin", credentialsBody("TEST@test.com", "password")); r.Status != http.StatusBadRequest {
		t.Errorf("another case of the email: %d %s (Node compares emails exactly)", r.Status, r.Body)
	}
	r := post(in, "/api/users/signin", credentialsBody("test@test.com", "password"))
	if r.Status != http.StatusOK || userOf(t, r) != u {
		t.Fatalf("signin: %d %s, want 200 %+v", r.Status, r.Body, u)
	}
	if got := currentUser(t, in, cookieOf(t, r)); got == nil || got.ID != u.ID {
		t.Errorf("the signin's cookie is %+v", got)
	}
	for body, want := range map[string][]httpapi.Problem{
		`{}`:                                  {{Field: "email", Message: msgEmail}, {Field: "password", Message: msgPasswordEmpty}},
		credentialsBody("test@test.com", " "): {{Field: "password", Message: msgPasswordEmpty}},
	} {
		if r := post(in, "/api/users/signin", body); r.Status != http.StatusBadRequest || !slices.Equal(r.Errors(t), want) {
			t.Errorf("signin %s: %d %s, want 400 %+v", body, r.Status, r.Body, want)
		}
	}
}

// The Node service's signout.test.ts: the cookie cleared, byte for byte.
func TestSignout(t *testing.T) {
	in := start(t)
	signup(t, in, "test@test.com", "password")
	r := post(in, "/api/users/signout", `{}`)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "{}" {
		t.Errorf("signout: %d %s", r.Status, r.Body)
	}
	const want = "express:sess=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly"
	if got := r.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != want {
		t.Errorf("Set-Cookie = %q, want %q", got, want)
	}
}

// The Node service's current-user.test.ts, and a token from elsewhere.
func TestCurrentUser(t *testing.T) {
	c := servicetest.Memory(t)
	in := startOn(t, c)
	if got := currentUser(t, in, ""); got != nil {
		t.Errorf("signed out: %+v, want null", got)
	}
	if got := currentUser(t, in, "express:sess=garbage"); got != nil {
		t.Errorf("a bad cookie: %+v, want null", got)
	}
	u := session.User{ID: ticketkit.NewID(), Email: "x@test.com"}
	if got := currentUser(t, in, c.Cookie(u)); got == nil || got.ID != u.ID || got.Email != u.Email {
		t.Errorf("a token the cluster's key signed: %+v", got)
	}
	forged, err := session.Mint([]byte("another key"), u, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := currentUser(t, in, session.CookieHeader(forged)); got != nil {
		t.Errorf("a token another key signed: %+v, want null", got)
	}
}

// JWT_TTL gives tokens an exp, which currentuser answers.
func TestTokenTTL(t *testing.T) {
	in := start(t, TokenTTL(time.Hour))
	r := signup(t, in, "test@test.com", "password")
	got := currentUser(t, in, cookieOf(t, r))
	if got == nil || got.EXP-got.IAT != 3600 {
		t.Errorf("currentuser = %+v, want exp an hour after iat", got)
	}
	for _, v := range []string{"1", "-1h", "soon"} {
		if _, err := FromEnv(func(string) string { return v }); err == nil {
			t.Errorf("JWT_TTL=%q accepted", v)
		}
	}
	if _, err := FromEnv(func(string) string { return "" }); err != nil {
		t.Errorf("no JWT_TTL: %v", err)
	}
}

// Bodies a browser never sends: each gets a clear 400 (or 413), nothing
// reaches the store as an operator, and no user is made.
func TestBadInput(t *testing.T) {
	in := start(t)
	signup(t, in, "test@test.com", "password")
	emailErr := []httpapi.Problem{{Field: "email", Message: msgEmail}}
	for _, c := range []struct {
		path, body string
		status     int
		want       []httpapi.Problem // nil: any problems
	}{
		{"signup", `{"email":`, 400, []httpapi.Problem{{Message: "Request body is not valid JSON"}}},
		{"signin", `{"email":"test@test.com","password":"password"`, 400, []httpapi.Problem{{Message: "Request body is not valid JSON"}}},
		{"signup", `[]`, 400, []httpapi.Problem{{Message: "Request body must be a JSON object"}}},
		{"signup", `"test@test.com"`, 400, []httpapi.Problem{{Message: "Request body must be a JSON object"}}},
		{"signup", `{"email":{"$gt":""},"password":"password"}`, 400, emailErr},
		{"signin", `{"email":{"$gt":""},"password":"password"}`, 400, emailErr},
		{"signin", `{"email":"test@test.com","password":{"$gt":""}}`, 400, []httpapi.Problem{{Field: "password", Message: msgPasswordEmpty}}},
		{"signup", `{"email":["new@test.com"],"password":"password"}`, 400, emailErr},
		{"signup", `{"email":12,"password":"password"}`, 400, emailErr},
		{"signup", `{"email":null,"password":"password"}`, 400, emailErr},
		{"signup", `{"email":"new@test.com","password":12345}`, 400, []httpapi.Problem{{Field: "password", Message: msgPasswordLength}}},
		{"signup", `{"email":"new@test.com","password":{"toString":"x"}}`, 400, []httpapi.Problem{{Field: "password", Message: msgPasswordLength}}},
		{"signup", `{"email":"new@test.com","password":true}`, 400, []httpapi.Problem{{Field: "password", Message: msgPasswordLength}}},
		{"signup", "{\"email\":\"n\xffw@test.com\",\"password\":\"password\"}", 400, []httpapi.Problem{{Field: "email", Message: "Must be valid UTF-8"}}},
		{"signin", "{\"email\":\"test@test.com\",\"password\":\"pass\xfeword\"}", 400, []httpapi.Problem{{Field: "password", Message: "Must be valid UTF-8"}}},
		{"signup", credentialsBody("new@test.com", strings.Repeat("a", 200<<10)), 413, nil},
		{"signup", credentialsBody("new@test.com\x00", "password"), 400, emailErr},
		{"signup", credentialsBody("new@test.com", "pass\x00word"), 201, nil}, // a NUL is a character to Node too
		{"signup", credentialsBody(strings.Repeat("a", 65)+"@test.com", "password"), 400, emailErr},
		{"signup", credentialsBody("a@"+strings.Repeat("b", 64)+".com", "password"), 400, emailErr},
		{"signup", credentialsBody("a b@test.com", "password"), 400, emailErr},
		{"signup", credentialsBody("a@test", "password"), 400, emailErr},
		{"signup", credentialsBody("Name <a@test.com>", "password"), 400, emailErr},
	} {
		r := post(in, "/api/users/"+c.path, c.body)
		if r.Status != c.status {
			t.Errorf("%s %.80q: %d %s, want %d", c.path, c.body, r.Status, r.Body, c.status)
			continue
		}
		if c.want != nil && !slices.Equal(r.Errors(t), c.want) {
			t.Errorf("%s %.80q: %s, want %+v", c.path, c.body, r.Body, c.want)
		}
	}
	// Not declared JSON: read as no fields, as express.json leaves it.
	res, err := http.Post(in.URL+"/api/users/signup", "text/plain", strings.NewReader(credentialsBody("new2@test.com", "password")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("a text/plain body: %d", res.StatusCode)
	}
}

// validEmail agrees with validator.js's isEmail on the usual cases.
func TestValidEmail(t *testing.T) {
	for _, s := range []string{"test@test.com", "a.b+c@sub.example.co.uk", `"a b"@test.com`, "ünï@tëst.com", "x@xn--80ak6aa92e.com"} {
		if !validEmail(s) {
			t.Errorf("validEmail(%q) = false", s)
		}
	}
	for _, s := range []string{"", "@test.com", "a@", "a@@test.com", ".a@test.com", "a.@test.com", "a..b@test.com", "a@test.c", "a@test.123", "a@-test.com", "a@test..com", "a@test.com.", "a\t@test.com"} {
		if validEmail(s) {
			t.Errorf("validEmail(%q) = true", s)
		}
	}
}
