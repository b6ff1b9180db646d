package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// tripCounter is a TCP proxy in front of PostgreSQL that counts round trips: each time a
// client sends after the server has answered it (or for the first time) is one. A pipelined
// batch of statements is one round trip, as it is on the wire.
type tripCounter struct {
	ln     net.Listener
	target string
	n      atomic.Int64
	wg     sync.WaitGroup
}

// newTripCounter listens on a free port of 127.0.0.1 and forwards to target (host:port).
func newTripCounter(target string) (*tripCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &tripCounter{ln: ln, target: target}
	t.wg.Go(t.accept)
	return t, nil
}

func (t *tripCounter) addr() string { return t.ln.Addr().String() }

func (t *tripCounter) trips() int64 {
	if t == nil {
		return 0
	}
	return t.n.Load()
}

func (t *tripCounter) close() {
	t.ln.Close()
	t.wg.Wait()
}

func (t *tripCounter) accept() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		go t.relay(c)
	}
}

// relay forwards one connection both ways; answered is set while the server has spoken
// since the client last did.
func (t *tripCounter) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", t.target)
	if err != nil {
		return
	}
	defer server.Close()
	var answered atomic.Bool
	answered.Store(true)
	done := make(chan struct{}, 2)
	go func() {
		copyWith(server, client, func() {
			if answered.Swap(false) {
				t.n.Add(1)
			}
		})
		done <- struct{}{}
	}()
	go func() {
		copyWith(client, server, func() { answered.Store(true) })
		done <- struct{}{}
	}()
	<-done
}

// copyWith copies from src to dst, calling seen before forwarding each read.
func copyWith(dst io.Writer, src io.Reader, seen func()) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			seen()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
