package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/tickets"
)

// maxBodyBytes is express.json's default limit, so a body the Node service
// took is taken here and one it refused is refused.
const maxBodyBytes = 100 << 10

// api serves the routes of the Node tickets service.
type api struct {
	svc  *tickets.Service
	auth *session.Verifier
	log  *slog.Logger
}

// routes returns the service's handler. Every path and method the Node
// service does not serve gets its 404, including known paths with another
// method: the catch-all "/" matches those before ServeMux could answer 405.
func (a *api) routes(ops *operations) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/tickets", a.create)
	mux.HandleFunc("GET /api/tickets", a.list)
	mux.HandleFunc("GET /api/tickets/{id}", a.show)
	mux.HandleFunc("PUT /api/tickets/{id}", a.update)
	// Express routes ignore one trailing slash; clients may rely on it.
	mux.HandleFunc("POST /api/tickets/{$}", a.create)
	mux.HandleFunc("GET /api/tickets/{$}", a.list)
	mux.HandleFunc("GET /api/tickets/{id}/{$}", a.show)
	mux.HandleFunc("PUT /api/tickets/{id}/{$}", a.update)
	mux.HandleFunc("GET /healthz", ops.healthz)
	mux.HandleFunc("GET /readyz", ops.readyz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, apiError{Message: "Not Found"})
	})
	return logRequests(a.log, mux)
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
		if !tickets.ValidID(s) {
			problems = append(problems, apiError{Field: "after", Message: "After must be a cursor from a previous page"})
		}
		f.After = s
	}
	return f, problems
}

func (a *api) show(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !tickets.ValidID(id) {
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
	if !tickets.ValidID(id) {
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

// requireUser answers 401 unless the request carries a valid token. It
// calls the verifier itself, rather than reading what session.Middleware
// found, so the routes anyone may use never check a token and a refusal
// can be logged with its reason.
func (a *api) requireUser(w http.ResponseWriter, r *http.Request) (session.User, bool) {
	user, err := a.auth.User(r)
	if err != nil {
		if !errors.Is(err, session.ErrNoSession) {
			// The reason only: tokens are credentials and never logged.
			a.log.Debug("rejected credentials", "path", r.URL.Path, "reason", err.Error())
		}
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "Not authorized"})
		return session.User{}, false
	}
	return user, true
}

// readInput decodes a ticket body, answering 400 or 413 itself when it
// can't. Fields are decoded one by one, so every bad field gets its own
// message and a wrong type is reported as such instead of as "Invalid
// input": this is where an operator-shaped value like {"$gt": ""} ends.
func (a *api) readInput(w http.ResponseWriter, r *http.Request) (tickets.Input, bool) {
	fields, problem, status := readJSONObject(w, r)
	if problem != nil {
		writeErrors(w, status, *problem)
		return tickets.Input{}, false
	}
	var in tickets.Input
	bad := map[string][]apiError{}
	if raw, ok := fields["title"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &in.Title); err != nil {
			bad["title"] = []apiError{{Field: "title", Message: "Title must be a string"}}
		}
	}
	if raw, ok := fields["price"]; ok && !isNull(raw) {
		if err := in.Price.UnmarshalJSON(raw); err != nil {
			bad["price"] = fieldErrors(err, "price", "Price must be a number")
		}
	}
	// The domain's own rules for the fields that did decode: required,
	// lengths, bounds. An absent price is 0 here, which the domain reports
	// as "Price must be greater than 0", the Node service's message for it.
	if err := in.Validate(); err != nil {
		undecoded := maps.Clone(bad) // "Title is required" after "must be a string" would mislead
		for _, p := range fieldErrors(err, "", "Invalid input") {
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

// readJSONObject reads a JSON object body into its raw fields. Like
// express.json, a body that is not declared JSON is not read at all and
// counts as empty, which the validation then reports field by field.
func readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, *apiError, int) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/json" {
		return nil, nil, 0
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &apiError{Message: fmt.Sprintf("Request body must be at most %d KiB", maxBodyBytes>>10)}, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, &apiError{Message: "Could not read the request body"}, http.StatusBadRequest
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, 0
	}
	if !json.Valid(data) {
		return nil, &apiError{Message: "Request body is not valid JSON"}, http.StatusBadRequest
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, &apiError{Message: "Request body must be a JSON object"}, http.StatusBadRequest
	}
	return fields, nil, 0
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// fieldErrors turns a domain error into per-field messages; field and msg
// stand in where the error names none.
func fieldErrors(err error, field, msg string) []apiError {
	var e *tickets.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		if errors.As(err, &e) {
			msg = e.Message
		}
		return []apiError{{Field: field, Message: msg}}
	}
	out := make([]apiError, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = apiError{Field: f.Field, Message: f.Message}
	}
	return out
}

// fail answers with the status the error's code calls for. Internal errors
// are logged in full and answered with a generic message, so no driver
// error, address or stack reaches a client.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	switch tickets.ErrorCode(err) {
	case tickets.EINVALID:
		writeErrors(w, http.StatusBadRequest, fieldErrors(err, "", tickets.ErrorMessage(err))...)
		return
	case tickets.ENOTFOUND:
		writeErrors(w, http.StatusNotFound, apiError{Message: "Not Found"})
		return
	case tickets.ERESERVED:
		status = http.StatusBadRequest
	case tickets.ENOTOWNER:
		status = http.StatusUnauthorized
	case tickets.ECONFLICT:
		status = http.StatusConflict
	default:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeErrors(w, http.StatusInternalServerError, apiError{Message: "Something went wrong"})
		return
	}
	writeErrors(w, status, apiError{Message: tickets.ErrorMessage(err)})
}

// apiError is one entry of the cluster's error body,
// {"errors":[{"message":"...","field":"..."}]}.
type apiError struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	writeJSON(w, status, struct {
		Errors []apiError `json:"errors"`
	}{errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only our own types get here; they always marshal
		status, body = http.StatusInternalServerError, []byte(`{"errors":[{"message":"Something went wrong"}]}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// logRequests logs one line per request and turns a handler's panic into a
// 500 in the cluster's error shape. It logs the path but no headers and no
// query: tokens travel in headers, and nothing else here needs the query.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeErrors(rec, http.StatusInternalServerError, apiError{Message: "Something went wrong"})
				}
			}
			log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"bytes", rec.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
	})
}

// statusRecorder remembers the status and size of a response, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
