// Package smtptest gives tests a scripted SMTP relay, for the failures a real one will not
// produce on demand.
package smtptest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Relay is an SMTP relay on 127.0.0.1. It answers every step with a success unless Replies
// names another answer for it; steps are GREETING, MAIL, RCPT, DATA and END (after the
// message's final dot, unless Deliver answers it). Hang names a step at which it goes silent until the test ends.
type Relay struct {
	Replies map[string]string
	Hang    string
	// TLS, when set, makes EHLO offer STARTTLS, or with Implicit, TLS from the first byte.
	TLS      *tls.Config
	Implicit bool
	// User and Password, when User is set, make EHLO offer AUTH PLAIN and check them.
	User, Password string
	// Deliver answers a received message (dot-unstuffed, lines ending in \n); ctx ends when
	// the client hangs up. Nil keeps the message for Accepted and answers 250.
	Deliver func(ctx context.Context, msg []byte) (reply string)

	addr     string
	mu       sync.Mutex
	accepted [][]byte
	done     chan struct{}
}

// Start serves r on a free port until t ends, and returns it.
func Start(t testing.TB, r *Relay) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Serve(t, ln)
	return r
}

// Addr returns the host:port r serves on.
func (r *Relay) Addr() string { return r.addr }

// Serve serves r on ln until t ends.
func (r *Relay) Serve(t testing.TB, ln net.Listener) {
	r.addr, r.done = ln.Addr().String(), make(chan struct{})
	t.Cleanup(func() { close(r.done); _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go r.session(conn)
		}
	}()
}

// Accepted returns the messages accepted so far by the default Deliver.
func (r *Relay) Accepted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.accepted))
	for i, m := range r.accepted {
		out[i] = string(m)
	}
	return out
}

// reply answers step, or holds the connection silent when asked to. It reports whether the
// step succeeded.
func (r *Relay) reply(tp *textproto.Conn, step, success string) bool {
	if r.Hang == step {
		<-r.done
		return false
	}
	if v, ok := r.Replies[step]; ok {
		success = v
	}
	_ = tp.PrintfLine("%s", success)
	return success[0] == '2' || success[0] == '3'
}

func (r *Relay) session(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	if r.Implicit {
		conn = tls.Server(conn, r.TLS)
	}
	tp := textproto.NewConn(conn)
	if !r.reply(tp, "GREETING", "220 relay.test ESMTP") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			r.ehlo(tp, conn)
		case "STARTTLS":
			_ = tp.PrintfLine("220 2.0.0 go ahead")
			conn = tls.Server(conn, r.TLS)
			tp = textproto.NewConn(conn)
		case "AUTH":
			r.auth(tp, arg)
		case "MAIL":
			r.reply(tp, "MAIL", "250 2.1.0 ok")
		case "RCPT":
			r.reply(tp, "RCPT", "250 2.1.5 ok")
		case "DATA":
			r.data(tp, conn)
		case "QUIT":
			_ = tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			_ = tp.PrintfLine("250 ok")
		}
	}
}

func (r *Relay) ehlo(tp *textproto.Conn, conn net.Conn) {
	lines := []string{"relay.test", "8BITMIME", "ENHANCEDSTATUSCODES"}
	if _, secure := conn.(*tls.Conn); r.TLS != nil && !secure {
		lines = append(lines, "STARTTLS")
	}
	if r.User != "" {
		lines = append(lines, "AUTH PLAIN")
	}
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		_ = tp.PrintfLine("250%s%s", sep, l)
	}
}

func (r *Relay) auth(tp *textproto.Conn, arg string) {
	if arg == "PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+r.User+"\x00"+r.Password)) {
		_ = tp.PrintfLine("235 2.7.0 authenticated")
		return
	}
	_ = tp.PrintfLine("535 5.7.8 authentication credentials invalid")
}

func (r *Relay) data(tp *textproto.Conn, conn net.Conn) {
	if !r.reply(tp, "DATA", "354 end with .") {
		return
	}
	msg, err := tp.ReadDotBytes()
	if err != nil {
		return
	}
	if r.Deliver == nil {
		if r.reply(tp, "END", "250 2.0.0 queued") {
			r.mu.Lock()
			r.accepted = append(r.accepted, msg)
			r.mu.Unlock()
		}
		return
	}
	_ = tp.PrintfLine("%s", r.deliver(conn, msg))
}

// deliver runs Deliver with a context that ends when the client hangs up: the client says
// nothing until it has the reply, so a read returns only then, or when the watch is stopped.
func (r *Relay) deliver(conn net.Conn, msg []byte) string {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		_, _ = conn.Read(make([]byte, 1))
		cancel()
	}()
	reply := r.Deliver(ctx, msg)
	_ = conn.SetReadDeadline(time.Now())
	<-watched
	_ = conn.SetReadDeadline(time.Time{})
	return reply
}
