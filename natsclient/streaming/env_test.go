package streaming_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
)

func TestFromEnvReadsTheClustersManifests(t *testing.T) {
	env := map[string]string{
		"NATS_URL":        "http://nats-srv:4222, https://nats-2:4222,nats://nats-3:4222",
		"NATS_CLUSTER_ID": "ticketing",
		"NATS_CLIENT_ID":  "tickets-depl-5d9c7-xk2p",
		"NATS_TOKEN":      "s3cret",
	}
	cfg, err := streaming.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"nats://nats-srv:4222", "tls://nats-2:4222", "nats://nats-3:4222"}; !slices.Equal(cfg.URLs, want) {
		t.Errorf("URLs = %v, want %v", cfg.URLs, want)
	}
	if cfg.ClusterID != "ticketing" || cfg.ClientID != "tickets-depl-5d9c7-xk2p" || cfg.Token != "s3cret" {
		t.Errorf("config = %+v", cfg)
	}
}

func TestFromEnvDefaultsTheClientIDAndReportsEveryProblem(t *testing.T) {
	cfg, err := streaming.FromEnv(func(k string) string {
		return map[string]string{"NATS_URL": "nats://x:4222", "NATS_CLUSTER_ID": "c"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-zA-Z0-9_-]+-[0-9a-f]{8}$`).MatchString(cfg.ClientID) {
		t.Errorf("default client id %q: want host name and random suffix in the server's alphabet", cfg.ClientID)
	}
	if other := natsclient.DefaultClientID(); other == cfg.ClientID {
		t.Errorf("two default client ids are equal: %s", other)
	}
	_, err = streaming.FromEnv(func(string) string { return "" })
	if !errors.Is(err, natsclient.ErrInvalidConfig) || !strings.Contains(err.Error(), "ClusterID") || !strings.Contains(err.Error(), "URLs") {
		t.Fatalf("FromEnv on an empty environment = %v, want both problems", err)
	}
}
