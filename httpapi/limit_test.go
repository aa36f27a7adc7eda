package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/httpapi"
)

// A deliberately slow backend: every request beyond the limit is answered
// 503 with Retry-After at once, and the ones admitted are cut off at their
// deadline instead of waiting for the backend.
func TestLimitShedsAndBoundsRequests(t *testing.T) {
	release := make(chan struct{})
	var deadlines sync.Map
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Deadline()
		deadlines.Store(r, ok)
		select { // the backend, which honours the request's context
		case <-release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
			httpapi.WriteErrors(w, http.StatusServiceUnavailable, httpapi.Problem{Message: "timeout"})
		}
	})
	h := httpapi.Limit(slow, 200*time.Millisecond, 2)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	type result struct {
		status     int
		retryAfter string
		took       time.Duration
	}
	results := make(chan result, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)}
		}()
	}
	wg.Wait()
	close(results)
	shed := 0
	for r := range results {
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503 (shed or timed out)", r.status)
		}
		if r.retryAfter != "" {
			shed++
		}
		if r.took > 2*time.Second {
			t.Errorf("a request took %v; the deadline is 200ms", r.took)
		}
	}
	if shed < 8 {
		t.Errorf("%d of 10 requests were shed with Retry-After, want at least 8 (2 admitted)", shed)
	}
	deadlines.Range(func(_, ok any) bool {
		if !ok.(bool) {
			t.Error("an admitted request had no deadline")
		}
		return true
	})
}

func TestLimitDeadlineReachesTheBackend(t *testing.T) {
	var got error
	h := httpapi.Limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		got = r.Context().Err()
	}), 50*time.Millisecond, 1)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("the handler's context ended with %v, want its deadline", got)
	}
}

