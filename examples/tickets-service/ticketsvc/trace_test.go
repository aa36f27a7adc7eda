package ticketsvc

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	ordersdomain "github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/service/servicetest"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/wire"
)

// One trace from a request to another service's handling of its event:
// POST /api/tickets (the server span) writes the ticket and its
// ticket:created to the outbox, with the request's trace context; the
// relay publishes it later in a producer span, a child of the request's;
// and the orders service's ticket listener (its copy of the tickets, as
// examples/orders-service keeps it) handles it in a consumer span, a child
// of the producer's, whose context its handler gets.
func TestOneTraceFromRequestToAnotherServicesHandler(t *testing.T) {
	exporter, _ := recordSpans(t)
	c := servicetest.Memory(t)
	srv := c.Start(Name, testBuild(nil, nil))
	// The orders side: a copy of the tickets, as examples/orders-service
	// keeps it, fed by its listener.
	handled := make(chan context.Context, 1)
	c.Start("orders-service", func(ctx context.Context, s *service.Service) (http.Handler, error) {
		replica, err := service.Replica[ordersdomain.Ticket](ctx, s, "tickets")
		if err != nil {
			return nil, err
		}
		copies := wire.TicketCopies{Replica: replica}
		err = service.Listen(ctx, s, func(ctx context.Context, e wire.TicketCreated, m events.Metadata) error {
			err := copies.OnTicketCreated(ctx, e, m)
			handled <- ctx
			return err
		})
		return http.NotFoundHandler(), err
	})

	r := send(t, srv.URL, "POST", "/api/tickets", `{"title":"traced","price":20}`, as(t, alice)...)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var hctx context.Context
	select {
	case hctx = <-handled:
	case <-time.After(wait):
		t.Fatal("the orders side never handled ticket:created")
	}
	// The producer span ends once the broker has answered, the consumer
	// span once its handler has returned: either may end after the
	// handler got its ctx.
	exporter.await(t, "ticket:created send", "ticket:created process")

	byKind := map[trace.SpanKind][]tracetest.SpanStub{}
	for _, s := range exporter.GetSpans() {
		byKind[s.SpanKind] = append(byKind[s.SpanKind], s)
	}
	one := func(kind trace.SpanKind, name string) tracetest.SpanStub {
		t.Helper()
		for _, s := range byKind[kind] {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no %v span %q among %v", kind, name, exporter.GetSpans())
		return tracetest.SpanStub{}
	}
	request := one(trace.SpanKindServer, "POST")
	publish := one(trace.SpanKindProducer, "ticket:created send")
	process := one(trace.SpanKindConsumer, "ticket:created process")
	traceID := request.SpanContext.TraceID()
	for _, s := range []tracetest.SpanStub{publish, process} {
		if s.SpanContext.TraceID() != traceID {
			t.Errorf("%s is in trace %s, want the request's %s", s.Name, s.SpanContext.TraceID(), traceID)
		}
	}
	if publish.Parent.SpanID() != request.SpanContext.SpanID() {
		t.Errorf("the publish's parent is %s, want the request %s", publish.Parent.SpanID(), request.SpanContext.SpanID())
	}
	if process.Parent.SpanID() != publish.SpanContext.SpanID() || !process.Parent.IsRemote() {
		t.Errorf("the handling's parent is %s (remote %v), want the publish %s across the broker", process.Parent.SpanID(), process.Parent.IsRemote(), publish.SpanContext.SpanID())
	}
	if got := oteltraceSpanID(hctx); got != process.SpanContext.SpanID().String() {
		t.Errorf("the handler's ctx is in span %s, want the consumer span %s", got, process.SpanContext.SpanID())
	}
	// The correlation id (here the trace id: the client sent none) goes
	// back to the client and along with the event.
	if id := events.CorrelationID(hctx); id != traceID.String() {
		t.Errorf("the handler's correlation id %q, want %s", id, traceID)
	}
	if id := r.header.Get(events.HeaderCorrelationID); id != traceID.String() {
		t.Errorf("the response's correlation id %q, want %s", id, traceID)
	}
}

// A handler's own writes continue its message's trace: an order:created
// published in a trace reaches the tickets service's listener, whose
// reservation goes out as ticket:updated through the outbox in a
// producer span that is a child of the listener's consumer span.
func TestAHandlersOutboxWritesContinueItsTrace(t *testing.T) {
	exporter, tp := recordSpans(t)
	h := newHarness(t)
	tk := h.create(alice, "traced", 20)
	pub, err := events.NewPublisher[wire.OrderCreated](h.c.Transport())
	if err != nil {
		t.Fatal(err)
	}
	ctx, root := tp.Tracer("orders-service").Start(context.Background(), "POST /api/orders")
	err = pub.Publish(ctx, wire.OrderCreated{ID: orderA, Status: orders.Created, UserID: bob,
		ExpiresAt: wire.Time{Time: time.Now().Add(15 * time.Minute)}, Ticket: wire.OrderTicket{ID: tk.ID, Price: tk.Price}})
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	exporter.await(t, "order:created process", "ticket:updated send")

	find := func(name string) tracetest.SpanStub {
		t.Helper()
		for _, s := range exporter.GetSpans() {
			if s.Name == name && s.SpanContext.TraceID() == root.SpanContext().TraceID() {
				return s
			}
		}
		t.Fatalf("no span %q in the order's trace among %v", name, exporter.GetSpans())
		return tracetest.SpanStub{}
	}
	send := find("order:created send")
	process := find("order:created process")
	updated := find("ticket:updated send")
	if send.Parent.SpanID() != root.SpanContext().SpanID() || process.Parent.SpanID() != send.SpanContext.SpanID() || updated.Parent.SpanID() != process.SpanContext.SpanID() {
		t.Errorf("chain root %s → send (parent %s) → process (parent %s) → ticket:updated (parent %s), want each the child of the one before",
			root.SpanContext().SpanID(), send.Parent.SpanID(), process.Parent.SpanID(), updated.Parent.SpanID())
	}
}

func oteltraceSpanID(ctx context.Context) string {
	return trace.SpanContextFromContext(ctx).SpanID().String()
}

// spans is an exporter that keeps the spans and says when one has ended.
type spans struct {
	*tracetest.InMemoryExporter
	mu      sync.Mutex
	changed chan struct{}
}

// recordSpans records every span of the global TracerProvider until the
// test ends.
func recordSpans(t *testing.T) (*spans, *sdktrace.TracerProvider) {
	s := &spans{InMemoryExporter: tracetest.NewInMemoryExporter(), changed: make(chan struct{})}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(s))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		_ = tp.Shutdown(context.Background())
	})
	return s, tp
}

func (s *spans) ExportSpans(ctx context.Context, ended []sdktrace.ReadOnlySpan) error {
	err := s.InMemoryExporter.ExportSpans(ctx, ended)
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return err
}

// await waits until a span of each name has ended.
func (s *spans) await(t *testing.T, names ...string) {
	t.Helper()
	deadline := time.After(servicetest.Wait)
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		missing := slices.Clone(names)
		for _, span := range s.GetSpans() {
			missing = slices.DeleteFunc(missing, func(n string) bool { return n == span.Name })
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("spans %q not ended within %v", missing, servicetest.Wait)
		}
	}
}
