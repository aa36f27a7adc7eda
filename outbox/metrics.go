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
	beats   metric.Float64Histogram // per lease renewal, by outcome
	reg     metric.Registration     // the backlog gauges' and lease counters' callback
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
	rm.beats, _ = m.Float64Histogram("ticketkit.outbox.beat.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(telemetry.DurationBuckets()...),
		metric.WithDescription("Time the store took to renew the writer's lease (a beat), by outcome"))
	backlog, err1 := m.Int64ObservableGauge("ticketkit.outbox.backlog", metric.WithUnit("{entry}"),
		metric.WithDescription("This writer's committed entries not yet published"))
	oldest, err2 := m.Float64ObservableGauge("ticketkit.outbox.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of this writer's oldest unpublished entry"))
	lapses, err3 := m.Int64ObservableCounter("ticketkit.outbox.lease.lapses", metric.WithUnit("{lapse}"),
		metric.WithDescription("Times this writer's lease lapsed: no beat confirmed within half the writer TTL"))
	refused, err4 := m.Int64ObservableCounter("ticketkit.outbox.lease.refused", metric.WithUnit("{write}"),
		metric.WithDescription("Writes refused because this writer's lease had lapsed (outbox.ErrLeaseExpired)"))
	if err1 == nil && err2 == nil && err3 == nil && err4 == nil {
		rm.reg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			st := r.Stats()
			o.ObserveInt64(backlog, int64(st.Backlog))
			o.ObserveFloat64(oldest, st.Oldest.Seconds())
			o.ObserveInt64(lapses, int64(st.Lapses))
			o.ObserveInt64(refused, int64(st.Refused))
			return nil
		}, backlog, oldest, lapses, refused)
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

func (m relayMetrics) beat(d time.Duration, err error) {
	if m.beats == nil {
		return
	}
	o := outcomeOK
	if err != nil {
		o = outcomeFailed
	}
	m.beats.Record(context.Background(), d.Seconds(), o)
}

func (m relayMetrics) close() {
	if m.reg != nil {
		_ = m.reg.Unregister()
	}
}
