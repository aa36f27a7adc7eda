package natsclient

import "fmt"

// State is where a client's connection stands.
type State int32

const (
	// Connected: the server answers; calls go through.
	Connected State = iota + 1
	// Reconnecting: the connection was lost and is being re-established;
	// calls wait for it, within their context.
	Reconnecting
	// Closed: Close was called; calls fail with ErrClosed.
	Closed
)

func (s State) String() string {
	switch s {
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	case Closed:
		return "closed"
	default:
		return fmt.Sprintf("State(%d)", int32(s))
	}
}
