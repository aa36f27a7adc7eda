package events

import (
	"context"
	"time"

	"github.com/ticketkit/ticketkit/internal/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics are OpenTelemetry instruments on the global MeterProvider
// (otel.SetMeterProvider), which records nothing until the application
// configures one; an exporter (Prometheus, OTLP) is the application's
// choice. OpenTelemetry rather than the Prometheus client, because the
// same API carries the traces, and the application picks the backend.

// MeterName is the instrumentation scope of this package's instruments.
const MeterName = "github.com/ticketkit/ticketkit/events"

// handlerMetrics are a Listener's instruments, with their attribute sets
// made once, so that recording allocates nothing.
type handlerMetrics struct {
	duration  metric.Float64Histogram
	byOutcome map[Outcome]metric.RecordOption
}

func newHandlerMetrics(subject string) handlerMetrics {
	// An instrument that fails to register is a no-op one: metrics never
	// stop a listener.
	d, _ := otel.Meter(MeterName).Float64Histogram("ticketkit.handler.duration",
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(telemetry.DurationBuckets()...),
		metric.WithDescription("Time from delivery to the listener's decision, by subject and outcome (acked, failed, panicked, dead-lettered, dropped, deferred, redundant, parked)"))
	m := handlerMetrics{duration: d, byOutcome: map[Outcome]metric.RecordOption{}}
	for _, o := range []Outcome{Acked, Failed, Panicked, DeadLettered, Dropped, Deferred, Redundant, Parked} {
		m.byOutcome[o] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("messaging.destination.name", subject),
			attribute.String("outcome", o.String())))
	}
	return m
}

func (m handlerMetrics) record(d time.Duration, o Outcome) {
	if m.duration == nil {
		return
	}
	m.duration.Record(context.Background(), d.Seconds(), m.byOutcome[o])
}
