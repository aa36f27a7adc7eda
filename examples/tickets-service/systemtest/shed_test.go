//go:build soak

package systemtest

// The load-shedding figures of BENCHMARKS.md (issue 20), by hand and
// never in make test:
//
//	.bin/devservers run -- go test -tags soak -run '^TestShed' -count=1 -timeout 0 -v ./examples/tickets-service/systemtest/
//
// TestShedSixteenConnections is wrk's "16 connections" against the
// tickets service on FerretDB and NATS Streaming: 16 clients, each
// sending its next request once it has the last answer, for
// SHED_DURATION (30s), on SHED_TICKETS (1000) tickets; once on GET of
// one ticket, once on the list of all. TestShedSlowUploads is the
// trial's slow clients: seven uploads that take 2 s each to send their
// body, then four at a time for the whole run, beside 20 clients
// sending GETs.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/testenv"
)

// tally counts answers by status and keeps their latencies.
type tally struct {
	mu     sync.Mutex
	status map[int]int
	errs   int
	lat    []time.Duration
}

func (t *tally) add(status int, header http.Header, d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status == nil {
		t.status = map[int]int{}
	}
	if err != nil {
		t.errs++
		return
	}
	if status == http.StatusServiceUnavailable && header.Get("Retry-After") == "" {
		status = -503 // not shed: a 503 of the handler's
	}
	t.status[status]++
	t.lat = append(t.lat, d)
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	slices.Sort(t.lat)
	p := func(q float64) time.Duration {
		if len(t.lat) == 0 {
			return 0
		}
		return t.lat[min(len(t.lat)-1, int(float64(len(t.lat))*q))].Round(time.Millisecond)
	}
	var codes []string
	for _, c := range slices.Sorted(func(yield func(int) bool) {
		for c := range t.status {
			if !yield(c) {
				return
			}
		}
	}) {
		codes = append(codes, fmt.Sprintf("%d × %d", t.status[c], c))
	}
	return fmt.Sprintf("%d answers (%s), %d transport errors; p50 %v, p99 %v, max %v",
		len(t.lat), strings.Join(codes, ", "), t.errs, p(0.5), p(0.99), p(1))
}

type shedClient struct {
	t      *testing.T
	base   string
	auth   string
	client *http.Client
}

func (c *shedClient) do(method, path string, body io.Reader) (int, http.Header, []byte, time.Duration, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return 0, nil, nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", c.auth)
	start := time.Now()
	res, err := c.client.Do(req)
	if err != nil {
		return 0, nil, nil, time.Since(start), err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, data, time.Since(start), err
}

func shedService(t *testing.T) *shedClient {
	base, _, _ := realService(t, stanBroker(testenv.NATS(t)), nil)
	return &shedClient{t: t, base: base, auth: "Bearer " + token(t, tickets0(0)),
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// seed creates n tickets, 16 at a time, and returns their ids.
func (c *shedClient) seed(n int) []string {
	start := time.Now()
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				for {
					status, _, body, _, err := c.do("POST", "/api/tickets", strings.NewReader(fmt.Sprintf(`{"title":"shed %d","price":10}`, i)))
					if status == http.StatusCreated {
						var tk struct{ ID string }
						if err := json.Unmarshal(body, &tk); err != nil {
							c.t.Errorf("seed: %v in %s", err, body)
							break
						}
						id := tk.ID
						mu.Lock()
						ids = append(ids, id)
						mu.Unlock()
						break
					}
					if status != http.StatusServiceUnavailable {
						c.t.Errorf("seed: %d %v %s", status, err, body)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	c.t.Logf("seeded %d tickets in %v", len(ids), time.Since(start).Round(time.Millisecond))
	return ids
}

// run keeps clients busy for d, each with request, and tallies them.
func (c *shedClient) run(clients int, d time.Duration, request func(worker, i int) (string, string, io.Reader)) *tally {
	var t tally
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				method, path, body := request(w, i)
				status, h, _, took, err := c.do(method, path, body)
				t.add(status, h, took, err)
			}
		})
	}
	wg.Wait()
	return &t
}

func (c *shedClient) readyz() string {
	status, _, body, _, err := c.do("GET", "/readyz", nil)
	if err != nil {
		return err.Error()
	}
	return strconv.Itoa(status) + " " + string(body)
}

func TestShedSixteenConnections(t *testing.T) {
	duration := envOr(t, "SHED_DURATION", 30*time.Second, time.ParseDuration)
	c := shedService(t)
	ids := c.seed(envOr(t, "SHED_TICKETS", 1000, strconv.Atoi))
	show := c.run(16, duration, func(w, i int) (string, string, io.Reader) {
		return "GET", "/api/tickets/" + ids[(w*7919+i)%len(ids)], nil
	})
	t.Logf("16 connections, GET /api/tickets/:id for %v: %v", duration, show)
	list := c.run(16, duration, func(int, int) (string, string, io.Reader) { return "GET", "/api/tickets", nil })
	t.Logf("16 connections, GET /api/tickets (%d tickets) for %v: %v", len(ids), duration, list)
	t.Logf("readyz after: %s", c.readyz())
}

// slowBody sends body over d, a byte at a time.
type slowBody struct {
	data []byte
	gap  time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.gap)
	p[0] = b.data[0]
	b.data = b.data[1:]
	return 1, nil
}

func TestShedSlowUploads(t *testing.T) {
	duration := envOr(t, "SHED_DURATION", 30*time.Second, time.ParseDuration)
	c := shedService(t)
	ids := c.seed(200)
	slow := func() io.Reader {
		data := []byte(`{"title":"slow upload","price":10}`)
		return &slowBody{data: data, gap: 2 * time.Second / time.Duration(len(data))}
	}
	var first tally
	var wg sync.WaitGroup
	for range 7 {
		wg.Go(func() {
			status, h, _, took, err := c.do("POST", "/api/tickets", slow())
			first.add(status, h, took, err)
		})
	}
	wg.Wait()
	t.Logf("7 uploads of 2 s each: %v", &first)

	var uploads, gets *tally
	readiness := map[string]int{}
	stop := make(chan struct{})
	var probes sync.WaitGroup
	probes.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				r := c.readyz()
				code, _, _ := strings.Cut(r, " ")
				readiness[code]++
			}
		}
	})
	wg.Go(func() {
		uploads = c.run(4, duration, func(int, int) (string, string, io.Reader) { return "POST", "/api/tickets", slow() })
	})
	time.Sleep(time.Second) // the uploads are sending
	gets = c.run(20, duration-time.Second, func(w, i int) (string, string, io.Reader) {
		return "GET", "/api/tickets/" + ids[(w*31+i)%len(ids)], nil
	})
	wg.Wait()
	close(stop)
	probes.Wait()
	t.Logf("4 slow uploads at a time for %v: %v", duration, uploads)
	t.Logf("20 clients' GETs beside them: %v", gets)
	t.Logf("readyz, once a second: %v", readiness)
}
