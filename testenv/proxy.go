package testenv

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a server, for tests of what a client
// does when the server stops answering in the middle of a call: the
// call lands but its answer never comes (SwallowReply), or the call
// itself is lost (SwallowRequest). Connections it made end with the
// test, and the proxy with them.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	armed  *trap
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// trap is one armed fault: the next client message holding marker.
type trap struct {
	marker []byte
	reply  bool // forward the message and drop what follows; else drop it too
	sprung chan struct{}
}

// StartProxy starts a proxy to target (host:port), stopped when t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SwallowReply arms the proxy: the next message a client sends that
// holds marker (a command's name, say) reaches the server, and nothing
// the server sends back on that connection reaches the client. The
// returned channel closes when it has happened.
func (p *Proxy) SwallowReply(marker string) <-chan struct{} { return p.arm(marker, true) }

// SwallowRequest arms the proxy: the next message a client sends that
// holds marker is dropped, and so is everything after it on that
// connection, both ways.
func (p *Proxy) SwallowRequest(marker string) <-chan struct{} { return p.arm(marker, false) }

func (p *Proxy) arm(marker string, reply bool) <-chan struct{} {
	tr := &trap{marker: []byte(marker), reply: reply, sprung: make(chan struct{})}
	p.mu.Lock()
	p.armed = tr
	p.mu.Unlock()
	return tr.sprung
}

// Close stops the proxy and ends its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client) || !p.track(server) {
			client.Close()
			server.Close()
			continue
		}
		p.wg.Add(1)
		go p.pipe(client, server)
	}
}

// pipe copies both ways until either side ends, springing an armed trap
// on the client's side.
func (p *Proxy) pipe(client, server net.Conn) {
	defer p.wg.Done()
	var deaf sync.Mutex // held while replies are dropped
	muted := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				deaf.Lock()
				m := muted
				deaf.Unlock()
				if !m {
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	dropping := false
	for {
		n, err := client.Read(buf)
		if n > 0 && !dropping {
			p.mu.Lock()
			tr := p.armed
			if tr != nil && bytes.Contains(buf[:n], tr.marker) {
				p.armed = nil
			} else {
				tr = nil
			}
			p.mu.Unlock()
			if tr != nil {
				deaf.Lock()
				muted = true
				deaf.Unlock()
				if tr.reply {
					_, _ = server.Write(buf[:n])
				}
				dropping = true
				close(tr.sprung)
			} else if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	client.Close()
	server.Close()
	<-done
	_, _ = io.Copy(io.Discard, server)
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
