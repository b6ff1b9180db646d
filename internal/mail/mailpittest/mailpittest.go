// Package mailpittest gives tests a real Mailpit and reads emails back through its API.
package mailpittest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a Mailpit for a test: the base URL of its HTTP API and the host:port of its SMTP
// listener.
type Server struct {
	URL      string
	SMTPAddr string
}

// Option changes how Start runs Mailpit's SMTP listener.
type Option func(*smtpOptions)

type smtpOptions struct {
	authFile          string
	certFile, keyFile string
	implicit          bool
}

// args returns Mailpit's flags for o.
func (o smtpOptions) args() []string {
	var args []string
	if o.authFile != "" {
		args = append(args, "--smtp-auth-file", o.authFile)
		if o.certFile == "" {
			// Without TLS, AUTH happens in the clear (to 127.0.0.1, as a local relay would).
			args = append(args, "--smtp-auth-allow-insecure")
		}
	}
	if o.certFile != "" {
		require := "--smtp-require-starttls"
		if o.implicit {
			require = "--smtp-require-tls"
		}
		args = append(args, "--smtp-tls-cert", o.certFile, "--smtp-tls-key", o.keyFile, require)
	}
	return args
}

// WithSMTPAuth makes the SMTP listener require AUTH with user and password.
func WithSMTPAuth(t testing.TB, user, password string) Option {
	t.Helper()
	file := filepath.Join(t.TempDir(), "smtp-auth")
	if err := os.WriteFile(file, []byte(user+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(o *smtpOptions) { o.authFile = file }
}

// WithSMTPTLS gives the SMTP listener the certificate in certFile and keyFile, and makes it
// require STARTTLS, or TLS from the first byte when implicit is set.
func WithSMTPTLS(certFile, keyFile string, implicit bool) Option {
	return func(o *smtpOptions) { o.certFile, o.keyFile, o.implicit = certFile, keyFile, implicit }
}

// URL returns the base URL of a Mailpit for t, as Start does.
func URL(t testing.TB) string {
	t.Helper()
	return Start(t).URL
}

// Start returns a Mailpit for t. Without options that is TEST_MAILPIT_URL when set (a shared
// instance, as in the compose test service; its SMTP listener is TEST_MAILPIT_SMTP, or port
// 1025 of the same host), otherwise, and always with options, a `mailpit` binary from PATH
// started behind ports of the system's choosing and stopped when t ends. A started one
// ignores duplicate Message-IDs, as a provider that honours idempotency keys would. Without
// either it skips t loudly, or fails it when TEST_REQUIRE_SERVICES=1; with options, a shared
// instance but no binary skips t (the shared instance's flags are not the test's to set).
// With go test -short, a Mailpit that would be started skips t.
func Start(t testing.TB, opts ...Option) Server {
	t.Helper()
	if u := os.Getenv("TEST_MAILPIT_URL"); u != "" && len(opts) == 0 {
		return shared(t, u)
	}
	if testing.Short() {
		t.Skip("-short: runs a mailpit process")
	}
	bin := lookPath(t)
	// No port is probed free and handed to Mailpit, when another process of a parallel suite
	// may take it first. Its HTTP API binds port 0 (the send API needs a TCP peer address),
	// read back from the process's sockets; its SMTP listener is a Unix socket in a directory
	// of its own (a short path: a socket's is limited to about 100 bytes), reached through a
	// port the test binds and holds until t ends.
	dir, err := os.MkdirTemp("", "mailpit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	smtpSock := filepath.Join(dir, "smtp")
	smtpAddr := forward(t, smtpSock)
	args := []string{"--listen", "127.0.0.1:0", "--smtp", "unix:" + smtpSock + ":0600",
		"--disable-version-check", "--ignore-duplicate-ids", "--quiet"}
	var o smtpOptions
	for _, opt := range opts {
		opt(&o)
	}
	args = append(args, o.args()...)
	// #nosec G204 -- bin is the mailpit found on PATH for tests, with arguments of the test's making.
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + listeningAddr(t, cmd.Process.Pid)
	waitUp(t, base)
	return Server{URL: base, SMTPAddr: smtpAddr}
}

// lookPath returns the mailpit on PATH, or skips t (fails it when TEST_REQUIRE_SERVICES=1).
func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("mailpit")
	if err == nil {
		return bin
	}
	if os.Getenv("TEST_MAILPIT_URL") != "" {
		// The shared instance is there, but its flags are not the test's to set.
		t.Skip("MAILPIT BINARY NOT AVAILABLE: SMTP AUTH or TLS needs a mailpit on PATH " +
			"(go install github.com/axllent/mailpit@MAILPIT_VERSION, from the versions file); TEST_MAILPIT_URL cannot take them")
	}
	msg := "MAILPIT NOT AVAILABLE: no TEST_MAILPIT_URL and no mailpit on PATH " +
		"(go install github.com/axllent/mailpit@MAILPIT_VERSION, from the versions file)"
	if os.Getenv("TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func shared(t testing.TB, base string) Server {
	t.Helper()
	smtpAddr := os.Getenv("TEST_MAILPIT_SMTP")
	if smtpAddr == "" {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("TEST_MAILPIT_URL: %v", err)
		}
		smtpAddr = net.JoinHostPort(u.Hostname(), "1025")
	}
	return Server{URL: base, SMTPAddr: smtpAddr}
}

// forward listens on 127.0.0.1, on a port of the system's choosing, until t ends, and
// forwards each connection to the Unix socket at sock; it returns the address. A connection
// made before the socket exists is closed at once.
func forward(t testing.TB, sock string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed when t ended
			}
			go func() {
				defer c.Close()
				m, err := net.Dial("unix", sock)
				if err != nil {
					return
				}
				go func() {
					_, _ = io.Copy(m, c)
					_ = m.Close()
				}()
				_, _ = io.Copy(c, m)
			}()
		}
	}()
	return ln.Addr().String()
}

