package session

import (
	"context"
	"net/http"
)

// contextKey is the context key of the user; unexported, so only this
// package can put a user in a context or take one out.
type contextKey struct{}

// NewContext returns a copy of ctx carrying u, as Middleware does for a
// signed-in request; tests of handlers use it to sign in without a token.
func NewContext(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, contextKey{}, u)
}

// FromContext returns the user Middleware (or NewContext) put in ctx, and
// false when the request is signed out.
func FromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(contextKey{}).(User)
	return u, ok
}

// Middleware is Node's currentUser: it puts the request's user in its
// context, for FromContext, and passes every request on. Like the Node
// middleware it never fails a request: missing or bad credentials just
// mean signed out, and a handler that needs a user answers 401 in the
// service's own error shape. Why credentials were refused is dropped
// here; a handler that wants it for its log calls User instead.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, err := v.User(r); err == nil {
			r = r.WithContext(NewContext(r.Context(), u))
		}
		next.ServeHTTP(w, r)
	})
}
