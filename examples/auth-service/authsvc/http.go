package authsvc

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/password"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/store"
)

// Answers of the Node routes, and this one's own 429.
const (
	msgEmailInUse   = "Email in use"
	msgInvalidCreds = "Invalid credentials"
	msgTooMany      = "Too many sign-in attempts; try again later"
)

// dummyHash is verified when a sign-in names no user, so that it takes
// as long as one with a wrong password and its timing doesn't tell which
// emails have an account. (The Node service answers the first at once.)
const dummyHash = "139e9b9c980f9404d0f542e67ee17825add9489b84d4afbdd77f8f91d73453a2ee47a5eb875b3e005bc235990ec79322f5b8a71c9b00315062aad702f590dc26.4969b76d5c2e0be1"

// api serves the routes of the Node auth service.
type api struct {
	users  store.Collection[User]
	verify *session.Verifier
	key    []byte
	ttl    time.Duration
	limit  *limiter
	hashes chan struct{} // scrypts running
	log    *slog.Logger
}

// routes returns the API's handler (service.Handler adds the probes,
// limits and request logs), routed as the Node service routes.
func (a *api) routes() http.Handler {
	r := httpapi.NewRoutes()
	r.Handle("POST /api/users/signup", a.signup)
	r.Handle("POST /api/users/signin", a.signin)
	r.Handle("POST /api/users/signout", a.signout)
	r.Handle("GET /api/users/currentuser", a.currentUser)
	return r
}

// credentials reads {email, password} and validates them as the route's
// express-validator chain does, answering 400 with every field's
// problem itself when they don't hold. The password is trimmed, as
// express-validator's trim() changes req.body.password before the Node
// service hashes or compares it.
func credentials(w http.ResponseWriter, r *http.Request, signup bool) (email, pw string, ok bool) {
	fields, ok := httpapi.ReadObject(w, r, httpapi.DefaultMaxBody)
	if !ok {
		return "", "", false
	}
	var problems []httpapi.Problem
	email, isString := stringField(fields, "email")
	if !isString || !validEmail(email) {
		problems = append(problems, httpapi.Problem{Field: "email", Message: msgEmail})
	}
	pw, isString = stringField(fields, "password")
	pw = jsTrim(pw)
	switch {
	case signup && (!isString || jsLength(pw) < 4 || jsLength(pw) > 20):
		problems = append(problems, httpapi.Problem{Field: "password", Message: msgPasswordLength})
	case !signup && (!isString || pw == ""):
		problems = append(problems, httpapi.Problem{Field: "password", Message: msgPasswordEmpty})
	}
	if len(problems) > 0 {
		httpapi.WriteErrors(w, http.StatusBadRequest, problems...)
		return "", "", false
	}
	return email, pw, true
}

func (a *api) signup(w http.ResponseWriter, r *http.Request) {
	email, pw, ok := credentials(w, r, true)
	if !ok {
		return
	}
	// Node's check, which spares a known email its scrypt; the unique
	// index is what makes it true when two signups race.
	if _, found, err := a.byEmail(r.Context(), email); err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	} else if found {
		httpapi.WriteErrors(w, http.StatusBadRequest, httpapi.Problem{Message: msgEmailInUse})
		return
	}
	var hash string
	err := a.scrypt(r.Context(), func() (err error) {
		hash, err = password.Hash(pw)
		return err
	})
	if err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	id := ticketkit.NewID()
	switch err := a.users.Insert(r.Context(), id, User{Email: email, Password: hash}); {
	case errors.Is(err, ticketkit.ErrConflict):
		httpapi.WriteErrors(w, http.StatusBadRequest, httpapi.Problem{Message: msgEmailInUse})
		return
	case err != nil:
		httpapi.Fail(w, r, a.log, err)
		return
	}
	a.signIn(w, r, http.StatusCreated, id, email)
}