// Clients that send their bodies slowly cost nobody else a place, and
// don't cut the limit: eight uploads that each take 300 ms to send their
// body (six times the old limiter's threshold of timeout/20), then four
// that are still sending, beside 20 requests held in the handler at
// once: none of those is refused. The old limiter counted the uploads'
// sending as latency, cut the limit to 4 and gave the 4 places to the
// uploads, so every other request was answered 503.
func TestLimitSlowUploadsCostNobodyElse(t *testing.T) {
	const gets = 20
	var (
		mu      sync.Mutex
		entered int
		hold    = make(chan struct{})
	)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			data, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, len(data))
			return
		}
		mu.Lock()
		entered++
		mu.Unlock()
		<-hold
	})
	arrived := make(chan struct{}, 16)
	h := httpapi.Limit(api, time.Second, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			arrived <- struct{}{}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	upload := func(body io.Reader) string {
		resp, err := http.Post(srv.URL, "application/json", body)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("upload answered %d", resp.StatusCode)
		}
		return string(got)
	}
	// Slow uploads that complete, one after another.
	for range 8 {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"title":`))
			<-arrived
			time.Sleep(300 * time.Millisecond) // the client's slowness, not a wait for the server
			pw.Write([]byte(`"x"}`))
			pw.Close()
		}()
		if got := upload(pr); got != "13" {
			t.Fatalf("the handler read %s bytes of a 13-byte body", got)
		}
	}
	// Four uploads still sending, for as long as the test needs.
	var uploads sync.WaitGroup
	writers := make([]*io.PipeWriter, 4)
	for i := range writers {
		pr, pw := io.Pipe()
		writers[i] = pw
		uploads.Go(func() {
			if got := upload(pr); got != "13" {
				t.Errorf("the handler read %s bytes of a 13-byte body", got)
			}
		})
		go pw.Write([]byte(`{"title":`))
		<-arrived
	}

	var (
		refused int
		wg      sync.WaitGroup
	)
	statuses := make(chan int, gets)
	for range gets {
		wg.Go(func() {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	// Every GET is either in the handler, all at once, or answered.
	for {
		mu.Lock()
		n := entered
		mu.Unlock()
		if n+len(statuses) >= gets {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(hold)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			refused++
		}
	}
	if refused != 0 {
		t.Errorf("%d of %d requests beside 4 slow uploads were not served (limit cut by the uploads' sending)", refused, gets)
	}
	for _, pw := range writers {
		pw.Write([]byte(`"x"}`))
		pw.Close()
	}
	uploads.Wait()
}

// A database that is slow but steady, 50 to 200 ms an answer however
// many ask, is not overloaded: 16 clients at once are all served, none
// shed. The old limiter cut on answers slower than timeout/20 (here
// 100 ms) and shed most of them.
func TestLimitServesASlowSteadyBackend(t *testing.T) {
	var n atomic.Int64
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		select {
		case <-time.After(time.Duration(50+50*(i%4)) * time.Millisecond): // the database
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	})
	srv := httptest.NewServer(httpapi.Limit(api, 2*time.Second, 256))
	t.Cleanup(srv.Close)
	counts := load(t, srv.URL, 16, 15)
	if counts[http.StatusOK] != 16*15 {
		t.Errorf("answers by status %v, want all %d 200 (none shed)", counts, 16*15)
	}
}

// A database that serves one request at a time, quickly: 16 clients at
// once wait for each other, 16 times as long as one alone, but a small
// part of their deadline, and are all served. (The soak's 16 clients
// creating tickets on FerretDB were shed by a first version of the
// gradient limit, which cut on any rise above the minimum.)
func TestLimitServesAQueueWithinTheDeadline(t *testing.T) {
	var db sync.Mutex
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		db.Lock()
		defer db.Unlock()
		time.Sleep(5 * time.Millisecond)
	})
	srv := httptest.NewServer(httpapi.Limit(api, 5*time.Second, 256))
	t.Cleanup(srv.Close)
	if counts := load(t, srv.URL, 1, 30); counts[http.StatusOK] != 30 {
		t.Fatalf("one client: answers by status %v, want 30 200", counts)
	}
	if counts := load(t, srv.URL, 16, 20); counts[http.StatusOK] != 16*20 {
		t.Errorf("answers by status %v, want all %d 200 (none shed)", counts, 16*20)
	}
}

// At saturation, a backend that gets slower with every request it runs
// at once, the service sheds with 503 and Retry-After, and the requests
// it admits finish within their deadline.
func TestLimitShedsAtSaturation(t *testing.T) {
	var running, timedOut atomic.Int64
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		defer running.Add(-1)
		select {
		case <-time.After(time.Duration(n) * 10 * time.Millisecond): // the database
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
			timedOut.Add(1)
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	})
	srv := httptest.NewServer(httpapi.Limit(api, 5*time.Second, 256))
	t.Cleanup(srv.Close)
	counts := load(t, srv.URL, 96, 10)
	if counts[http.StatusOK]+counts[http.StatusServiceUnavailable] != 96*10 {
		t.Errorf("answers by status %v, want only 200 and 503 with Retry-After", counts)
	}
	if counts[http.StatusServiceUnavailable] < 96 {
		t.Errorf("answers by status %v, want at least 96 shed", counts)
	}
	if counts[http.StatusOK] < 32 {
		t.Errorf("answers by status %v, want at least 32 served", counts)
	}
	if n := timedOut.Load(); n != 0 {
		t.Errorf("%d admitted requests ran out of their deadline", n)
	}
}

// load runs clients, each sending requests GETs one after another, and
// counts the answers by status (a 503 without Retry-After counts as 0).
func load(t *testing.T, url string, clients, requests int) map[int]int {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			for range requests {
				resp, err := client.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status := resp.StatusCode
				if status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
					status = 0
				}
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

// Clients that read their answers slowly don't cut the limit either: the
// latency counted ends when the handler begins its answer. Eight clients
// each take 300 ms to start reading a 16 MiB answer; then 20 requests
// held in the handler at once are all admitted. The old limiter counted
// the time the handler spent writing to them, and cut the limit to 4.
func TestLimitSlowReadersCutNothing(t *testing.T) {
	const gets = 20
	big := bytes.Repeat([]byte("x"), 16<<20)
	var entered atomic.Int64
	hold := make(chan struct{})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(big)
			return
		}
		entered.Add(1)
		<-hold
	})
	srv := httptest.NewServer(httpapi.Limit(api, time.Second, 64))
	t.Cleanup(srv.Close)
	for range 8 {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		time.Sleep(300 * time.Millisecond) // the client's slowness, not a wait for the server
		n, err := io.Copy(io.Discard, conn)
		conn.Close()
		if err != nil || n < int64(len(big)) {
			t.Fatalf("read %d bytes of the answer: %v", n, err)
		}
	}
	statuses := make(chan int, gets)
	var wg sync.WaitGroup
	for range gets {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/hold")
			if err != nil {
				t.Error(err)
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	for int(entered.Load())+len(statuses) < gets {
		time.Sleep(5 * time.Millisecond)
	}
	close(hold)
	wg.Wait()
	close(statuses)
	refused := 0
	for s := range statuses {
		if s != http.StatusOK {
			refused++
		}
	}
	if refused != 0 {
		t.Errorf("%d of %d requests refused after slow readers (limit cut by their reading)", refused, gets)
	}
}

// The body read before a place is taken reaches the handler whole,
// beyond DefaultMaxBody too; one that stops arriving is a read error for
// the handler once the read deadline (here the request timeout: the
// test server has no ReadTimeout) has passed.
func TestLimitReadsBodies(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, len(data))
	})
	srv := httptest.NewServer(httpapi.Limit(api, 300*time.Millisecond, 4))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: time.Minute}

	big := bytes.Repeat([]byte("x"), 3*httpapi.DefaultMaxBody+7)
	resp, err := client.Post(srv.URL, "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != fmt.Sprint(len(big)) {
		t.Errorf("the handler read %s bytes of %d", got, len(big))
	}

	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("the start, and then nothing"))
	resp, err = client.Post(srv.URL, "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a body that stopped arriving: %d, want the handler's 400 for a read error", resp.StatusCode)
	}
}
