package service_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/wire"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// fromEnv reads the configuration of the tickets service.
func fromEnv(getenv func(string) string) (service.Config, error) {
	return service.FromEnv("tickets-service", getenv)
}

// FromEnv as the cluster's manifests and `make dev` set the variables: in
// memory, NATS Streaming or JetStream, and every mistake refused with
// what to fix.
func TestFromEnvVariables(t *testing.T) {
	servers := map[string]string{
		"MONGO_URI": "mongodb://tickets-mongo-srv:27017/tickets", "NATS_URL": "http://nats-srv:4222",
		"NATS_CLUSTER_ID": "ticketing", "JWT_KEY": "secret",
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}

	t.Run("nothing set: in memory with the dev key on port 3000", func(t *testing.T) {
		c, err := fromEnv(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if !c.InMemory() || !c.DevJWTKey || string(c.JWTKey) != service.DevJWTKey || c.Port != "3000" {
			t.Errorf("config %+v", c)
		}
		if c.QueueGroup != "tickets-service" || c.AckWait != 5*time.Second {
			t.Errorf("listener settings %q %v, want the cluster's", c.QueueGroup, c.AckWait)
		}
	})
	t.Run("in memory honours JWT_KEY and PORT", func(t *testing.T) {
		c, err := fromEnv(env(map[string]string{"JWT_KEY": "k", "PORT": "8080"}))
		if err != nil || string(c.JWTKey) != "k" || c.DevJWTKey || c.Port != "8080" {
			t.Errorf("config %+v, error %v", c, err)
		}
	})
	t.Run("servers", func(t *testing.T) {
		c, err := fromEnv(env(servers))
		if err != nil {
			t.Fatal(err)
		}
		if c.InMemory() || c.DevJWTKey || string(c.JWTKey) != "secret" || c.Stan.ClusterID != "ticketing" {
			t.Errorf("config %+v", c)
		}
		// The manifests' http:// NATS_URL, read as nats://.
		if strings.Join(c.Stan.URLs, " ") != "nats://nats-srv:4222" {
			t.Errorf("URLs %v", c.Stan.URLs)
		}
		if !regexp.MustCompile(`^[a-zA-Z0-9_-]+-[0-9a-f]{8}$`).MatchString(c.Stan.ClientID) {
			t.Errorf("default client id %q: want host name and random suffix, in NATS's alphabet", c.Stan.ClientID)
		}
		c2, _ := fromEnv(env(servers))
		if c2.Stan.ClientID == c.Stan.ClientID {
			t.Errorf("two starts share the client id %q", c.Stan.ClientID)
		}
		c3, _ := fromEnv(env(with(servers, "NATS_CLIENT_ID", "tickets-depl-abc12", "NATS_TOKEN", "s3cret")))
		if c3.Stan.ClientID != "tickets-depl-abc12" || c3.Stan.Token != "s3cret" {
			t.Errorf("NATS_CLIENT_ID or NATS_TOKEN ignored: %q, %q", c3.Stan.ClientID, c3.Stan.Token)
		}
	})
	t.Run("NATS_TRANSPORT=stan is the default", func(t *testing.T) {
		for _, v := range []string{"", "stan", " STAN "} {
			c, err := fromEnv(env(with(servers, "NATS_TRANSPORT", v)))
			if err != nil || c.Transport != service.TransportStan {
				t.Errorf("NATS_TRANSPORT=%q: transport %q, error %v", v, c.Transport, err)
			}
		}
	})
	jetstream := with(servers, "NATS_TRANSPORT", "jetstream", "NATS_CLUSTER_ID", "")
	t.Run("jetstream", func(t *testing.T) {
		c, err := fromEnv(env(jetstream))
		if err != nil {
			t.Fatal(err) // and so NATS_CLUSTER_ID is not required
		}
		if c.Transport != service.TransportJetStream || c.InMemory() || string(c.JWTKey) != "secret" {
			t.Errorf("config %+v", c)
		}
		// The manifests' NATS_URL, read as jsclient reads it; the
		// cluster's stream, as every service provisions it.
		if strings.Join(c.JetStream.URLs, " ") != "nats://nats-srv:4222" || len(c.JetStream.Streams) != 1 || c.JetStream.Streams[0].Name != wire.StreamName {
			t.Errorf("JetStream config %+v", c.JetStream)
		}
		if !regexp.MustCompile(`^[a-zA-Z0-9_-]+-[0-9a-f]{8}$`).MatchString(c.JetStream.Name) {
			t.Errorf("default connection name %q: want host name and random suffix", c.JetStream.Name)
		}
		c, _ = fromEnv(env(with(jetstream, "NATS_CLIENT_ID", "tickets-depl-abc12", "NATS_TRANSPORT", "JetStream")))
		if c.Transport != service.TransportJetStream || c.JetStream.Name != "tickets-depl-abc12" {
			t.Errorf("transport %q, connection name %q, want jetstream and NATS_CLIENT_ID", c.Transport, c.JetStream.Name)
		}
		c, err = fromEnv(env(with(jetstream, "NATS_URL", "", "NATS_JETSTREAM_URL", "nats://js:4222", "NATS_STREAM", "-")))
		if err != nil || strings.Join(c.JetStream.URLs, " ") != "nats://js:4222" || len(c.JetStream.Streams) != 0 {
			t.Errorf("with NATS_JETSTREAM_URL and NATS_STREAM=-: %+v, error %v", c.JetStream, err)
		}
	})
	t.Run("stray variables of the other transport, or in memory", func(t *testing.T) {
		// `make dev` exports both servers' URLs.
		c, err := fromEnv(env(with(servers, "NATS_JETSTREAM_URL", "nats://js:4222")))
		if err != nil || c.Transport != service.TransportStan || c.NATSURL != "http://nats-srv:4222" {
			t.Errorf("stan beside NATS_JETSTREAM_URL: %+v, error %v", c, err)
		}
		c, err = fromEnv(env(map[string]string{"NATS_JETSTREAM_URL": "nats://js:4222", "NATS_CLUSTER_ID": "x"}))
		if err != nil || !c.InMemory() || !c.DevJWTKey {
			t.Errorf("stan without NATS_URL: %+v, error %v, want in memory", c, err)
		}
		c, err = fromEnv(env(map[string]string{"NATS_TRANSPORT": "jetstream"}))
		if err != nil || !c.InMemory() || !c.DevJWTKey {
			t.Errorf("jetstream without servers: %+v, error %v, want in memory", c, err)
		}
	})
	t.Run("outbox TTL", func(t *testing.T) {
		c, err := fromEnv(env(with(servers, "OUTBOX_TTL", "20s")))
		if err != nil || c.OutboxTTL != 20*time.Second {
			t.Errorf("OUTBOX_TTL=20s: %v, error %v", c.OutboxTTL, err)
		}
		if c, _ := fromEnv(env(servers)); c.OutboxTTL != outbox.DefaultTTL {
			t.Errorf("default outbox TTL %v, want outbox.DefaultTTL", c.OutboxTTL)
		}
	})
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"servers without JWT_KEY", with(servers, "JWT_KEY", ""), "JWT_KEY is required"},
		{"servers without cluster id", with(servers, "NATS_CLUSTER_ID", ""), "NATS_CLUSTER_ID is required"},
		{"bad client id", with(servers, "NATS_CLIENT_ID", "tickets.pod"), `ClientID "tickets.pod"`},
		{"MongoDB only", with(servers, "NATS_URL", ""), "MONGO_URI is set but NATS_URL is not"},
		{"NATS only", with(servers, "MONGO_URI", ""), "NATS_URL is set but MONGO_URI is not"},
		{"bad port", map[string]string{"PORT": "99999"}, `PORT "99999"`},
		{"outbox TTL under a second", with(servers, "OUTBOX_TTL", "500ms"), `OUTBOX_TTL "500ms"`},
		{"unknown transport", with(servers, "NATS_TRANSPORT", "kafka"), `NATS_TRANSPORT "kafka" is not one of stan (NATS Streaming, the default) or jetstream`},
		{"unknown transport in memory", map[string]string{"NATS_TRANSPORT": "js"}, `NATS_TRANSPORT "js"`},
		{"jetstream without JWT_KEY", with(jetstream, "JWT_KEY", ""), "JWT_KEY is required"},
		{"jetstream, MongoDB only", with(jetstream, "NATS_URL", ""), "MONGO_URI is set but NATS_JETSTREAM_URL (or NATS_URL) is not"},
		{"jetstream, NATS only", with(jetstream, "MONGO_URI", "", "NATS_URL", "", "NATS_JETSTREAM_URL", "nats://js:4222"), "NATS_JETSTREAM_URL is set but MONGO_URI is not"},
		{"jetstream, bad stream settings", with(jetstream, "NATS_STREAM_REPLICAS", "three"), "NATS_STREAM_REPLICAS"},
		{"jetstream, bad URL", with(jetstream, "NATS_URL", "redis://nats-srv:4222"), `scheme "redis"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := fromEnv(env(c.env)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// The JetStream wiring: what FromEnv read, plus the stream the dead letters
// need and stan's retry timing.
func TestJetStreamConfig(t *testing.T) {
	c, err := fromEnv(env(map[string]string{
		"MONGO_URI": "mongodb://m/", "NATS_URL": "nats://n:4222", "NATS_TRANSPORT": "jetstream", "JWT_KEY": "k",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the config read is not changed
		js := c.JetStreamConfig()
		if len(js.Consumer.NakDelays) != 1 || js.Consumer.NakDelays[0] != 5*time.Second {
			t.Errorf("NakDelays %v, want the 5s ack wait", js.Consumer.NakDelays)
		}
		if len(js.Streams) != 2 || js.Streams[0].Name != wire.StreamName {
			t.Fatalf("streams %+v, want the cluster's and the dead letters'", js.Streams)
		}
		if dl := js.Streams[1]; dl.Name != "DLQ_tickets-service_dead-letter" || !slices.Contains(dl.Subjects, "tickets-service:dead-letter.>") {
			t.Errorf("dead-letter stream %+v, want its own over %s", dl, c.DeadLetterSubject(string(wire.SubjectOrderCreated)))
		}
	}

	// NATS_STREAM=-: streams are managed elsewhere, the dead letters' too.
	c, err = fromEnv(env(map[string]string{
		"MONGO_URI": "mongodb://m/", "NATS_URL": "nats://n:4222", "NATS_TRANSPORT": "jetstream", "JWT_KEY": "k", "NATS_STREAM": "-",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if js := c.JetStreamConfig(); len(js.Streams) != 0 {
		t.Errorf("NATS_STREAM=-: provisions %+v", js.Streams)
	}
	// What decides is the config FromEnv returned, not the environment
	// read again: empty streams provision nothing, whatever NATS_STREAM says.
	c, err = fromEnv(env(map[string]string{
		"MONGO_URI": "mongodb://m/", "NATS_URL": "nats://n:4222", "NATS_TRANSPORT": "jetstream", "JWT_KEY": "k",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c.JetStream.Streams = nil
	if js := c.JetStreamConfig(); len(js.Streams) != 0 {
		t.Errorf("no streams in the config read: provisions %+v", js.Streams)
	}
}
