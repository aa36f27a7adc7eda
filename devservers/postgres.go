package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// startPostgres runs a throwaway PostgreSQL cluster in dir, for FerretDB's
// PostgreSQL backend: initdb with trust auth, then postgres listening on
// 127.0.0.1 and a free port only, run as the postgres user when we are
// root (PostgreSQL refuses to run as root). It is our child process, never
// a system service, and stop removes nothing but the process; the caller
// removes dir. It returns the URL FerretDB connects to.
func startPostgres(dir string, logw io.Writer) (url string, stop func(), err error) {
	bin, err := postgresBin()
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	cred, err := postgresCredential(dir)
	if err != nil {
		return "", nil, err
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr, initdb.Stdout, initdb.Stderr = &syscall.SysProcAttr{Credential: cred}, logw, logw
	if err := initdb.Run(); err != nil {
		return "", nil, fmt.Errorf("initdb: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	pg := exec.Command(filepath.Join(bin, "postgres"), "-D", dir, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	pg.SysProcAttr, pg.Stdout, pg.Stderr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}, logw, logw
	if err := pg.Start(); err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- pg.Wait() }()
	stop = func() {
		_ = pg.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = pg.Process.Kill()
			<-exited
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return "", nil, fmt.Errorf("postgres exited at start-up: %v", err)
		case <-ctx.Done():
			stop()
			return "", nil, errors.New("postgres did not start listening within 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return "postgres://postgres@" + addr + "/postgres", stop, nil
}

// postgresBin finds the server binaries of Debian's postgresql package
// (the newest version installed), or initdb on PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb): install Debian's postgresql package (make bench does, as root)")
}

func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// postgresCredential is the user to run PostgreSQL as: ourselves, or the
// postgres user when we are root, who then owns dir.
func postgresCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	// The path down to dir must be traversable by that user.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(p, fi.Mode().Perm()|0o711)
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
