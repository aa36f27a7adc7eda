package authsvc

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
)

// Sign-in attempts are limited per email and per client address: the
// eleventh in a minute is 429 with Retry-After and is not tried (the
// right password doesn't get in), and attempts come back with time.
func TestSigninLimit(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	in := start(t, Clock(clk.Now))
	signup(t, in, "victim@test.com", "password")
	from := func(addr string) []string { return []string{"X-Forwarded-For", "203.0.113.1, " + addr} }

	// Per email: ten guesses from ten addresses, then none from anywhere.
	for i := range DefaultSigninAttempts {
		if r := post(in, "/api/users/signin", credentialsBody("victim@test.com", "guess"), from("198.51.100."+strconv.Itoa(i))...); r.Status != http.StatusBadRequest {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := post(in, "/api/users/signin", credentialsBody("victim@test.com", "password"), from("198.51.100.99")...)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "6" || r.Errors(t)[0].Message != msgTooMany {
		t.Fatalf("eleventh attempt: %d Retry-After %q %s, want 429 after 6s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Error("a limited attempt set a cookie")
	}
	// Another email from a fresh address is not held up.
	signup(t, in, "other@test.com", "password")
	if r := post(in, "/api/users/signin", credentialsBody("other@test.com", "password"), from("198.51.100.100")...); r.Status != http.StatusOK {
		t.Errorf("another email: %d %s", r.Status, r.Body)
	}
	clk.Add(6 * time.Second) // one attempt back
	if r := post(in, "/api/users/signin", credentialsBody("victim@test.com", "password"), from("198.51.100.99")...); r.Status != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", r.Status, r.Body)
	}

	// Per address: ten emails from one address, then that address is
	// held up whatever it tries, while another address is not. The
	// address is X-Forwarded-For's last, which the ingress wrote: what a
	// client put before it changes nothing.
	for i := range DefaultSigninAttempts {
		h := []string{"X-Forwarded-For", strconv.Itoa(i) + ".0.0.1, 192.0.2.7"}
		if r := post(in, "/api/users/signin", credentialsBody("u"+strconv.Itoa(i)+"@test.com", "guess"), h...); r.Status != http.StatusBadRequest {
			t.Fatalf("email %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := post(in, "/api/users/signin", credentialsBody("other@test.com", "password"), "X-Forwarded-For", "10.9.9.9, 192.0.2.7"); r.Status != http.StatusTooManyRequests {
		t.Errorf("eleventh email from one address: %d %s, want 429", r.Status, r.Body)
	}
	if r := post(in, "/api/users/signin", credentialsBody("other@test.com", "password"), from("192.0.2.8")...); r.Status != http.StatusOK {
		t.Errorf("another address: %d %s", r.Status, r.Body)
	}
	// Signups and bad input are not sign-in attempts.
	if r := post(in, "/api/users/signin", `{}`, "X-Forwarded-For", "192.0.2.7"); r.Status != http.StatusBadRequest {
		t.Errorf("invalid body from a held-up address: %d, want its 400", r.Status)
	}
}

// The limiter's buckets: n at once, one back per window/n, each key apart.
func TestLimiter(t *testing.T) {
	clk := &clock{now: time.Unix(0, 0)}
	l := newLimiter(3, 3*time.Second, clk.Now)
	for i := range 3 {
		if _, ok := l.take("a", "x"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if wait, ok := l.take("a", "y"); ok || wait != time.Second {
		t.Errorf("fourth attempt of a: %v, %v; want refused for 1s", wait, ok)
	}
	if _, ok := l.take("b", "y"); !ok {
		t.Error("b refused: a refused attempt took y's token")
	}
	clk.Add(500 * time.Millisecond)
	if wait, ok := l.take("a"); ok || wait != 500*time.Millisecond {
		t.Errorf("half-way: %v, %v; want refused for 500ms", wait, ok)
	}
	clk.Add(time.Hour)
	for i := range 3 {
		if _, ok := l.take("a"); !ok {
			t.Fatalf("after an hour, attempt %d refused: the bucket holds more than n", i)
		}
	}
	if _, ok := l.take("a"); ok {
		t.Error("a bucket refilled beyond n")
	}
}

// A request that can't get a turn at scrypt before its deadline is 503,
// and its hash is never run.
func TestScryptWaitsWithinDeadline(t *testing.T) {
	a := &api{hashes: make(chan struct{}, 1)}
	a.hashes <- struct{}{} // the one turn is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.scrypt(ctx, func() error { t.Error("ran without a turn"); return nil })
	if ticketkit.ErrorCode(err) != ticketkit.EUNAVAILABLE || httpapi.Status(ticketkit.ErrorCode(err)) != http.StatusServiceUnavailable {
		t.Errorf("scrypt without a turn: %v, want EUNAVAILABLE (503)", err)
	}
}
