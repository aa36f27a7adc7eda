package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/ticketkit/ticketkit/idempotency"
)

// IdempotencyKeyHeader is the request header that makes a create safe to
// retry (package idempotency), and ReplayedHeader the answer's header that
// says it was answered from an earlier request's work.
const (
	IdempotencyKeyHeader = "Idempotency-Key"
	ReplayedHeader       = "Idempotent-Replayed"
)

// Idempotent honours the Idempotency-Key header of the POST requests it
// serves: it puts an idempotency.Key in the request's context, scoped to
// scope(r) (the signed-in user's id, or "" for none) and bound to the
// request's method, path and body, byte for byte, remembered for ttl
// (idempotency.DefaultTTL if 0). The stores keep it with what the
// request creates, so a repeat of the request is answered from the
// earlier document (with Idempotent-Replayed: true) and writes nothing;
// the same key with another request is answered 422 (Fail).
//
// A key of more than idempotency.MaxLength characters, or with
// characters other than printable ASCII, or sent twice, is answered 400;
// a request without the header passes as it is. Other methods pass as
// they are: PUT and DELETE are idempotent by their nature here.
func Idempotent(next http.Handler, scope func(*http.Request) string, ttl time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values(IdempotencyKeyHeader)
		if r.Method != http.MethodPost || len(values) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if len(values) > 1 || !validKey(values[0]) {
			WriteErrors(w, http.StatusBadRequest, Problem{
				Message: "Idempotency-Key must be one value of 1 to 255 printable ASCII characters",
				Field:   IdempotencyKeyHeader,
			})
			return
		}
		// The fingerprint covers what the handler will read: at most a
		// little more than DefaultMaxBody, which handlers refuse anyway.
		body, err := io.ReadAll(io.LimitReader(r.Body, DefaultMaxBody+1))
		if err != nil {
			WriteErrors(w, http.StatusBadRequest, Problem{Message: "The request body could not be read"})
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		request := make([]byte, 0, len(r.Method)+len(r.URL.Path)+len(body)+2)
		request = append(append(append(append(append(request, r.Method...), 0), r.URL.Path...), 0), body...)
		k := idempotency.New(scope(r), values[0], request, ttl)
		ctx := idempotency.NewContext(r.Context(), k)
		next.ServeHTTP(&replayWriter{ResponseWriter: w, r: r.WithContext(ctx)}, r.WithContext(ctx))
	})
}

func validKey(k string) bool {
	if k == "" || len(k) > idempotency.MaxLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// replayWriter adds ReplayedHeader to an answer whose create a store
// answered from an earlier request's document.
type replayWriter struct {
	http.ResponseWriter
	r       *http.Request
	written bool
}

func (rw *replayWriter) WriteHeader(code int) {
	if !rw.written {
		rw.written = true
		if _, ok := idempotency.ReplayedID(rw.r.Context()); ok {
			rw.Header().Set(ReplayedHeader, "true")
		}
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *replayWriter) Write(b []byte) (int, error) {
	if !rw.written {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (rw *replayWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
