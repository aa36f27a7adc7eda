package natsclient_test

import (
	"testing"

	"github.com/ticketkit/ticketkit/natsclient"
)

func TestNames(t *testing.T) {
	for name, want := range map[string]bool{"tickets-7f_9": true, "": false, "a b": false, "a.b": false, "é": false, "x>": false} {
		if got := natsclient.ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
	if got := natsclient.SafeName("tickets-service:dead letter.é", '_'); got != "tickets-service_dead_letter__" || !natsclient.ValidName(got) {
		t.Errorf("SafeName = %q", got)
	}
	if s := natsclient.State(42).String(); s != "State(42)" {
		t.Errorf("State(42).String() = %q", s)
	}
	cfg := natsclient.FromEnv(func(k string) string {
		return map[string]string{"NATS_URL": "http://a:4222, https://b:4222", "NATS_CLUSTER_ID": "ticketing"}[k]
	})
	if len(cfg.URLs) != 2 || cfg.URLs[0] != "nats://a:4222" || cfg.URLs[1] != "tls://b:4222" || cfg.ClusterID != "ticketing" || !natsclient.ValidName(cfg.ClientID) {
		t.Errorf("FromEnv = %+v", cfg)
	}
}
