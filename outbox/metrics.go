package outbox

import (
	"context"
	"time"

	"github.com/ticketkit/ticketkit/internal/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MeterName is the instrumentation scope of the relay's instruments, on
// the global MeterProvider (see events' metrics).
const MeterName = "github.com/ticketkit/ticketkit/outbox"

type relayMetrics struct {
	publish metric.Float64Histogram // per batch, by outcome
	entries metric.Int64Counter     // per entry, by outcome
	reg     metric.Registration     // the backlog gauges' callback
}

var (
	outcomeOK     = metric.WithAttributes(attribute.String("outcome", "published"))
	outcomeFailed = metric.WithAttributes(attribute.String("outcome", "failed"))
)

// newRelayMetrics registers r's instruments; a failure leaves no-op ones.
func newRelayMetrics(r *Relay) relayMetrics {
	m := otel.Meter(MeterName)
	var rm relayMetrics
	rm.publish, _ = m.Float64Histogram("ticketkit.outbox.publish.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(telemetry.DurationBuckets()...),
		metric.WithDescription("Time the broker took to acknowledge a batch of outbox entries"))
	rm.entries, _ = m.Int64Counter("ticketkit.outbox.entries", metric.WithUnit("{entry}"),
		metric.WithDescription("Outbox entries sent to the broker, by outcome (published, failed: retried)"))
	backlog, err1 := m.Int64ObservableGauge("ticketkit.outbox.backlog", metric.WithUnit("{entry}"),
		metric.WithDescription("This writer's committed entries not yet published"))
	oldest, err2 := m.Float64ObservableGauge("ticketkit.outbox.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of this writer's oldest unpublished entry"))
	if err1 == nil && err2 == nil {
		rm.reg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			st := r.Stats()
			o.ObserveInt64(backlog, int64(st.Backlog))
			o.ObserveFloat64(oldest, st.Oldest.Seconds())
			return nil
		}, backlog, oldest)
	}
	return rm
}

func (m relayMetrics) published(d time.Duration, errs []error) {
	ok, failed := 0, 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			failed++
		}
	}
	ctx := context.Background()
	if m.publish != nil {
		o := outcomeOK
		if failed > 0 {
			o = outcomeFailed
		}
		m.publish.Record(ctx, d.Seconds(), o)
	}
	if m.entries != nil {
		if ok > 0 {
			m.entries.Add(ctx, int64(ok), outcomeOK)
		}
		if failed > 0 {
			m.entries.Add(ctx, int64(failed), outcomeFailed)
		}
	}
}

func (m relayMetrics) close() {
	if m.reg != nil {
		_ = m.reg.Unregister()
	}
}
