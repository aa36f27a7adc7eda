// Package httpapi holds the HTTP conventions the cluster's services share
// (in Node, through their common library), so that every Go service
// answers as the Node ones do:
//
//   - the error body {"errors":[{"message":"...","field":"..."}]}
//     (WriteErrors) and the status each domain error code maps to (Fail);
//   - sign-in required, with the cluster's 401 (RequireUser);
//   - a bounded JSON-object body, refused with 400 or 413 and a message
//     when it isn't one, its fields left raw so that each is decoded with
//     its own type and an operator-shaped value ({"$gt": ""}) is only
//     ever data (ReadObject);
//   - one log line per request, and a handler's panic turned into a 500
//     in the cluster's shape (LogRequests);
//   - the 404 for everything no route serves (NotFound).
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/idempotency"
	"github.com/ticketkit/ticketkit/session"
)

// DefaultMaxBody is express.json's default limit, so a body the Node
// services took is taken here and one they refused is refused.
const DefaultMaxBody = 100 << 10

// Problem is one entry of the cluster's error body.
type Problem struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// WriteErrors answers status with the cluster's error body.
func WriteErrors(w http.ResponseWriter, status int, problems ...Problem) {
	WriteJSON(w, status, struct {
		Errors []Problem `json:"errors"`
	}{problems})
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // a value that can't be marshalled is the program's bug
		status, body = http.StatusInternalServerError, []byte(`{"errors":[{"message":"Something went wrong"}]}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// NotFound answers the cluster's 404: the catch-all of a service's mux,
// for every path and method no route serves.
func NotFound(w http.ResponseWriter, _ *http.Request) {
	WriteErrors(w, http.StatusNotFound, Problem{Message: "Not Found"})
}

// Status is the HTTP status for a domain error code (ticketkit.ErrorCode).
func Status(code string) int {
	switch code {
	case "":
		return http.StatusOK
	case ticketkit.EINVALID, ticketkit.EPRECONDITION:
		return http.StatusBadRequest
	case ticketkit.ENOTFOUND:
		return http.StatusNotFound
	case ticketkit.ENOTOWNER:
		return http.StatusUnauthorized
	case ticketkit.ECONFLICT:
		return http.StatusConflict
	case ticketkit.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default: // EUNKNOWN too: a 500, which invites no blind retry
		return http.StatusInternalServerError
	}
}

// Fail answers err with the status its code calls for (Status) and its
// message; an invalid input lists its fields. Internal errors are logged
// in full and answered with a generic message, so no driver error,
// address or stack reaches a client. A request that ran out of its
// deadline (Limit) before any write is answered 503 with Retry-After,
// and one its client abandoned is logged at Info, not as a failure. A
// write whose outcome is unknown (ticketkit.EUNKNOWN) is answered 500
// with its message and no Retry-After, and an Idempotency-Key sent again
// with another request (idempotency.ErrReused) 422.
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := ticketkit.ErrorCode(err)
	if errors.Is(err, idempotency.ErrReused) {
		WriteErrors(w, http.StatusUnprocessableEntity, Problem{Message: ticketkit.ErrorMessage(err), Field: IdempotencyKeyHeader})
		return
	}
	switch status := Status(code); code {
	case ticketkit.EINVALID:
		WriteErrors(w, status, FieldErrors(err, "", ticketkit.ErrorMessage(err))...)
	case ticketkit.ENOTFOUND:
		WriteErrors(w, status, Problem{Message: "Not Found"})
	case ticketkit.EPRECONDITION, ticketkit.ENOTOWNER, ticketkit.ECONFLICT:
		WriteErrors(w, status, Problem{Message: ticketkit.ErrorMessage(err)})
	case ticketkit.EUNAVAILABLE:
		// Overload or an outage of a backend: shed, don't alarm.
		log.Warn("request refused: a backend is unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "1")
		WriteErrors(w, status, Problem{Message: ticketkit.ErrorMessage(err)})
	case ticketkit.EUNKNOWN:
		// A write that may have happened: say so, with no Retry-After,
		// so that no client repeats it blindly.
		log.Warn("request's write has an unknown outcome", "method", r.Method, "path", r.URL.Path, "error", err)
		WriteErrors(w, status, Problem{Message: ticketkit.ErrorMessage(err)})
	default:
		switch ctxErr := r.Context().Err(); {
		case errors.Is(ctxErr, context.DeadlineExceeded):
			// The request's deadline (Limit): the backends are slow.
			log.Warn("request ran out of time", "method", r.Method, "path", r.URL.Path, "error", err)
			w.Header().Set("Retry-After", "1")
			WriteErrors(w, http.StatusServiceUnavailable, Problem{Message: "The service did not answer in time; try again shortly"})
			return
		case ctxErr != nil:
			log.Info("request abandoned by its client", "method", r.Method, "path", r.URL.Path, "error", err)
		default:
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		WriteErrors(w, status, Problem{Message: "Something went wrong"})
	}
}

// FieldErrors turns a domain error into per-field problems; field and msg
// stand in where the error names none.
func FieldErrors(err error, field, msg string) []Problem {
	var e *ticketkit.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		if errors.As(err, &e) {
			msg = e.Message
		}
		return []Problem{{Field: field, Message: msg}}
	}
	out := make([]Problem, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = Problem{Field: f.Field, Message: f.Message}
	}
	return out
}

// RequireUser returns the signed-in user, or answers the cluster's 401
// and reports false. It checks the token itself, rather than reading what
// session.Middleware found, so routes anyone may use never check one; a
// refusal is logged at Debug with its reason, never with the token.
func RequireUser(w http.ResponseWriter, r *http.Request, v *session.Verifier, log *slog.Logger) (session.User, bool) {
	user, err := v.User(r)
	if err != nil {
		if !errors.Is(err, session.ErrNoSession) {
			log.Debug("rejected credentials", "path", r.URL.Path, "reason", err.Error())
		}
		WriteErrors(w, http.StatusUnauthorized, Problem{Message: "Not authorized"})
		return session.User{}, false
	}
	return user, true
}

// ReadObject reads a JSON object body of at most maxBytes into its raw
// fields, answering 400 or 413 itself, and reporting false, when it isn't
// one: not JSON, not an object, too large, unreadable, or a field whose
// value is not valid UTF-8 (which a decoder would silently turn into
// U+FFFD; each such field gets its own problem). Like express.json, a
// body that is not declared JSON is not read at all: it reads as no
// fields, which the validation then reports field by field.
func ReadObject(w http.ResponseWriter, r *http.Request, maxBytes int64) (map[string]json.RawMessage, bool) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/json" {
		return nil, true
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		WriteErrors(w, http.StatusRequestEntityTooLarge, Problem{Message: fmt.Sprintf("Request body must be at most %d KiB", maxBytes>>10)})
		return nil, false
	case err != nil:
		WriteErrors(w, http.StatusBadRequest, Problem{Message: "Could not read the request body"})
		return nil, false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, true
	}
	if !json.Valid(data) {
		WriteErrors(w, http.StatusBadRequest, Problem{Message: "Request body is not valid JSON"})
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		WriteErrors(w, http.StatusBadRequest, Problem{Message: "Request body must be a JSON object"})
		return nil, false
	}
	if !utf8.Valid(data) {
		var problems []Problem
		for name, raw := range fields {
			if !utf8.Valid(raw) || !utf8.ValidString(name) {
				problems = append(problems, Problem{Field: name, Message: "Must be valid UTF-8"})
			}
		}
		sortProblems(problems)
		WriteErrors(w, http.StatusBadRequest, problems...)
		return nil, false
	}
	return fields, true
}

func sortProblems(ps []Problem) {
	slices.SortFunc(ps, func(a, b Problem) int { return strings.Compare(a.Field, b.Field) })
}

// IsNull reports whether a raw field is JSON null, which the cluster's
// validators treat as absent.
func IsNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// LogRequests logs one line per request through log and turns a
// handler's panic into a 500 in the cluster's error shape. It logs the
// path but no headers and no query: tokens travel in headers, and
// nothing else needs the query.
func LogRequests(log *slog.Logger, next http.Handler) http.Handler {
	tracer := otel.Tracer(TracerName) // once: it follows a provider set later
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, span := startRequest(tracer, r)
		if span.SpanContext().IsValid() || events.CorrelationID(ctx) != "" {
			r = r.WithContext(ctx)
		} else {
			ctx = r.Context() // nothing to carry: spare the request a copy
		}
		if id := events.CorrelationID(ctx); id != "" {
			w.Header().Set(events.HeaderCorrelationID, id)
		}
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					span.End()
					panic(p)
				}
				log.ErrorContext(ctx, "handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					WriteErrors(rec, http.StatusInternalServerError, Problem{Message: "Something went wrong"})
				}
			}
			endRequest(span, rec.status)
			log.InfoContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"bytes", rec.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
	})
}

// TracerName is the instrumentation scope of the request spans.
const TracerName = "github.com/ticketkit/ticketkit/httpapi"

// startRequest starts the request's server span, continuing the caller's
// trace (a traceparent header), through the global TracerProvider, and
// picks its correlation id: the caller's X-Correlation-Id (or
// X-Request-Id), else the trace id when a tracer runs, else none. Both
// reach the outbox entries the request writes (outbox.Capture).
func startRequest(tracer trace.Tracer, r *http.Request) (context.Context, trace.Span) {
	ctx := r.Context()
	if r.Header.Get("traceparent") != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	// The method is the span's name, as OpenTelemetry's HTTP conventions
	// have it without a route; attributes only for a span that records.
	ctx, span := tracer.Start(ctx, r.Method, serverKind)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
	}
	id := r.Header.Get(events.HeaderCorrelationID)
	if id == "" {
		id = r.Header.Get("X-Request-Id")
	}
	if !validCorrelationID(id) {
		id = ""
		if sc := span.SpanContext(); sc.IsValid() {
			id = sc.TraceID().String()
		}
	}
	return events.WithCorrelationID(ctx, id), span
}

var serverKind = trace.WithSpanKind(trace.SpanKindServer)

func endRequest(span trace.Span, status int) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// validCorrelationID accepts what can travel as a header and a log field
// unchanged: 1 to 128 printable ASCII characters.
func validCorrelationID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
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

// Routes is a ServeMux with the Node services' routing: a route also
// matches its path with one trailing slash (Express ignores it, and
// clients may rely on that), and every other path and method gets the
// cluster's 404, known paths with another method too (the catch-all
// matches those before ServeMux could answer 405).
type Routes struct{ mux *http.ServeMux }

// NewRoutes returns an empty Routes.
func NewRoutes() *Routes {
	r := &Routes{mux: http.NewServeMux()}
	r.mux.HandleFunc("/", NotFound)
	return r
}

// Handle routes pattern ("METHOD /path", as ServeMux reads it, without
// a trailing slash) and pattern with one to h.
func (r *Routes) Handle(pattern string, h http.HandlerFunc) {
	r.mux.HandleFunc(pattern, h)
	r.mux.HandleFunc(pattern+"/{$}", h)
}

// ServeHTTP implements http.Handler.
func (r *Routes) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }
