package mail_test

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// fakeSMTP is a scripted SMTP relay: it answers every step with a success unless replies
// names another answer for it, and keeps the messages it accepted. Steps: GREETING, MAIL,
// RCPT, DATA, END (after the message's final dot); hang names a step where it goes silent.
type fakeSMTP struct {
	addr      string
	replies   map[string]string
	hang      string
	tlsConfig *tls.Config // when set, EHLO offers STARTTLS; implicit makes it TLS from the start
	implicit  bool
	user, pwd string // when user is set, EHLO offers AUTH PLAIN and checks these

	mu       sync.Mutex
	messages []string
	done     chan struct{}
}

func (f *fakeSMTP) start(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr, f.done = ln.Addr().String(), make(chan struct{})
	t.Cleanup(func() { close(f.done); _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.session(conn)
		}
	}()
	return f
}

// reply answers step, or holds the connection silent when the test asked for that. It reports
// whether the step succeeded.
func (f *fakeSMTP) reply(tp *textproto.Conn, step, success string) bool {
	if f.hang == step {
		<-f.done
		return false
	}
	r := success
	if v, ok := f.replies[step]; ok {
		r = v
	}
	_ = tp.PrintfLine("%s", r)
	return r[0] == '2' || r[0] == '3'
}

func (f *fakeSMTP) session(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	if f.implicit {
		conn = tls.Server(conn, f.tlsConfig)
	}
	tp := textproto.NewConn(conn)
	if !f.reply(tp, "GREETING", "220 fake.test ESMTP") {
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
			f.ehlo(tp, conn)
		case "STARTTLS":
			_ = tp.PrintfLine("220 2.0.0 go ahead")
			conn = tls.Server(conn, f.tlsConfig)
			tp = textproto.NewConn(conn)
		case "AUTH":
			want := base64.StdEncoding.EncodeToString([]byte("\x00" + f.user + "\x00" + f.pwd))
			if arg == "PLAIN "+want {
				_ = tp.PrintfLine("235 2.7.0 authenticated")
			} else {
				_ = tp.PrintfLine("535 5.7.8 authentication credentials invalid")
			}
		case "MAIL":
			f.reply(tp, "MAIL", "250 2.1.0 ok")
		case "RCPT":
			f.reply(tp, "RCPT", "250 2.1.5 ok")
		case "DATA":
			f.data(tp)
		case "QUIT":
			_ = tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			_ = tp.PrintfLine("250 ok")
		}
	}
}

func (f *fakeSMTP) ehlo(tp *textproto.Conn, conn net.Conn) {
	lines := []string{"fake.test", "8BITMIME", "ENHANCEDSTATUSCODES"}
	if _, secure := conn.(*tls.Conn); f.tlsConfig != nil && !secure {
		lines = append(lines, "STARTTLS")
	}
	if f.user != "" {
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

func (f *fakeSMTP) data(tp *textproto.Conn) {
	if !f.reply(tp, "DATA", "354 end with .") {
		return
	}
	msg, err := tp.ReadDotBytes()
	if err != nil {
		return
	}
	if f.reply(tp, "END", "250 2.0.0 queued") {
		f.mu.Lock()
		f.messages = append(f.messages, string(msg))
		f.mu.Unlock()
	}
}

func (f *fakeSMTP) accepted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.messages...)
}