func (a *api) signin(w http.ResponseWriter, r *http.Request) {
	email, pw, ok := credentials(w, r, false)
	if !ok {
		return
	}
	if wait, ok := a.limit.take("email:"+strings.ToLower(email), "addr:"+clientAddr(r)); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		httpapi.WriteErrors(w, http.StatusTooManyRequests, httpapi.Problem{Message: msgTooMany})
		return
	}
	u, found, err := a.byEmail(r.Context(), email)
	if err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	stored := dummyHash
	if found {
		stored = u.Doc.Password
	}
	var match bool
	err = a.scrypt(r.Context(), func() (err error) {
		match, err = password.Verify(stored, pw)
		return err
	})
	switch {
	case errors.Is(err, password.ErrMalformed):
		// Not a hash the Node or Go service wrote: nobody can sign in
		// as this user until it is reset, which an operator must know.
		a.log.LogAttrs(r.Context(), slog.LevelError, "auth: a user's stored password is not a password hash", slog.String("id", u.ID))
		match = false
	case err != nil:
		httpapi.Fail(w, r, a.log, err)
		return
	}
	if !found || !match {
		// One message for both, where Node says "Invalid credentials"
		// and "Invalid Credentials", which tells the two apart.
		httpapi.WriteErrors(w, http.StatusBadRequest, httpapi.Problem{Message: msgInvalidCreds})
		return
	}
	a.signIn(w, r, http.StatusOK, u.ID, u.Doc.Email)
}

// signIn sets the session cookie of a token for the user and answers
// status with the user, as the Node routes end.
func (a *api) signIn(w http.ResponseWriter, r *http.Request, status int, id, email string) {
	token, err := session.Mint(a.key, session.User{ID: id, Email: email}, time.Now(), a.ttl)
	if err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	session.SetCookie(w, token)
	httpapi.WriteJSON(w, status, userJSON{Email: email, ID: id})
}

func (a *api) signout(w http.ResponseWriter, _ *http.Request) {
	session.ClearCookie(w)
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *api) currentUser(w http.ResponseWriter, r *http.Request) {
	c, err := a.verify.Claims(r)
	if err != nil {
		httpapi.WriteJSON(w, http.StatusOK, struct {
			CurrentUser *currentJSON `json:"currentUser"`
		}{})
		return
	}
	cur := &currentJSON{ID: c.ID, Email: c.Email, IAT: c.IssuedAt.Unix()}
	if !c.ExpiresAt.IsZero() {
		cur.EXP = c.ExpiresAt.Unix()
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		CurrentUser *currentJSON `json:"currentUser"`
	}{cur})
}

// byEmail returns the user of email, if there is one.
func (a *api) byEmail(ctx context.Context, email string) (store.Record[User], bool, error) {
	rs, err := a.users.Find(ctx, store.Filter{"email": email}, store.Limit(1))
	if err != nil || len(rs) == 0 {
		return store.Record[User]{}, false, err
	}
	return rs[0], true, nil
}

// scrypt runs f, a password hash or check, when fewer than the limit of
// them are running; a request whose deadline passes while it waits is
// answered 503 (nothing was written).
func (a *api) scrypt(ctx context.Context, f func() error) error {
	select {
	case a.hashes <- struct{}{}:
	case <-ctx.Done():
		return &ticketkit.Error{Code: ticketkit.EUNAVAILABLE, Message: ticketkit.ErrUnavailable.Message, Err: ctx.Err()}
	}
	defer func() { <-a.hashes }()
	return f()
}

// clientAddr is the address a sign-in comes from: the last address of
// X-Forwarded-For, which the cluster's ingress appends (what came before
// it a client may have written itself), else the peer's. Behind more than
// one proxy, this is the inner proxy's view of the outer one, so the
// per-address limit then counts that proxy's clients together.
func clientAddr(r *http.Request) string {
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if addr := strings.TrimSpace(last); addr != "" {
			return addr
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
