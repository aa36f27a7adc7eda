package service

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ticketkit/ticketkit/natsclient"
)

// MeterName is the instrumentation scope of the service's instruments,
// on the global MeterProvider (see events' metrics).
const MeterName = "github.com/ticketkit/ticketkit/service"

// connMetrics follows a broker connection's state: the
// ticketkit.transport.connected gauge (1 or 0) and the
// ticketkit.transport.reconnects counter.
type connMetrics struct {
	state      atomic.Int32
	connected  atomic.Bool // it has been connected once
	reconnects metric.Int64Counter
	attrs      metric.MeasurementOption
	reg        metric.Registration
}

func newConnMetrics(transport string) *connMetrics {
	m := otel.Meter(MeterName)
	c := &connMetrics{attrs: metric.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("transport", transport))}
	c.reconnects, _ = m.Int64Counter("ticketkit.transport.reconnects", metric.WithUnit("{reconnect}"),
		metric.WithDescription("Times the broker connection came back after it was lost"))
	up, err := m.Int64ObservableGauge("ticketkit.transport.connected",
		metric.WithDescription("1 while the broker connection is up, else 0"))
	if err == nil {
		c.reg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			v := int64(0)
			if natsclient.State(c.state.Load()) == natsclient.Connected {
				v = 1
			}
			o.ObserveInt64(up, v, c.attrs)
			return nil
		}, up)
	}
	return c
}

// observe is an OnStateChange callback, chained before next (the
// configuration's own, if any).
func (c *connMetrics) observe(next func(natsclient.State, error)) func(natsclient.State, error) {
	return func(s natsclient.State, cause error) {
		c.state.Store(int32(s))
		if s == natsclient.Connected && c.connected.Swap(true) && c.reconnects != nil {
			c.reconnects.Add(context.Background(), 1, c.attrs)
		}
		if next != nil {
			next(s, cause)
		}
	}
}

func (c *connMetrics) close(context.Context) error {
	if c.reg != nil {
		return c.reg.Unregister()
	}
	return nil
}
