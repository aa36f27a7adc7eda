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

var (
	producerKind = trace.WithSpanKind(trace.SpanKindProducer)
	consumerKind = trace.WithSpanKind(trace.SpanKindConsumer)
)

// Tracer is scope's tracer on the global TracerProvider. Take it once
// and keep it (a Relay or a Listener does): it follows a provider set
// later, and looking it up per message would cost a lock each time.
func Tracer(scope string) trace.Tracer { return otel.Tracer(scope) }

// startSpan starts the messaging span name (subject and operation) on
// tracer. Attributes are built only for a span that records: with no
// provider configured, a span costs next to nothing.
func startSpan(ctx context.Context, tracer trace.Tracer, name, subject, op string, kind trace.SpanStartOption, extra ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, name, kind)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.operation.type", op))
		span.SetAttributes(extra...)
		if id := CorrelationID(ctx); id != "" {
			span.SetAttributes(attribute.String("ticketkit.correlation_id", id))
		}
	}
	return ctx, span
}

// StartPublishSpan starts the producer span of a publish on subject, on
// tracer, a child of ctx's span, and returns the headers to publish with:
// h with the producer span's context in place of ctx's. End the span once
// the broker has answered (EndSpan).
func StartPublishSpan(ctx context.Context, tracer trace.Tracer, subject string, h Header) (Header, trace.Span) {
	ctx, span := startSpan(ctx, tracer, subject+" send", subject, "send", producerKind)
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
