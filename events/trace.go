package events

import (
	"context"

	"github.com/ticketkit/ticketkit/internal/telemetry"
)

// Tracing follows OpenTelemetry's API only (internal/telemetry does it):
// spans go to the global TracerProvider, which does nothing until the
// application configures one, and the trace context travels in W3C
// traceparent and tracestate headers.

// TracerName is the instrumentation scope of this package's spans.
const TracerName = "github.com/ticketkit/ticketkit/events"

// WithCorrelationID returns ctx carrying a correlation id: what ties a
// request to the events it causes, across services, even where no
// tracer runs. An outbox entry written with ctx carries it as the
// X-Correlation-Id header, and a listener's handler gets it back.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return telemetry.WithCorrelationID(ctx, id)
}

// CorrelationID returns ctx's correlation id, or "".
func CorrelationID(ctx context.Context) string { return telemetry.CorrelationID(ctx) }
