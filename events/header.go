package events

import "slices"

// Header is a message's headers: trace context (traceparent,
// tracestate), the correlation id, a dead letter's facts. Keys are
// case-sensitive, as on NATS. A Header is an OpenTelemetry TextMapCarrier.
//
// JetStream and memtransport carry headers. NATS Streaming has none: its
// message is only the payload, which must stay byte for byte what the
// Node services expect, so headers are dropped there, never smuggled
// into the payload. CarriesHeaders tells which a transport does.
type Header map[string]string

// Get returns the value of key, or "".
func (h Header) Get(key string) string { return h[key] }

// Set sets key to value. Set on a nil Header does nothing.
func (h Header) Set(key, value string) {
	if h != nil {
		h[key] = value
	}
}

// Keys returns the keys, sorted.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Clone returns a copy of h, nil for an empty h.
func (h Header) Clone() Header {
	if len(h) == 0 {
		return nil
	}
	out := make(Header, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

// The headers this module writes.
const (
	HeaderCorrelationID = "X-Correlation-Id"
	// A dead letter's, on a transport that carries headers.
	HeaderDeadSubject  = "Ticketkit-Dead-Subject"  // the subject it came from
	HeaderDeadSequence = "Ticketkit-Dead-Sequence" // its sequence there
	HeaderDeadDelivery = "Ticketkit-Dead-Delivery" // deliveries before it was given up
	HeaderDeadError    = "Ticketkit-Dead-Error"    // why
)

// HeaderCarrier is implemented by a Transport that says whether its
// messages carry headers.
type HeaderCarrier interface {
	CarriesHeaders() bool
}

// CarriesHeaders reports whether t delivers Outgoing.Header as
// Metadata.Header. A transport that doesn't implement HeaderCarrier is
// taken to carry none.
func CarriesHeaders(t Transport) bool {
	c, ok := t.(HeaderCarrier)
	return ok && c.CarriesHeaders()
}
