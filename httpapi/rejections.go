package httpapi

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// LogRejections wraps ln so that the requests net/http refuses itself,
// before any handler runs, are logged at Warn with the client's address:
// a malformed request (400), an Expect it can't meet (417), headers over
// MaxHeaderBytes (431), a transfer encoding it doesn't support (501) or an
// HTTP version it doesn't speak (505). net/http answers those on the
// connection and tells no one, so neither LogRequests nor the server's
// ErrorLog ever sees them. A flood is logged at most a few times a second,
// with the count of what was left out.
func LogRejections(ln net.Listener, log *slog.Logger) net.Listener {
	return &rejectionListener{Listener: ln, log: log, limit: &rate.Sometimes{First: 10, Interval: time.Second}}
}

type rejectionListener struct {
	net.Listener
	log     *slog.Logger
	limit   *rate.Sometimes
	skipped atomic.Int64
}

func (l *rejectionListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rejectionConn{Conn: c, l: l}, nil
}

type rejectionConn struct {
	net.Conn
	l *rejectionListener
}

// net/http writes its own refusals in one Write, straight to the
// connection: the status line, these headers, and the status as the body
// (server.go), then the reason as the body. 417 is the exception: it goes through the response writer,
// as a status no handler here sends.
var (
	plainRefusal = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")
	statusLine   = []byte("HTTP/1.1 ")
)

func (c *rejectionConn) Write(p []byte) (int, error) {
	if rest, ok := bytes.CutPrefix(p, statusLine); ok && len(rest) >= 3 {
		code, _ := strconv.Atoi(string(rest[:3]))
		line, after, _ := bytes.Cut(rest, []byte("\r\n"))
		switch body, plain := bytes.CutPrefix(after, plainRefusal[2:]); {
		case code == 417:
			c.l.logged(c.RemoteAddr(), code, string(line))
		case code >= 400 && plain:
			c.l.logged(c.RemoteAddr(), code, string(body))
		}
	}
	return c.Conn.Write(p)
}

func (l *rejectionListener) logged(remote net.Addr, code int, line string) {
	n := l.skipped.Add(1)
	l.limit.Do(func() {
		l.skipped.Add(-n)
		attrs := []any{"status", code, "reason", line, "remote", remote.String()}
		if n > 1 {
			attrs = append(attrs, "not_logged_since", n-1)
		}
		l.log.Warn("HTTP request refused by the server before any handler", attrs...)
	})
}
