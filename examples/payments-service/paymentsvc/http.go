package paymentsvc

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/session"
)

// api serves the route of the Node payments service.
type api struct {
	svc  *payments.Service
	auth *session.Verifier
	log  *slog.Logger
}

// routes returns the API's handler (service.Handler adds the probes,
// limits and request logs).
func (a *api) routes() http.Handler {
	r := httpapi.NewRoutes()
	r.Handle("POST /api/payments", a.create)
	return r
}

// create is POST /api/payments {token, orderId}: 201 {id}, as Node
// answers. A repeated POST for a paid order answers its payment, 201
// again, charging nothing.
func (a *api) create(w http.ResponseWriter, r *http.Request) {
	user, ok := httpapi.RequireUser(w, r, a.auth, a.log)
	if !ok {
		return
	}
	fields, ok := httpapi.ReadObject(w, r, httpapi.DefaultMaxBody)
	if !ok {
		return
	}
	// Non-empty strings, or express-validator's message for each field,
	// as the Node service's body('token').not().isEmpty() answers.
	var problems []httpapi.Problem
	str := func(name string) string {
		var v string
		if raw, ok := fields[name]; !ok || json.Unmarshal(raw, &v) != nil || v == "" {
			problems = append(problems, httpapi.Problem{Message: "Invalid value", Field: name})
		}
		return v
	}
	token, orderID := str("token"), str("orderId")
	if len(problems) > 0 {
		httpapi.WriteErrors(w, http.StatusBadRequest, problems...)
		return
	}
	p, err := a.svc.Pay(r.Context(), user.ID, orderID, token)
	if err != nil {
		httpapi.Fail(w, r, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, struct {
		ID string `json:"id"`
	}{p.ID})
}
