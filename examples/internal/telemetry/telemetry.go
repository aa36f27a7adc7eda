// Package telemetry configures OpenTelemetry for the example services
// from the environment, with the SDK and exporters that the library
// packages never import (they use the API only, and cost nothing until an
// application does this):
//
//	OTEL_METRICS_EXPORTER=prometheus  metrics at GET /metrics, in Prometheus' text format
//	OTEL_TRACES_EXPORTER=console      spans as JSON lines on the writer given (stderr)
//
// Unset, or "none", configures nothing.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ticketkit/ticketkit/service"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Setup installs the configured providers as OpenTelemetry's globals. It
// returns the /metrics handler (nil without a metrics exporter) and a
// shutdown that flushes what is buffered, within its ctx.
func Setup(service string, getenv func(string) string, traces io.Writer) (metrics http.Handler, shutdown func(context.Context) error, err error) {
	res := resource.NewSchemaless(semconv.ServiceName(service))
	var shutdowns []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		var errs []error
		for _, s := range shutdowns {
			errs = append(errs, s(ctx))
		}
		return errors.Join(errs...)
	}
	switch v := getenv("OTEL_METRICS_EXPORTER"); v {
	case "", "none":
	case "prometheus":
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, shutdown, fmt.Errorf("telemetry: prometheus: %w", err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
		otel.SetMeterProvider(mp)
		shutdowns = append(shutdowns, mp.Shutdown)
		metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	default:
		return nil, shutdown, fmt.Errorf("telemetry: OTEL_METRICS_EXPORTER %q is not prometheus or none", v)
	}
	switch v := getenv("OTEL_TRACES_EXPORTER"); v {
	case "", "none":
	case "console":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(traces))
		if err != nil {
			return nil, shutdown, fmt.Errorf("telemetry: console traces: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		otel.SetTracerProvider(tp)
		shutdowns = append(shutdowns, tp.Shutdown)
	default:
		return nil, shutdown, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER %q is not console or none", v)
	}
	return metrics, shutdown, nil
}

// FromEnv is Setup as service.WithTelemetry takes it: the exporters
// getenv names, spans written to traces.
func FromEnv(getenv func(string) string, traces io.Writer) service.Telemetry {
	return func(name string) (http.Handler, func(context.Context) error, error) {
		return Setup(name, getenv, traces)
	}
}