// listeningAddr waits until the process pid listens on a TCP port, and returns that
// address. It reads Linux's /proc: the sockets the process holds, and the kernel's table of
// TCP sockets for their addresses.
func listeningAddr(t testing.TB, pid int) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		addr, err := tcpListener(pid)
		if err != nil {
			t.Fatalf("mailpit's HTTP address: %v", err)
		}
		if addr != "" {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("mailpit did not listen on TCP within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tcpListener returns the address of the (first) listening IPv4 TCP socket of process pid,
// or "" when it has none yet.
func tcpListener(pid int) (string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return "", err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	table, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return "", err
	}
	// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		_, portHex, _ := strings.Cut(f[1], ":")
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return "", fmt.Errorf("/proc/%d/net/tcp: %q: %w", pid, line, err)
		}
		return net.JoinHostPort("127.0.0.1", strconv.FormatUint(port, 10)), nil
	}
	return "", nil
}

func waitUp(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/v1/messages")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("mailpit at %s did not come up", base)
}

// Message is the part of a Mailpit message that tests read.
type Message struct {
	ID        string
	MessageID string
	Subject   string
	Text      string
	HTML      string
	From      struct{ Address string }
	To        []struct{ Address string }
}

// Messages returns every message Mailpit holds for the address to, newest first.
func Messages(ctx context.Context, base, to string) ([]Message, error) {
	var list struct {
		Messages []struct{ ID string }
	}
	q := url.Values{"query": {"to:" + to}}
	if err := getJSON(ctx, base+"/api/v1/search?"+q.Encode(), &list); err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(list.Messages))
	for _, m := range list.Messages {
		var msg Message
		if err := getJSON(ctx, base+"/api/v1/message/"+url.PathEscape(m.ID), &msg); err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, nil
}

// standaloneCode matches a 4-digit number that is not part of a longer one.
var standaloneCode = regexp.MustCompile(`(?:^|\D)(\d{4})(?:\D|$)`)

// WaitForCode polls Mailpit until it holds n messages for to and returns the activation code
// of the newest one: the only standalone 4-digit number of its text part.
func WaitForCode(t testing.TB, base, to string, n int, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		msgs, err := Messages(ctx, base, to)
		if err == nil && len(msgs) >= n {
			found := standaloneCode.FindAllStringSubmatch(msgs[0].Text, -1)
			if len(found) != 1 {
				t.Fatalf("email to %s holds %d standalone 4-digit numbers, want 1:\n%s", to, len(found), msgs[0].Text)
			}
			return found[0][1]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no email #%d for %s in Mailpit within %s (last error: %v)", n, to, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
