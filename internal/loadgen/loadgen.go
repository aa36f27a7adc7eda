// Package loadgen is a closed-loop HTTP load generator: a fixed number of
// workers each send one request, read the whole answer, and send the next,
// for a fixed duration. It needs nothing but Go, for benchmarks of the
// tickets service (wrk and hey are not to be assumed), and sends only to
// the URL it is given (the benchmarks give it loopback addresses).
package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config is one load run.
type Config struct {
	// Concurrency is the number of workers, each with a request in
	// flight at all times.
	Concurrency int
	// Duration is how long requests are measured.
	Duration time.Duration
	// Warmup is run before Duration, unmeasured, to open connections and
	// warm caches.
	Warmup time.Duration
	// Request makes worker's i-th request.
	Request func(worker, i int) (*http.Request, error)
	// Want is the status a response must have to count as a success.
	Want int
	// Answer, if set, gets the body of each wanted response (during the
	// measured time and the warm-up alike).
	Answer func(body []byte)
	// Client sends the requests; nil means a client keeping one idle
	// connection per worker, so that connections are reused.
	Client *http.Client
}

// Result is what a run measured. Latencies are of successful requests,
// sorted.
type Result struct {
	Requests  int // successes
	Errors    int // failures: transport errors and unwanted statuses
	FirstErr  error
	Elapsed   time.Duration
	Latencies []time.Duration
}

// Rate is the successful requests per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0..100) latency, nearest rank.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	k := int(float64(len(r.Latencies))*p/100+0.5) - 1
	return r.Latencies[max(0, min(k, len(r.Latencies)-1))]
}

func (r Result) String() string {
	return fmt.Sprintf("%d requests in %v (%.0f/s), p50 %v, p99 %v, %d errors",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Rate(),
		r.Percentile(50).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond), r.Errors)
}

// NewClient returns a client that keeps up to conns idle connections to
// one host.
func NewClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.MaxConnsPerHost = 0
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Run runs the load until cfg.Duration has passed after the warm-up, or
// ctx ends.
func Run(ctx context.Context, cfg Config) Result {
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Concurrency)
		defer client.CloseIdleConnections()
	}
	want := cfg.Want
	if want == 0 {
		want = http.StatusOK
	}
	warmEnd := time.Now().Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)

	type tally struct {
		ok, failed int
		firstErr   error
		lat        []time.Duration
	}
	tallies := make([]tally, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			t := &tallies[w]
			t.lat = make([]time.Duration, 0, 4096)
			for i := 0; ctx.Err() == nil; i++ {
				start := time.Now()
				if !start.Before(end) {
					return
				}
				err := send(client, cfg.Request, cfg.Answer, w, i, want)
				if start.Before(warmEnd) {
					continue
				}
				if err != nil {
					t.failed++
					if t.firstErr == nil {
						t.firstErr = err
					}
					continue
				}
				t.ok++
				t.lat = append(t.lat, time.Since(start))
			}
		})
	}
	wg.Wait()
	finished := time.Now()

	// The workers' last requests finish after end; counting them over
	// the time until they did keeps the rate honest.
	r := Result{Elapsed: finished.Sub(warmEnd)}
	for _, t := range tallies {
		r.Requests += t.ok
		r.Errors += t.failed
		if r.FirstErr == nil {
			r.FirstErr = t.firstErr
		}
		r.Latencies = append(r.Latencies, t.lat...)
	}
	slices.Sort(r.Latencies)
	return r
}

func send(client *http.Client, request func(worker, i int) (*http.Request, error), answer func([]byte), w, i, want int) error {
	req, err := request(w, i)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	var body []byte
	if answer != nil {
		body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
	if answer != nil {
		answer(body)
	}
	return nil
}
