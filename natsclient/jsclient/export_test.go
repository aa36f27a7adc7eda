package jsclient

import (
	"context"

	"github.com/ticketkit/ticketkit/events"
)

// StartBridgeWithHook is StartBridge with a hook that runs between
// JetStream's ack and NATS Streaming's; false leaves the message
// unacknowledged, as a crash there would.
func StartBridgeWithHook(ctx context.Context, from events.Transport, to *Client, cfg BridgeConfig, hook func(subject string, seq uint64) bool) (*Bridge, error) {
	return startBridge(ctx, from, to, cfg, hook)
}
