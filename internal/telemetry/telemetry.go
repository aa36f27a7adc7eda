// Package telemetry is the tracing that events and outbox share and no
// user calls: the trace context and correlation id carried in message
// headers, and the messaging spans of a publish and of handling. It uses
// OpenTelemetry's API only: spans go to the global TracerProvider, which
// does nothing until the application configures one. The trace context
// travels as W3C traceparent and tracestate headers, whatever global
// propagator is set, so that every service of the cluster reads it alike.
// Headers are plain maps here (events.Header converts).
package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderCorrelationID is the header of the correlation id.
const HeaderCorrelationID = "X-Correlation-Id"

var traceContext = propagation.TraceContext{}

type correlationKey struct{}

// WithCorrelationID returns ctx carrying correlation id id ("" leaves ctx
// as it is).
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

// Inject writes ctx's span context (traceparent, tracestate) and
// correlation id into h; without either, it writes nothing.
func Inject(ctx context.Context, h map[string]string) {
	if h == nil {
		return
	}
	traceContext.Inject(ctx, propagation.MapCarrier(h))
	if id := CorrelationID(ctx); id != "" {
		h[HeaderCorrelationID] = id
	}
}

// Extract returns ctx with h's remote span context and correlation id,
// as Inject wrote them.
func Extract(ctx context.Context, h map[string]string) context.Context {
	if len(h) == 0 {
		return ctx
	}
	ctx = traceContext.Extract(ctx, propagation.MapCarrier(h))
	return WithCorrelationID(ctx, h[HeaderCorrelationID])
}

// The span kinds of messaging.
var (
	ProducerKind = trace.WithSpanKind(trace.SpanKindProducer)
	ConsumerKind = trace.WithSpanKind(trace.SpanKindConsumer)
)

// Tracer is scope's tracer on the global TracerProvider. Take it once and
// keep it: it follows a provider set later, and looking it up per message
// would cost a lock each time.
func Tracer(scope string) trace.Tracer { return otel.Tracer(scope) }

// StartSpan starts the messaging span name (subject and operation) on
// tracer. Attributes are built only for a span that records: with no
// provider configured, a span costs next to nothing.
func StartSpan(ctx context.Context, tracer trace.Tracer, name, subject, op string, kind trace.SpanStartOption, extra ...attribute.KeyValue) (context.Context, trace.Span) {
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
// a copy of h with the producer span's context in place of ctx's (h itself
// when there is nothing to carry). End the span once the broker has
// answered (EndSpan).
func StartPublishSpan(ctx context.Context, tracer trace.Tracer, subject string, h map[string]string) (map[string]string, trace.Span) {
	ctx, span := StartSpan(ctx, tracer, subject+" send", subject, "send", ProducerKind)
	if !span.SpanContext().IsValid() && CorrelationID(ctx) == "" {
		return h, span
	}
	out := make(map[string]string, len(h)+3)
	for k, v := range h {
		out[k] = v
	}
	Inject(ctx, out)
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

// DurationBuckets are the bucket boundaries, in seconds, of every
// duration histogram of the module: OpenTelemetry's advice for HTTP and
// messaging durations (its SDK's default boundaries are made for
// milliseconds, and would put every publish in the first bucket).
func DurationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}
