package natsconn

import "github.com/ticketkit/ticketkit/natsclient"

// State is natsclient.State, which documents it.
type State = natsclient.State

const (
	Connected    = natsclient.Connected
	Reconnecting = natsclient.Reconnecting
	Closed       = natsclient.Closed
)
