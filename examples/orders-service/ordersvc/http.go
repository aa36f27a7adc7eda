package ordersvc

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/wire"
)

// api serves the routes of the Node orders service.
type api struct {
	svc  *orders.Service
	auth *session.Verifier
	log  *slog.Logger
}

// routes returns the API's handler (service.Handler adds the probes,
// limits and request logs), routed as the Node service routes
// (httpapi.Routes).
func (a *api) routes() http.Handler {
	r := httpapi.NewRoutes()
	r.Handle("POST /api/orders", a.create)
	r.Handle("GET /api/orders", a.list)
	r.Handle("GET /api/orders/{id}", a.show)
	r.Handle("DELETE /api/orders/{id}", a.cancel)
	return r
}

// orderJSON is an order as the Node service answers it: Mongoose's
// document with the ticket populated, _id renamed id, fields in its order.
type orderJSON struct {
	UserID    string        `json:"userId"`
	Status    orders.Status `json:"status"`
	ExpiresAt wire.Time     `json:"expiresAt"`
	Ticket    ticketJSON    `json:"ticket"`
	Version   int64         `json:"version"`
	ID        string        `json:"id"`
}

type ticketJSON struct {
	Title   string          `json:"title"`
	Price   ticketkit.Money `json:"price"`
	Version int64           `json:"version"`
	ID      string          `json:"id"`
}

func toJSON(p orders.Placed) orderJSON {
	o, t := p.Order, p.Ticket
	return orderJSON{
		UserID: o.UserID, Status: o.Status, ExpiresAt: wire.Time{Time: o.ExpiresAt.UTC()}, Version: o.Version, ID: o.ID,
		Ticket: ticketJSON{Title: t.Title, Price: t.Price, Version: t.Version, ID: t.ID},
	}
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	user, ok := httpapi.RequireUser(w, r, a.auth, a.log)
	if !ok {
		return
	}
	fields, ok := httpapi.ReadObject(w, r, httpapi.DefaultMaxBody)
	if !ok {
		return
	}
	// A string that is an ObjectId, or the Node service's one message:
	// this is where an operator-shaped value like {"$gt": ""} ends.
	var ticketID string
	if raw, ok := fields["ticketId"]; !ok || json.Unmarshal(raw, &ticketID) != nil || !ticketkit.ValidID(ticketID) {
		httpapi.WriteErrors(w, http.StatusBadRequest, httpapi.Problem{Field: "ticketId", Message: "TicketId must be provided"})
		return
	}
	p, err := a.svc.Create(r.Context(), user.ID, ticketID)
	if err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, toJSON(p))
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	user, ok := httpapi.RequireUser(w, r, a.auth, a.log)
	if !ok {
		return
	}
	ps, err := a.svc.List(r.Context(), user.ID)
	if err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	out := make([]orderJSON, len(ps)) // [] like Node, never null
	for i, p := range ps {
		out[i] = toJSON(p)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *api) show(w http.ResponseWriter, r *http.Request) {
	user, ok := httpapi.RequireUser(w, r, a.auth, a.log)
	if !ok {
		return
	}
	p, err := a.svc.Get(r.Context(), user.ID, r.PathValue("id"))
	if err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, toJSON(p))
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	user, ok := httpapi.RequireUser(w, r, a.auth, a.log)
	if !ok {
		return
	}
	if _, err := a.svc.Cancel(r.Context(), user.ID, r.PathValue("id")); err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
