package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// serialProxy stands in front of FerretDB and lets one write at a time
// through, across all client connections.
//
// FerretDB 1.x runs an update or findAndModify as a query followed by a
// write by _id (FerretDB issue #2168), with nothing to stop another
// connection's write to the same document in between: two clients
// updating {_id: x, version: 1} can both succeed, and one update is lost.
// MongoDB applies each single-document write atomically, filter included,
// and optimistic concurrency control depends on it. Serializing writes
// restores that. Reads need no turn: SQLite shows them each document as
// one write or the next left it.
//
// FerretDB answers every request with exactly one reply, or closes the
// connection, so a write and its reply form one critical section.
type serialProxy struct {
	l       net.Listener
	backend string

	turn sync.Mutex // held from forwarding a write to relaying its reply

	mu    sync.Mutex
	conns map[net.Conn]struct{} // both sides of every open connection
	done  sync.WaitGroup
}

func newSerialProxy(addr, backend string) (*serialProxy, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &serialProxy{l: l, backend: backend, conns: map[net.Conn]struct{}{}}
	p.done.Add(1)
	go p.serve()
	return p, nil
}

func (p *serialProxy) serve() {
	defer p.done.Done()
	for {
		client, err := p.l.Accept()
		if err != nil {
			return // closed by close
		}
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			p.relay(client)
		}()
	}
}

func (p *serialProxy) relay(client net.Conn) {
	defer client.Close()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	for {
		req, err := readMessage(client)
		if err != nil {
			return
		}
		if err := p.roundTrip(req, client, server); err != nil {
			return
		}
	}
}

func (p *serialProxy) roundTrip(req []byte, client, server net.Conn) error {
	if writes[command(req)] {
		p.turn.Lock()
		defer p.turn.Unlock()
	}
	if _, err := server.Write(req); err != nil {
		return err
	}
	reply, err := readMessage(server)
	if err != nil {
		return err
	}
	_, err = client.Write(reply)
	return err
}

// track records an open connection so close can end it; it refuses once
// the proxy is closing.
func (p *serialProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *serialProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// close stops accepting, ends every connection and waits for the relays.
func (p *serialProxy) close() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.done.Wait()
}

// writes are the commands that read a document and write it back.
var writes = map[string]bool{"insert": true, "update": true, "delete": true, "findandmodify": true}

// command returns the lowercased name of the command an OP_MSG request
// runs: the first key of its body, the one section of kind 0. It returns
// "" for anything else; drivers send commands only as OP_MSG, except for
// the first hello.
func command(msg []byte) string {
	const opMsg = 2013
	if len(msg) < 21 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return ""
	}
	sections := msg[20:] // after the header and the flag bits
	for len(sections) > 5 {
		kind, size := sections[0], int(binary.LittleEndian.Uint32(sections[1:5]))
		if size < 5 || size > len(sections)-1 {
			return ""
		}
		if kind == 0 {
			// A BSON document: its length, then elements of a type
			// byte, a NUL-terminated key and a value.
			key := sections[6 : 1+size]
			if i := bytes.IndexByte(key, 0); i >= 0 {
				return strings.ToLower(string(key[:i]))
			}
			return ""
		}
		sections = sections[1+size:] // a document sequence, sized the same way
	}
	return ""
}

// maxMessage is MongoDB's limit on a wire message (maxMessageSizeBytes).
const maxMessage = 48_000_000

// readMessage reads one wire protocol message, which starts with its own
// length as a little-endian int32.
func readMessage(r io.Reader) ([]byte, error) {
	var header [16]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(header[:4])))
	if n < len(header) || n > maxMessage {
		return nil, fmt.Errorf("bad wire message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, header[:])
	if _, err := io.ReadFull(r, msg[len(header):]); err != nil {
		return nil, err
	}
	return msg, nil
}
