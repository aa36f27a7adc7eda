package service_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/wire"
)

// A service of its own on the shared pieces: a copy of the tickets, fed
// by a listener, served over HTTP with the cluster's conventions. In
// production, main would call service.Run(ctx, cfg, log, build) with cfg
// from service.FromEnv; here the service runs in memory, as its tests
// would run it.
// title is what the example keeps of each ticket.
type title struct {
	Title string `bson:"title"`
}

func Example() {
	ctx := context.Background()
	cfg := service.Defaults("titles-service")
	b := service.Memory(nil, memtransport.New())
	s, err := service.Start(ctx, cfg, nil, b)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		fmt.Println("shutdown:", s.Shutdown(ctx))
	}()

	// The service's own part: a store, a listener, a route.
	titles, err := service.Replica[title](ctx, s, "titles")
	if err != nil {
		fmt.Println(err)
		return
	}
	applied := make(chan string, 1)
	err = service.Listen(ctx, s, func(ctx context.Context, e wire.TicketCreated, _ events.Metadata) error {
		if _, err := titles.Apply(ctx, e.ID, e.Version, title{e.Title}); err != nil {
			return err // an early version is deferred, a duplicate acknowledged
		}
		applied <- e.ID
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/titles/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, err := titles.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			httpapi.Fail(w, r, s.Logger(), err) // 404 {"errors":[{"message":"Not Found"}]}
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"title": rec.Doc.Title})
	})
	mux.HandleFunc("/", httpapi.NotFound)
	srv := httptest.NewServer(s.Handler(mux)) // with /healthz, /readyz, deadlines, load shedding, logs
	defer srv.Close()

	// Another service publishes a ticket.
	id := ticketkit.NewID()
	data, _ := events.Encode(wire.TicketCreated{ID: id, Title: "concert", Price: ticketkit.Cents(2000), UserID: ticketkit.NewID()})
	if err := b.Transport.Publish(ctx, events.Outgoing{Subject: string(wire.SubjectTicketCreated), Data: data}); err != nil {
		fmt.Println(err)
		return
	}
	<-applied

	for _, path := range []string{"/api/titles/" + id, "/api/titles/" + ticketkit.NewID(), "/readyz"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%d %s", res.StatusCode, body)
	}
	// Output:
	// 200 {"title":"concert"}
	// 404 {"errors":[{"message":"Not Found"}]}
	// 200 {"checks":{"listeners":"ok","load":"ok","outbox":"backlog 0, oldest 0s"},"status":"ok"}
	// shutdown: <nil>
}
