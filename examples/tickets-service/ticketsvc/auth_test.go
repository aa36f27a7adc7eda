package ticketsvc

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/session"
)

// TestAuth is about the routes: which ones need a user, and what they
// answer without one. Which credentials hold is the session package's
// business, tested there case by case.
func TestAuth(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)

	// Either way the auth service's token travels, the ticket is the
	// token's user's.
	for name, headers := range map[string][]string{"cookie": cookie(token(t, alice)), "bearer": bearer(token(t, alice))} {
		r := h.send("POST", "/api/tickets", `{"title":"x","price":1}`, headers...)
		if r.status != http.StatusCreated {
			t.Fatalf("POST with a %s: status %d, body %s", name, r.status, r.body)
		}
		if u := r.ticket(t).UserID; u != alice {
			t.Errorf("POST with a %s: ticket owned by %q, want %q", name, u, alice)
		}
		if r := h.send("PUT", "/api/tickets/"+tk.ID, `{"title":"y","price":2}`, headers...); r.status != http.StatusOK {
			t.Errorf("PUT with a %s: status %d, body %s", name, r.status, r.body)
		}
	}

	forged, err := session.Mint([]byte("another key"), session.User{ID: alice}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	signedOut := map[string][]string{
		"no credentials":     nil,
		"a forged token":     bearer(forged),
		"a garbage cookie":   {"Cookie", session.CookieName + "=%%%"},
		"a non-Bearer login": {"Authorization", "Basic YWxpY2U6cGFzcw=="},
	}
	for name, headers := range signedOut {
		for _, route := range []struct{ method, path string }{{"POST", "/api/tickets"}, {"PUT", "/api/tickets/" + tk.ID}} {
			r := h.send(route.method, route.path, `{"title":"x","price":1}`, headers...)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("%s %s with %s: status %d, body %s", route.method, route.path, name, r.status, r.body)
			}
			if errs := r.errors(t); len(errs) != 1 || errs[0] != (apiError{Message: "Not authorized"}) {
				t.Errorf("%s %s with %s: errors %+v", route.method, route.path, name, errs)
			}
		}
	}
	// A refusal is logged with its reason, at debug; a visitor without
	// credentials is not worth a line.
	reasons := 0
	for _, l := range h.logs.lines() {
		if l["msg"] == "rejected credentials" {
			reasons++
			if reason, _ := l["reason"].(string); !strings.HasPrefix(reason, "session: invalid credentials: ") {
				t.Errorf("rejection logged as %v", l)
			}
		}
	}
	if want := 2 * (len(signedOut) - 1); reasons != want {
		t.Errorf("%d rejections logged, want %d", reasons, want)
	}

	// Reading needs no sign-in, and bad credentials don't get in its way.
	for _, path := range []string{"/api/tickets", "/api/tickets/" + tk.ID} {
		if r := h.send("GET", path, "", bearer(forged)...); r.status != http.StatusOK {
			t.Errorf("GET %s with bad credentials: status %d", path, r.status)
		}
	}
}
