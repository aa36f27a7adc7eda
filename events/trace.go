package events

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing follows OpenTelemetry's API only: spans go to the global
// TracerProvider (otel.SetTracerProvider), which does nothing until the
// application configures one. The trace context travels as W3C
// traceparent and tracestate headers, whatever global propagator is set,
// so that every service of the cluster reads it alike.

// TracerName is the instrumentation scope of this package's spans.
const TracerName = "github.com/ticketkit/ticketkit/events"

var traceContext = propagation.TraceContext{}

type correlationKey struct{}

// WithCorrelationID returns ctx carrying a correlation id: what ties a
// request to the events it causes, across services, even where no
// tracer runs. An outbox entry written with ctx carries it as the
// X-Correlation-Id header, and a listener's handler gets it back.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns ctx's correlation id, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// InjectContext writes ctx's span context (traceparent, tracestate) and
// correlation id into h; without either, it writes nothing.
func InjectContext(ctx context.Context, h Header) {
	if h == nil {
		return
	}
	traceContext.Inject(ctx, h)
	if id := CorrelationID(ctx); id != "" {
		h.Set(HeaderCorrelationID, id)
	}
}

// ExtractContext returns ctx with h's remote span context and correlation
// id, as InjectContext wrote them.
func ExtractContext(ctx context.Context, h Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	ctx = traceContext.Extract(ctx, h)
	return WithCorrelationID(ctx, h.Get(HeaderCorrelationID))
}

// startSpan starts a messaging span on subject through the global
// TracerProvider.
func startSpan(ctx context.Context, scope, subject, op string, kind trace.SpanKind, extra ...attribute.KeyValue) (context.Context, trace.Span) {
	attrs := append([]attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.destination.name", subject),
		attribute.String("messaging.operation.type", op),
	}, extra...)
	if id := CorrelationID(ctx); id != "" {
		attrs = append(attrs, attribute.String("ticketkit.correlation_id", id))
	}
	return otel.Tracer(scope).Start(ctx, subject+" "+op, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// StartPublishSpan starts the producer span of a publish on subject, a
// child of ctx's span, and returns the headers to publish with: h with
// the producer span's context in place of ctx's. End the span once the
// broker has answered (EndSpan). scope names the instrumentation (the
// outbox relay's, say).
func StartPublishSpan(ctx context.Context, scope, subject string, h Header) (Header, trace.Span) {
	ctx, span := startSpan(ctx, scope, subject, "send", trace.SpanKindProducer)
	if !span.SpanContext().IsValid() && CorrelationID(ctx) == "" {
		return h, span
	}
	out := h.Clone()
	if out == nil {
		out = Header{}
	}
	InjectContext(ctx, out)
	return out, span
}

// EndSpan records err (if any) on span and ends it.
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
