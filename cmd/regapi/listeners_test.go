package main

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// gate is a listener bound for the whole test that resets every connection until it is
// opened, then hands connections to whoever serves on it. Its address is never released, so
// no other process of a parallel suite can take it while it refuses.
type gate struct {
	net.Listener
	open atomic.Bool
}

// newGate binds a closed gate on a port of the system's choosing, closed when t ends.
func newGate(t testing.TB) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &gate{Listener: ln}
}

// Accept resets each connection while the gate is closed.
func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil || g.open.Load() {
			return c, err
		}
		reset(c)
	}
}

// reset closes c with a TCP reset, as a server that refuses would.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// refusingAddr returns an address where every connection is reset, until t ends.
func refusingAddr(t testing.TB) string {
	t.Helper()
	g := newGate(t)
	go func() {
		for {
			if _, err := g.Accept(); err != nil {
				return // closed when t ended
			}
		}
	}()
	return g.Addr().String()
}

// forwarder is a fixed address for a server that restarts on a new port each time: it
// forwards each connection to the current backend, and resets it while there is none.
type forwarder struct {
	ln      net.Listener
	backend atomic.Pointer[string]
}

// newForwarder listens until t ends, with no backend; set one with point.
func newForwarder(t testing.TB) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	f := &forwarder{ln: ln}
	go f.serve()
	return f
}

// URL is the forwarder's base URL.
func (f *forwarder) URL() string { return "http://" + f.ln.Addr().String() }

// point sends new connections to addr ("" for none).
func (f *forwarder) point(addr string) { f.backend.Store(&addr) }

func (f *forwarder) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.forward(c)
	}
}

// forward copies c to the backend and back until either side closes; a backend that is
// gone or killed ends c with a reset or an early close, as the server itself would.
func (f *forwarder) forward(c net.Conn) {
	addr := f.backend.Load()
	if addr == nil || *addr == "" {
		reset(c)
		return
	}
	b, err := net.Dial("tcp", *addr)
	if err != nil {
		reset(c)
		return
	}
	go func() {
		_, _ = io.Copy(b, c)
		_ = b.Close()
	}()
	_, _ = io.Copy(c, b)
	_ = c.Close()
}
