package natsconn

import "fmt"

// State is where a client's connection stands; natsclient re-exports it
// and its values, and documents them.
type State int32

const (
	Connected State = iota + 1
	Reconnecting
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
