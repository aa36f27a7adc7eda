package session_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ticketkit/ticketkit/session"
)

// Middleware puts the user in the request's context, as Node's
// currentUser does, and lets every request through; a handler that needs a
// user answers 401 itself, in the service's own error shape.
func ExampleVerifier_Middleware() {
	key := []byte("the cluster's JWT_KEY")
	v, err := session.NewVerifier(key)
	if err != nil {
		fmt.Println(err)
		return
	}
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := session.FromContext(r.Context())
		if !ok {
			http.Error(w, "Not authorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s (%s)\n", u.Email, u.ID)
	})
	handler := v.Middleware(me)

	// A token as the auth service issues it, in the cookie a browser sends.
	token, err := session.Mint(key, session.User{ID: "5f7a1c2b3d4e5f6a7b8c9d0e", Email: "alice@example.com"}, time.Now(), 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, cookie := range []string{session.CookieHeader(token), ""} {
		req := httptest.NewRequest("GET", "/api/users/currentuser", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body)
	}
	// Output:
	// 200 alice@example.com (5f7a1c2b3d4e5f6a7b8c9d0e)
	// 401 Not authorized
}

// User is the check called directly, for a handler that wants to know
// why: a request without credentials is the normal case of a signed-out
// visitor, one with credentials that don't hold is worth a log line.
func ExampleVerifier_User() {
	v, err := session.NewVerifier([]byte("the cluster's JWT_KEY"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, auth := range []string{"", "Basic YWxpY2U6cGFzcw=="} {
		req := httptest.NewRequest("POST", "/api/tickets", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		_, err := v.User(req)
		switch {
		case errors.Is(err, session.ErrNoSession):
			fmt.Println("signed out")
		case errors.Is(err, session.ErrInvalid):
			fmt.Println("refused:", err)
		}
	}
	// Output:
	// signed out
	// refused: session: invalid credentials: authorization header is not a Bearer token
}
