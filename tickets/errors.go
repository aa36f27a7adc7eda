package tickets

import "github.com/ticketkit/ticketkit"

// The tickets domain's own refusals. The generic ones (ErrNotFound,
// ErrConflict, ...) are the module root's, in package ticketkit.
var (
	// ErrReserved refuses a change to a ticket an order holds: an edit,
	// or a reservation by another order. errors.Is matches it by its
	// reason, so orders.ErrTicketReserved is one too.
	ErrReserved = &ticketkit.Error{Code: ticketkit.EPRECONDITION, Reason: ReasonReserved, Message: "Cannot edit a reserved ticket"}
	// ErrConflict is what a use case answers when another writer kept
	// winning the ticket's compare-and-set: ticketkit.ErrConflict in the
	// ticket's words.
	ErrConflict = &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: "The ticket was changed by someone else; reload and try again"}
)

// ReasonReserved is the Error.Reason of ErrReserved.
const ReasonReserved = "ticket_reserved"
