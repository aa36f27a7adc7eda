package deploy_test

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ticketkit/ticketkit/examples/auth-service/authsvc"
	"github.com/ticketkit/ticketkit/examples/expiration-service/expirationsvc"
	"github.com/ticketkit/ticketkit/examples/orders-service/ordersvc"
	"github.com/ticketkit/ticketkit/examples/payments-service/paymentsvc"
	"github.com/ticketkit/ticketkit/examples/tickets-service/ticketsvc"
	"github.com/ticketkit/ticketkit/payments/stripecharger"
	"github.com/ticketkit/ticketkit/service"
)

// recorder is a getenv that serves a manifest's variables (placeholders
// for secrets and fields) and records every variable asked for.
type recorder struct {
	mu   sync.Mutex
	env  map[string]string
	read map[string]bool
}

func (r *recorder) getenv(k string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read[k] = true
	return r.env[k]
}

var (
	envName   = regexp.MustCompile(`^\s*- name: (\S+)\s*$`)
	value     = regexp.MustCompile(`^\s*value: '?([^']*)'?\s*$`)
	probePath = regexp.MustCompile(`^\s*path: (/\S+)\s*$`)
)

// manifest reads a Deployment's container variables (a secret's or a
// field's value is a placeholder) and its probes' paths.
func manifest(t *testing.T, file string) (env map[string]string, probes []string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env = map[string]string{}
	in, last := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == "env:":
			in = true
		case in && envName.MatchString(line):
			last = envName.FindStringSubmatch(line)[1]
			env[last] = "placeholder-" + strings.ToLower(last)
		case in && value.MatchString(line) && last != "":
			env[last] = value.FindStringSubmatch(line)[1]
		case strings.HasPrefix(trimmed, "ports:"):
			in = false
		case probePath.MatchString(line):
			probes = append(probes, probePath.FindStringSubmatch(line)[1])
		}
	}
	return env, probes
}

// Each service's manifest sets every variable the service needs to start
// in the cluster (its configuration loads from exactly the manifest's
// variables), nothing the service doesn't read, and probes on /healthz
// and /readyz.
func TestManifests(t *testing.T) {
	for _, tc := range []struct {
		file, name string
		also       func(getenv func(string) string) error // the service's own variables
	}{
		{"auth-depl.yaml", authsvc.Name, func(g func(string) string) error { _, err := authsvc.FromEnv(g); return err }},
		{"tickets-depl.yaml", ticketsvc.Name, nil},
		{"orders-depl.yaml", ordersvc.Name, nil},
		{"payments-depl.yaml", paymentsvc.Name, func(g func(string) string) error { _, err := stripecharger.FromEnv(g); return err }},
		{"expiration-depl.yaml", expirationsvc.Name, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, probes := manifest(t, filepath.Join("k8s", tc.file))
			r := &recorder{env: env, read: map[string]bool{}}
			cfg, err := service.FromEnv(tc.name, r.getenv)
			if err != nil {
				t.Fatalf("the service's configuration from its manifest: %v", err)
			}
			if cfg.InMemory() {
				t.Errorf("the manifest runs %s in memory", tc.name)
			}
			if tc.also != nil {
				if err := tc.also(r.getenv); err != nil {
					t.Fatalf("the service's own variables: %v", err)
				}
			}
			for k := range env {
				if !r.read[k] {
					t.Errorf("the manifest sets %s, which %s never reads", k, tc.name)
				}
			}
			var optional []string
			for k := range r.read {
				if _, ok := env[k]; !ok {
					optional = append(optional, k)
				}
			}
			slices.Sort(optional)
			t.Logf("%s also reads, with defaults: %s", tc.name, strings.Join(optional, " "))
			if !slices.Contains(probes, "/healthz") || !slices.Contains(probes, "/readyz") {
				t.Errorf("probes %v, want /healthz and /readyz", probes)
			}
		})
	}
}

// The expiration service's manifest has a MongoDB where Node's had Redis.
func TestExpirationHasMongoNotRedis(t *testing.T) {
	env, _ := manifest(t, filepath.Join("k8s", "expiration-depl.yaml"))
	if _, ok := env["REDIS_HOST"]; ok {
		t.Error("REDIS_HOST is set")
	}
	if env["MONGO_URI"] != "mongodb://expiration-mongo-srv:27017/expiration" {
		t.Errorf("MONGO_URI = %q", env["MONGO_URI"])
	}
	if _, err := os.Stat(filepath.Join("k8s", "expiration-mongo-depl.yaml")); err != nil {
		t.Error(err)
	}
}

// What the Dockerfile builds is a static binary for each service, which
// the distroless base can run: no dynamic loader, no libc. (No image is
// built in the test: that needs a container daemon and a registry.)
func TestStaticBinaries(t *testing.T) {
	// The whole back end in one binary links every service's packages,
	// so it stands for all of them; the Dockerfile's -trimpath and
	// -ldflags change neither that nor the linking.
	out := filepath.Join(t.TempDir(), "cluster")
	cmd := exec.Command("go", "build", "-o", out, "../examples/cluster")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked")
		}
	}
}
