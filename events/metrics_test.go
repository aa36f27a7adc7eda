package events_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
)

// The handler duration is a histogram in seconds whose buckets are made
// for seconds (OpenTelemetry's advice for messaging), not the SDK's
// default ones for milliseconds, where every handling fell in le=5.
func TestHandlerDurationBucketsAreSeconds(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetMeterProvider(mp)
	t.Cleanup(func() {
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		_ = mp.Shutdown(context.Background())
	})
	tr := memtransport.New()
	handled := eventstest.NewHandled()
	l, err := events.Listen(context.Background(), tr, "g", func(context.Context, eventstest.Sample, events.Metadata) error { return nil },
		events.WithHooks(handled.Hooks()))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, l)
	pub, err := events.NewPublisher[eventstest.Sample](tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), eventstest.Sample{ID: sampleID, Title: "t", Price: 1, UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	handled.Await(t, eventstest.SubjectSample, events.Acked, 1)
	// The histogram is recorded just after the hook: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != "ticketkit.handler.duration" {
					continue
				}
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok || len(h.DataPoints) == 0 {
					continue
				}
				dp := h.DataPoints[0]
				want := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
				if m.Unit != "s" || !slices.Equal(dp.Bounds, want) || dp.Count != 1 || dp.BucketCounts[0] != 1 {
					t.Fatalf("handler duration: unit %q, bounds %v, %d recorded, buckets %v; want seconds, %v, one in the first bucket",
						m.Unit, dp.Bounds, dp.Count, dp.BucketCounts, want)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no handler duration recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
