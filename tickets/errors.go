package tickets

import (
	"errors"
	"fmt"
)

// Error codes. They are few on purpose: each maps to one way a caller reacts
// (an HTTP status, an ack decision), not to one place the error came from.
const (
	EINVALID  = "invalid"   // input failed validation; see Error.Fields
	ENOTFOUND = "not_found" // no ticket with that id
	ECONFLICT = "conflict"  // the stored version moved on (optimistic concurrency)
	ERESERVED = "reserved"  // the ticket is reserved by an order
	ENOTOWNER = "not_owner" // the user does not own the ticket
	// EUNAVAILABLE: the backends can't take the call now (overloaded,
	// unreachable, or this writer's outbox lease lapsed); retrying
	// shortly may work, and nothing was changed or its outcome is
	// recovered by the outbox.
	EUNAVAILABLE = "unavailable"
	EINTERNAL    = "internal" // anything else: not the caller's fault
)

// Error is the package's one error type: a code for programs and a message
// for people. Err keeps the underlying cause, if any, for logs and errors.As.
type Error struct {
	Code    string
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

// Sentinels for errors.Is. Every *Error matches the sentinel of its code, so
// errors.Is(err, ErrNotFound) holds whatever the message says.
var (
	ErrInvalid     = &Error{Code: EINVALID, Message: "Invalid input"}
	ErrNotFound    = &Error{Code: ENOTFOUND, Message: "Not Found"}
	ErrConflict    = &Error{Code: ECONFLICT, Message: "The ticket was changed by someone else; reload and try again"}
	ErrReserved    = &Error{Code: ERESERVED, Message: "Cannot edit a reserved ticket"}
	ErrNotOwner    = &Error{Code: ENOTOWNER, Message: "Not authorized"}
	ErrUnavailable = &Error{Code: EUNAVAILABLE, Message: "The service is busy; try again shortly"}
)

// Errorf returns an *Error with the given code and a formatted message.
// A %w verb in format keeps its operand as the cause.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message != e.Err.Error() {
		return fmt.Sprintf("tickets: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("tickets: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
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

// invalid returns an EINVALID error listing the field problems.
func invalid(fields ...FieldError) *Error {
	msg := "Invalid input"
	if len(fields) == 1 {
		msg = fields[0].Message
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}
