package ticketkit

import (
	"errors"
	"fmt"
)

// Error codes. They are few on purpose: each maps to one way a caller
// reacts (an HTTP status, an ack decision), not to one place the error
// came from. A domain tells its own refusals apart with Error.Reason, not
// with codes of its own, so every layer that maps codes (httpapi, a
// listener's ack decision) knows them all.
const (
	EINVALID  = "invalid"   // input failed validation; see Error.Fields
	ENOTFOUND = "not_found" // no such resource
	ECONFLICT = "conflict"  // the stored version moved on (optimistic concurrency), or the id exists
	// EPRECONDITION: the resource's state forbids the operation (a
	// reserved ticket, a completed order). The Node services answer
	// these 400; Error.Reason says which rule refused.
	EPRECONDITION = "failed_precondition"
	ENOTOWNER     = "not_owner" // the caller does not own the resource
	// EUNAVAILABLE: the backends can't take the call now (overloaded,
	// unreachable, or this writer's outbox lease lapsed) and nothing was
	// written; retrying shortly may work.
	EUNAVAILABLE = "unavailable"
	// EUNKNOWN: a write was sent but not confirmed, and looking it up
	// could not tell whether it was stored. It may have been: a blind
	// retry could do it twice. The caller looks first, or retries with
	// the same idempotency key (package idempotency).
	EUNKNOWN  = "outcome_unknown"
	EINTERNAL = "internal" // anything else: not the caller's fault
)

// Error is the module's one error type, shared by every domain and
// adapter: a code for programs and a message for people. Err keeps the
// underlying cause, if any, for logs and errors.As.
type Error struct {
	Code string
	// Reason names the domain rule behind the error, such as
	// "ticket_reserved", so that a domain's sentinels can be told apart
	// with errors.Is while sharing a code. Empty for the generic ones.
	Reason  string
	Message string
	// Fields lists per-field problems of an EINVALID error, so an HTTP layer
	// can render {"errors":[{"message":...,"field":...}]}.
	Fields []FieldError
	Err    error
}

// FieldError is one problem with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Sentinels for errors.Is. Every *Error matches the sentinel of its code,
// so errors.Is(err, ErrNotFound) holds whatever the message says; a
// domain's sentinel, which has a Reason, matches only errors with that
// reason. The messages speak of no domain: a use case that wants its own
// words ("The order was changed by someone else") returns an *Error of
// the same code with them.
var (
	ErrInvalid     = &Error{Code: EINVALID, Message: "Invalid input"}
	ErrNotFound    = &Error{Code: ENOTFOUND, Message: "Not Found"}
	ErrConflict    = &Error{Code: ECONFLICT, Message: "It was changed by someone else; reload and try again"}
	ErrNotOwner    = &Error{Code: ENOTOWNER, Message: "Not authorized"}
	ErrUnavailable = &Error{Code: EUNAVAILABLE, Message: "The service is busy; try again shortly"}
	ErrUnknown     = &Error{Code: EUNKNOWN, Message: "The database did not confirm the write in time, and it may have been saved: look before trying again, or retry with the same Idempotency-Key"}
)

// Errorf returns an *Error with the given code and a formatted message.
// A %w verb in format keeps its operand as the cause.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Invalid returns an EINVALID error listing the field problems; its
// message is the one problem's, or "Invalid input" for several.
func Invalid(fields ...FieldError) *Error {
	msg := "Invalid input"
	if len(fields) == 1 {
		msg = fields[0].Message
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message != e.Err.Error() {
		return fmt.Sprintf("ticketkit: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("ticketkit: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code and, when the
// target has a Reason, the same reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for anything else.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the message of the first *Error in err's chain, "" for
// nil, and a generic message for anything else, so internal details never
// reach an end user.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Internal error"
	}
}
