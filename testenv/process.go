package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Process is a server running as a child process of the test, for tests
// of what clients do when their server stops, dies or comes back, or of
// servers that require authentication or TLS. It is started by StartStan,
// StartJetStream or StartMongo (or StartStanWith, StartJetStreamWith) from
// the devservers binary named by TICKETKIT_DEVSERVERS, listens on a
// loopback port of its own and keeps its data in the directory it was
// given, so Restart brings back the same server, with its data, at the
// same URL.
//
// Its methods are meant for the test's goroutine; they are not safe for
// concurrent use. A process still running when the test ends is killed.
type Process struct {
	t         testing.TB
	kind      string
	bin       string
	args      []string
	url       string
	clusterID string
	log       syncBuffer // the server's stderr, over all its runs

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	frozen bool          // SIGSTOPped by Freeze
}

// StartStan starts a NATS Streaming server (cluster id DefaultClusterID)
// keeping its file store in dir. StartStanWith starts one that requires
// authentication or TLS.
func StartStan(t testing.TB, dir string) *Process {
	t.Helper()
	return StartStanWith(t, dir, ServerOptions{})
}

// StartJetStream starts a NATS server with JetStream keeping its streams
// in dir. StartJetStreamWith starts one that requires authentication or
// TLS.
func StartJetStream(t testing.TB, dir string) *Process {
	t.Helper()
	return StartJetStreamWith(t, dir, ServerOptions{})
}

// StartMongo starts a MongoDB wire protocol server (FerretDB) keeping its
// databases in dir.
func StartMongo(t testing.TB, dir string) *Process {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, "mongo", addr, dir)
	p.url = "mongodb://" + addr + "/"
	return p
}

// URL is the address clients connect to; it stays the same across restarts.
func (p *Process) URL() string { return p.url }

// ClusterID is the NATS Streaming cluster id; empty for other servers.
func (p *Process) ClusterID() string { return p.clusterID }

// Freeze pauses the server (SIGSTOP), as a hung host or a long GC pause
// would: its connections stay open and its port accepts, but nothing is
// answered until Thaw. Stop, Restart and Kill work on a frozen server.
func (p *Process) Freeze() {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("testenv: Freeze of a %s server that is not running", p.kind)
	}
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("testenv: freeze %s server: %v", p.kind, err)
	}
	p.frozen = true
	// The signal is asynchronous: a thread still running could answer
	// after Freeze returned, so wait until every one has stopped.
	deadline := time.Now().Add(10 * time.Second)
	for !stopped(p.cmd.Process.Pid) {
		if time.Now().After(deadline) {
			p.t.Fatalf("testenv: the %s server is not stopped 10s after SIGSTOP", p.kind)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stopped reports whether every thread of process pid is stopped, as
// /proc says (state T); where /proc can't tell, it says yes.
func stopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue // the thread has exited
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return true
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			return false
		}
	}
	return true
}

// Thaw resumes a frozen server (SIGCONT).
func (p *Process) Thaw() {
	p.t.Helper()
	if !p.frozen || !p.running() {
		p.frozen = false
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatalf("testenv: thaw %s server: %v", p.kind, err)
	}
	p.frozen = false
}

// Stop asks the server to shut down (SIGTERM) and waits until it has.
// The test fails if the server does not exit cleanly.
func (p *Process) Stop() {
	p.t.Helper()
	if !p.running() {
		return
	}
	p.Thaw()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.Kill()
		p.t.Fatalf("testenv: %s server did not stop within %v of SIGTERM%s", p.kind, timeout, p.logs())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("testenv: %s server exited with %s on SIGTERM%s", p.kind, p.cmd.ProcessState, p.logs())
	}
}

// Kill kills the server (SIGKILL), as a crash would, and waits until it
// is gone.
func (p *Process) Kill() {
	p.t.Helper()
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Restart starts the server again, on the same port and data directory,
// and waits until it accepts clients. A server still running is stopped
// first.
func (p *Process) Restart() {
	p.t.Helper()
	p.Stop()
	p.run()
}

func start(t testing.TB, kind, addr, dir string, extra ...string) *Process {
	t.Helper()
	bin := require(t, EnvDevservers, "the devservers binary")
	p := &Process{
		t:    t,
		kind: kind,
		bin:  bin,
		args: append([]string{kind, "-addr", addr, "-dir", dir}, extra...),
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("testenv: %s server log:%s", p.kind, p.logs())
		}
	})
	p.run()
	return p
}

// run starts the server and waits for its "ready" line.
func (p *Process) run() {
	p.t.Helper()
	ready := &readyWriter{ready: make(chan struct{})}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = ready
	cmd.Stderr = &p.log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testenv: start %s server: %v", p.kind, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited

	select {
	case <-ready.ready:
	case <-exited:
		p.t.Fatalf("testenv: %s server exited before it was ready: %s%s", p.kind, cmd.ProcessState, p.logs())
	case <-time.After(timeout):
		p.Kill()
		p.t.Fatalf("testenv: %s server not ready within %v%s", p.kind, timeout, p.logs())
	}
}

func (p *Process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return p.exited != nil
	}
}

// logs returns the end of the server's log, where the reason for a
// failure would be.
func (p *Process) logs() string {
	const keep = 40
	lines := strings.SplitAfter(p.log.String(), "\n")
	if len(lines) > keep {
		lines = append([]string{fmt.Sprintf("[%d earlier lines]\n", len(lines)-keep)}, lines[len(lines)-keep:]...)
	}
	return "\n" + strings.Join(lines, "")
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. The port is reused across restarts, which is why servers are not
// simply started on port 0.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// readyWriter is a server's stdout: it closes ready on the line "ready".
// Only exec's copying goroutine calls Write.
type readyWriter struct {
	buf   []byte
	seen  bool
	ready chan struct{}
}

func (w *readyWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	if !w.seen && bytes.Contains(w.buf, []byte("ready\n")) {
		w.seen = true
		close(w.ready)
	}
	return len(b), nil
}

// syncBuffer collects what other goroutines write (a server's stderr,
// written by exec's copying goroutine; a client's log) for the test to read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartJetStreamCluster starts a JetStream cluster of n nodes (3 or 5 for
// a quorum that survives a node), each a Process of its own with its data
// in a directory under dir, and waits until the cluster has elected its
// meta leader, so that streams can be created. Each node's URL is its
// client address; a client given all of them finds whichever is up.
// Kill, Freeze or Restart a node to test what a node outage does.
func StartJetStreamCluster(t testing.TB, dir string, n int) []*Process {
	t.Helper()
	if n < 1 {
		t.Fatalf("testenv: a cluster of %d nodes", n)
	}
	clientAddrs, routeAddrs := make([]string, n), make([]string, n)
	for i := range n {
		clientAddrs[i], routeAddrs[i] = freeAddr(t), freeAddr(t)
	}
	cluster := "c" + UniqueName(t)[len(UniqueName(t))-8:]
	nodes := make([]*Process, n)
	for i := range n {
		var routes []string
		for j, a := range routeAddrs {
			if j != i {
				routes = append(routes, "nats://"+a)
			}
		}
		p := start(t, "jetstream", clientAddrs[i], filepath.Join(dir, fmt.Sprintf("node%d", i)),
			"-name", fmt.Sprintf("%s-n%d", cluster, i), "-cluster-name", cluster,
			"-cluster-addr", routeAddrs[i], "-routes", strings.Join(routes, ","))
		p.url = "nats://" + clientAddrs[i]
		nodes[i] = p
	}
	awaitMetaLeader(t, nodes)
	return nodes
}

// awaitMetaLeader waits until a node answers JetStream's account info,
// which it does only once the cluster has a meta leader.
func awaitMetaLeader(t testing.TB, nodes []*Process) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var last error
		for _, p := range nodes {
			if !p.running() {
				continue
			}
			if last = jetStreamReady(p.url); last == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: the JetStream cluster elected no meta leader within %v: %v", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jetStreamReady reports why the JetStream API at url doesn't answer
// yet, or nil once it does.
func jetStreamReady(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}
