package authsvc

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs one instance of the service with opts on a new in-memory
// cluster.
func start(t *testing.T, opts ...Option) *servicetest.Instance {
	t.Helper()
	return startOn(t, servicetest.Memory(t), opts...)
}

func startOn(t *testing.T, c *servicetest.Cluster, opts ...Option) *servicetest.Instance {
	t.Helper()
	b, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c.Start(Name, b)
}

// startWith runs an instance with the default settings and the harness's
// options on c.
func startWith(t *testing.T, c *servicetest.Cluster, opts ...servicetest.Option) *servicetest.Instance {
	t.Helper()
	return c.Start(Name, Build, opts...)
}

// credentialsBody is the JSON of {email, password}.
func credentialsBody(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return string(b)
}

// post sends body to path with headers (name, value pairs).
func post(in *servicetest.Instance, path, body string, headers ...string) servicetest.Response {
	return in.SendAs(session.User{}, "POST", path, body, headers...)
}

// signup signs email up and returns the answer, failing unless it is 201.
func signup(t *testing.T, in *servicetest.Instance, email, pw string) servicetest.Response {
	t.Helper()
	r := post(in, "/api/users/signup", credentialsBody(email, pw))
	if r.Status != http.StatusCreated {
		t.Fatalf("signup %s: %d %s", email, r.Status, r.Body)
	}
	return r
}

// cookieOf returns the name=value of the answer's session cookie, as a
// browser sends it back.
func cookieOf(t *testing.T, r servicetest.Response) string {
	t.Helper()
	lines := r.Header.Values("Set-Cookie")
	if len(lines) != 1 {
		t.Fatalf("Set-Cookie = %q, want one", lines)
	}
	pair, attrs, _ := strings.Cut(lines[0], "; ")
	if !strings.HasPrefix(pair, session.CookieName+"=") || attrs != "path=/; httponly" {
		t.Fatalf("Set-Cookie = %q, not cookie-session's", lines[0])
	}
	return pair
}

// userOf decodes the user an answer carries.
func userOf(t *testing.T, r servicetest.Response) userJSON {
	t.Helper()
	var u userJSON
	if err := json.Unmarshal(r.Body, &u); err != nil || u.ID == "" {
		t.Fatalf("%d %s: not a user (%v)", r.Status, r.Body, err)
	}
	return u
}

// currentUser asks who the cookie's holder is.
func currentUser(t *testing.T, in *servicetest.Instance, cookie string) *currentJSON {
	t.Helper()
	var headers []string
	if cookie != "" {
		headers = []string{"Cookie", cookie}
	}
	r := in.SendAs(session.User{}, "GET", "/api/users/currentuser", "", headers...)
	var body struct {
		CurrentUser *currentJSON `json:"currentUser"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &body) != nil || !strings.Contains(string(r.Body), `"currentUser"`) {
		t.Fatalf("currentuser: %d %s", r.Status, r.Body)
	}
	return body.CurrentUser
}

// clock is a time source tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
