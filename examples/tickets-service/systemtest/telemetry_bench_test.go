package systemtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
)

// BenchmarkTelemetry is the cost of the instrumentation: a create through
// the whole handler (request span, correlation id, outbox capture) on the
// in-memory backends, where nothing else hides it. "unset" is a service
// whose application configured no provider (the library's default);
// "noop" one with OpenTelemetry's no-op providers set explicitly; "sdk"
// one recording every span and metric (to a discarding exporter), for
// scale. make bench reports noop/unset and sdk/unset.
func BenchmarkTelemetry(b *testing.B) {
	for _, mode := range []string{"unset", "noop", "sdk"} {
		b.Run(mode, func(b *testing.B) {
			switch mode {
			case "noop":
				otel.SetTracerProvider(tracenoop.NewTracerProvider())
				otel.SetMeterProvider(metricnoop.NewMeterProvider())
			case "sdk":
				tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(discard{}))
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				otel.SetTracerProvider(tp)
				otel.SetMeterProvider(mp)
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
			}
			b.Cleanup(func() {
				otel.SetTracerProvider(tracenoop.NewTracerProvider())
				otel.SetMeterProvider(metricnoop.NewMeterProvider())
			})
			a, err := startService(context.Background(), testConfig(), benchLogger(), memoryBackends(memtransport.New()), events.Hooks{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { benchClose(b, "service", a.Shutdown) })
			auth := "Bearer " + token(&testing.T{}, alice)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api/tickets", strings.NewReader(`{"title":"t","price":20}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", auth)
				rec := httptest.NewRecorder()
				a.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("create: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// discard is a span exporter that keeps nothing.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }
