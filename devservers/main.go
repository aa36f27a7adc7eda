// Command devservers runs the servers that ticketkit's integration tests
// need, in-process, so that `make test` works with nothing but Go installed:
// a NATS Streaming server, a NATS server with JetStream, FerretDB as a
// MongoDB wire protocol server, and stripe-mock, Stripe's API mock.
//
// Usage:
//
//	devservers run [-v] [-- cmd args...]
//	devservers stan      -addr 127.0.0.1:PORT -dir DIR [-cluster ticketing] [security flags]
//	devservers jetstream -addr 127.0.0.1:PORT -dir DIR [cluster flags] [security flags]
//	devservers mongo     -addr 127.0.0.1:PORT -dir DIR
//	devservers stripe    -addr 127.0.0.1:PORT
//	devservers creds     -dir DIR
//
// `run` starts all four on free loopback ports with data in a fresh
// temporary directory, runs cmd with MONGO_URI, NATS_URL, NATS_CLUSTER_ID,
// NATS_JETSTREAM_URL, STRIPE_API_BASE and TICKETKIT_DEVSERVERS (this binary) in its
// environment, then stops the servers and exits with cmd's exit code. The
// servers log to a file, whose path it prints if cmd fails (-v streams it
// to stderr too). cmd runs in a process group of its own, without stdin;
// SIGINT and SIGTERM are passed on to the group. Without cmd, run prints
// the environment as shell `export` lines and serves until interrupted.
//
// The mongo server is FerretDB behind a proxy that serializes writes; see
// serialProxy for why.
//
// The single-server subcommands exist for tests that kill and restart a
// server: each serves in the foreground until SIGINT or SIGTERM and prints
// the line "ready" on stdout once clients can connect. Logs go to stderr.
//
// stan and jetstream also serve tests of clients' authentication and TLS.
// Their security flags make the server require one of a user and password
// (-user, -pass), a token (-token), an NKey (-nkey PUBLIC-KEY) or a user
// JWT of the operator and account in a directory (-jwt DIR), and TLS
// (-tls-cert, -tls-key), with client certificates (-tls-ca). `creds`
// writes fresh NKey and JWT credentials for them into a directory.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const clusterID = "ticketing" // the cluster's, as its manifests name it

// The environment variables `run` sets, read by testenv.
const (
	envMongoURI     = "MONGO_URI"
	envNATSURL      = "NATS_URL"
	envClusterID    = "NATS_CLUSTER_ID"
	envJetStreamURL = "NATS_JETSTREAM_URL"
	envDevservers   = "TICKETKIT_DEVSERVERS" // this binary, for tests that start their own servers
	envStripeBase   = "STRIPE_API_BASE"      // stripe-mock's URL, as a Stripe client's API base
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		os.Exit(run(args))
	case "stan", "jetstream", "mongo", "stripe":
		os.Exit(serveOne(cmd, args))
	case "creds":
		os.Exit(creds(args))
	case "help", "-h", "-help", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "devservers: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  devservers run [-v] [-- cmd args...]   all servers on free ports; runs cmd with their env
  devservers stan      -addr HOST:PORT -dir DIR [-cluster ID] [security flags]
  devservers jetstream -addr HOST:PORT -dir DIR [-name N -cluster-name C -cluster-addr HOST:PORT -routes URLS] [security flags]
  devservers mongo     -addr HOST:PORT -dir DIR
  devservers stripe    -addr HOST:PORT            stripe-mock (-dir is accepted and unused)
  devservers creds     -dir DIR               write NKey and JWT credentials for -nkey and -jwt
security flags: [-user U -pass P | -token T | -nkey PUBLIC-KEY | -jwt DIR] [-tls-cert F -tls-key F [-tls-ca F]]
`)
}

func serveOne(kind string, args []string) int {
	fs := flag.NewFlagSet(kind, flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address`")
	dir := fs.String("dir", "", "data `directory`, kept across restarts (required)")
	cluster := clusterID
	var sec security
	if kind != "mongo" && kind != "stripe" {
		sec.flags(fs)
	}
	if kind == "stan" {
		fs.StringVar(&cluster, "cluster", clusterID, "NATS Streaming cluster `id`")
	}
	var jsc jsCluster
	if kind == "jetstream" {
		fs.StringVar(&jsc.name, "name", "", "server `name`, unique in a cluster")
		fs.StringVar(&jsc.cluster, "cluster-name", "", "JetStream cluster `name`; with -cluster-addr and -routes, this server is a node of it")
		fs.StringVar(&jsc.addr, "cluster-addr", "", "`address` the cluster's routes listen on")
		fs.StringVar(&jsc.routes, "routes", "", "the other nodes' route `URLs`, comma-separated (nats://127.0.0.1:PORT)")
	}
	_ = fs.Parse(args)
	if (*dir == "" && kind != "stripe") || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := sec.check(); err != nil {
		fmt.Fprintf(os.Stderr, "devservers %s: %v\n", kind, err)
		return 2
	}

	// Subscribe before starting so that a signal sent as soon as "ready"
	// is read still goes through a clean shutdown.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	var (
		srv *server
		err error
	)
	switch kind {
	case "stan":
		srv, err = startStan(*addr, cluster, *dir, sec, os.Stderr)
	case "jetstream":
		srv, err = startJetStreamNode(*addr, *dir, sec, jsc, os.Stderr)
	case "mongo":
		srv, err = startMongo(*addr, *dir, "sqlite", os.Stderr)
	case "stripe":
		// stripe-mock prints its requests on os.Stdout: on stderr, with
		// the other servers' logs, and stdout says only "ready".
		stdout := os.Stdout
		os.Stdout = os.Stderr
		srv, err = startStripeMock(*addr, os.Stderr)
		if err == nil {
			fmt.Fprintln(os.Stderr, "stripe-mock on "+srv.url)
			fmt.Fprintln(stdout, "ready")
			<-sigs
			srv.stop()
			return 0
		}
	}
	if err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	<-sigs
	srv.stop()
	return 0
}

func run(args []string) (code int) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	verbose := fs.Bool("v", false, "stream the servers' logs to stderr")
	backend := fs.String("mongo-backend", "sqlite", "FerretDB's backend: sqlite, or postgresql (a throwaway cluster; needs Debian's postgresql package)")
	_ = fs.Parse(args)
	command := fs.Args()

	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp("", "devservers-")
	if err != nil {
		return fail(err)
	}
	logPath := filepath.Join(tmp, "servers.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fail(err)
	}
	var logw io.Writer = logFile
	if *verbose {
		logw = io.MultiWriter(logFile, os.Stderr)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	// stripe-mock prints every request to os.Stdout, which is cmd's
	// output: send what the servers print there to their log instead,
	// and keep the real stdout for cmd and the export lines.
	stdout, err := logStdout(logw)
	if err != nil {
		return fail(err)
	}
	defer func() { os.Stdout.Close(); os.Stdout = stdout }()

	var servers []*server
	defer func() {
		for i := len(servers) - 1; i >= 0; i-- {
			servers[i].stop()
		}
		logFile.Close()
		// The data is worthless once the servers are gone, but the log
		// is what explains a failure, so keep it then.
		if code == 0 {
			os.RemoveAll(tmp)
			return
		}
		for _, name := range []string{"stan", "jetstream", "mongo"} {
			os.RemoveAll(filepath.Join(tmp, name))
		}
		fmt.Fprintf(os.Stderr, "devservers: server logs are in %s\n", logPath)
	}()

	stan, err := startStan("127.0.0.1:0", clusterID, filepath.Join(tmp, "stan"), security{}, logw)
	if err != nil {
		return fail(err)
	}
	servers = append(servers, stan)
	js, err := startJetStream("127.0.0.1:0", filepath.Join(tmp, "jetstream"), security{}, logw)
	if err != nil {
		return fail(err)
	}
	servers = append(servers, js)
	mongo, err := startMongo("127.0.0.1:0", filepath.Join(tmp, "mongo"), *backend, logw)
	if err != nil {
		return fail(err)
	}
	servers = append(servers, mongo)
	stripe, err := startStripeMock("127.0.0.1:0", logw)
	if err != nil {
		return fail(err)
	}
	servers = append(servers, stripe)

	env := [][2]string{
		{envMongoURI, mongo.url},
		{envNATSURL, stan.url},
		{envClusterID, clusterID},
		{envJetStreamURL, js.url},
		{envStripeBase, stripe.url},
		{envDevservers, self},
	}

	if len(command) == 0 {
		for _, kv := range env {
			fmt.Fprintf(stdout, "export %s=%s\n", kv[0], shellQuote(kv[1]))
		}
		fmt.Fprintln(os.Stderr, "devservers: serving until interrupted (Ctrl-C)")
		<-sigs
		return 0
	}
	return runCommand(command, env, sigs, stdout)
}

// logStdout points os.Stdout at a pipe copied to w, and returns the
// os.Stdout it replaced.
func logStdout(w io.Writer) (*os.File, error) {
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() { _, _ = io.Copy(w, r); r.Close() }()
	stdout := os.Stdout
	os.Stdout = pw
	return stdout, nil
}

// runCommand runs command in its own process group and relays signals to
// the whole group: `go test` does not pass a SIGTERM on to the test
// binaries it started, which would otherwise outlive the servers.
func runCommand(command []string, env [][2]string, sigs <-chan os.Signal, stdout *os.File) int {
	cmd := exec.Command(command[0], command[1:]...)
	// No stdin: a process outside the terminal's foreground group that
	// reads it would be stopped, and hang us with it.
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	cmd.Env = os.Environ()
	for _, kv := range env {
		cmd.Env = append(cmd.Env, kv[0]+"="+kv[1])
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "devservers: %v\n", err)
		return 127
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var killTimer <-chan time.Time
	for {
		select {
		case sig := <-sigs:
			_ = syscall.Kill(-pgid, sig.(syscall.Signal))
			if killTimer == nil {
				killTimer = time.After(10 * time.Second)
			}
		case <-killTimer:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case err := <-done:
			// Leave nothing of the command's behind, such as a server a
			// crashed test had started.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				return fail(err)
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return cmd.ProcessState.ExitCode()
		}
	}
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "devservers: %v\n", err)
	return 1
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
