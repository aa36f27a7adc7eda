package ticketsvc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/tickets"
)

// maxBodyBytes is express.json's default limit, as the Node service has it.
const maxBodyBytes = httpapi.DefaultMaxBody

// api serves the routes of the Node tickets service.
type api struct {
	svc  *tickets.Service
	auth *session.Verifier
	log  *slog.Logger
}

// routes returns the API's handler (service.Handler adds the probes,
// limits and request logs), routed as the Node service routes
// (httpapi.Routes).
func (a *api) routes() http.Handler {
	r := httpapi.NewRoutes()
	r.Handle("POST /api/tickets", a.create)
	r.Handle("GET /api/tickets", a.list)
	r.Handle("GET /api/tickets/{id}", a.show)
	r.Handle("PUT /api/tickets/{id}", a.update)
	return r
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	user, ok := a.requireUser(w, r)
	if !ok {
		return
	}
	in, ok := a.readInput(w, r)
	if !ok {
		return
	}
	change, err := a.svc.Create(r.Context(), user.ID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, change.Ticket)
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	f, problems := listFilter(r.URL.Query())
	if problems != nil {
		writeErrors(w, http.StatusBadRequest, problems...)
		return
	}
	page, err := a.svc.List(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if page.Next != "" {
		// Both headers carry the same cursor: Link (RFC 8288) for clients
		// that follow links generically, X-Next-Cursor for those that just
		// want the value. The body stays the bare array the Node service
		// returns, so existing clients see no difference.
		next := url.Values{"after": {page.Next}, "limit": {strconv.Itoa(f.PageSize())}}
		w.Header().Set("Link", fmt.Sprintf(`</api/tickets?%s>; rel="next"`, next.Encode()))
		w.Header().Set("X-Next-Cursor", page.Next)
	}
	if page.Tickets == nil {
		page.Tickets = []tickets.Ticket{} // [] like Node, never null
	}
	writeJSON(w, http.StatusOK, page.Tickets)
}

// listFilter reads the pagination parameters. An absent or empty parameter
// takes its default; anything else that is not valid is the caller's
// mistake, reported rather than clamped, so a client never silently gets a
// page other than the one it asked for.
func listFilter(q url.Values) (tickets.Filter, []apiError) {
	f := tickets.Filter{Unreserved: true, Limit: tickets.DefaultLimit}
	var problems []apiError
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > tickets.MaxLimit {
			problems = append(problems, apiError{Field: "limit", Message: fmt.Sprintf("Limit must be a whole number from 1 to %d", tickets.MaxLimit)})
		}
		f.Limit = n
	}
	if s := q.Get("after"); s != "" {
		if !ticketkit.ValidID(s) {
			problems = append(problems, apiError{Field: "after", Message: "After must be a cursor from a previous page"})
		}
		f.After = s
	}
	return f, problems
}

func (a *api) show(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ticketkit.ValidID(id) {
		// Checked here so no store ever sees it: Node casts such an id to
		// an ObjectId and answers 500.
		writeErrors(w, http.StatusNotFound, apiError{Message: "Not Found"})
		return
	}
	t, err := a.svc.Get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *api) update(w http.ResponseWriter, r *http.Request) {
	user, ok := a.requireUser(w, r)
	if !ok {
		return
	}
	// Node validates the body before it looks the ticket up, so a bad body
	// is a 400 even for a ticket that does not exist.
	in, ok := a.readInput(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !ticketkit.ValidID(id) {
		writeErrors(w, http.StatusNotFound, apiError{Message: "Not Found"})
		return
	}
	change, err := a.svc.Update(r.Context(), id, user.ID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, change.Ticket)
}

// requireUser answers 401 unless the request carries a valid token.
func (a *api) requireUser(w http.ResponseWriter, r *http.Request) (session.User, bool) {
	return httpapi.RequireUser(w, r, a.auth, a.log)
}

// readInput decodes a ticket body, answering 400 or 413 itself when it
// can't. Fields are decoded one by one, so every bad field gets its own
// message and a wrong type is reported as such instead of as "Invalid
// input": this is where an operator-shaped value like {"$gt": ""} ends.
func (a *api) readInput(w http.ResponseWriter, r *http.Request) (tickets.Input, bool) {
	fields, ok := httpapi.ReadObject(w, r, maxBodyBytes)
	if !ok {
		return tickets.Input{}, false
	}
	var in tickets.Input
	bad := map[string][]apiError{}
	if raw, ok := fields["title"]; ok && !httpapi.IsNull(raw) {
		if err := json.Unmarshal(raw, &in.Title); err != nil {
			bad["title"] = []apiError{{Field: "title", Message: "Title must be a string"}}
		}
	}
	if raw, ok := fields["price"]; ok && !httpapi.IsNull(raw) {
		if err := in.Price.UnmarshalJSON(numberInString(raw)); err != nil {
			bad["price"] = httpapi.FieldErrors(err, "price", "Price must be a number")
		}
	}
	// The domain's own rules for the fields that did decode: required,
	// lengths, bounds. An absent price is 0 here, which the domain reports
	// as "Price must be greater than 0", the Node service's message for it.
	if err := in.Validate(); err != nil {
		undecoded := maps.Clone(bad) // "Title is required" after "must be a string" would mislead
		for _, p := range httpapi.FieldErrors(err, "", "Invalid input") {
			if _, ok := undecoded[p.Field]; !ok {
				bad[p.Field] = append(bad[p.Field], p)
			}
		}
	}
	// In the order of the form, as the Node service lists them.
	var problems []apiError
	for _, f := range []string{"title", "price"} {
		problems = append(problems, bad[f]...)
		delete(bad, f)
	}
	for _, f := range slices.Sorted(maps.Keys(bad)) {
		problems = append(problems, bad[f]...)
	}
	if problems != nil {
		writeErrors(w, http.StatusBadRequest, problems...)
		return tickets.Input{}, false
	}
	return in, true
}

// fail answers err as the cluster does (httpapi.Fail).
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) { httpapi.Fail(w, r, a.log, err) }

// Short names for the shared conventions used throughout this file.
type apiError = httpapi.Problem

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	httpapi.WriteErrors(w, status, errs...)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpapi.WriteJSON(w, status, v) }

// numberInString unwraps a JSON string that holds a number ("20.00") into
// that number, and returns anything else as it is. The cluster's client
// sends the price as its form field's text, a string: the Node service
// takes it, as express-validator's isFloat and mongoose's Number cast do,
// so this one does too. Only the number's own syntax is unwrapped: an
// object, a bool or a string that is no number is still refused.
func numberInString(raw json.RawMessage) json.RawMessage {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return raw
	}
	if s == "" || s[0] == '"' || !json.Valid([]byte(s)) || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return raw
	}
	return json.RawMessage(s)
}
