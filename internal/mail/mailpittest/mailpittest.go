// Package mailpittest gives tests a real Mailpit and reads emails back through its API.
package mailpittest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
// started on free ports and stopped when t ends. A started one ignores duplicate Message-IDs,
// as a provider that honours idempotency keys would. Without either it skips t loudly, or
// fails it when TEST_REQUIRE_SERVICES=1; with options, a shared instance but no binary skips
// t (the shared instance's flags are not the test's to set).
func Start(t testing.TB, opts ...Option) Server {
	t.Helper()
	if u := os.Getenv("TEST_MAILPIT_URL"); u != "" && len(opts) == 0 {
		return shared(t, u)
	}
	bin, err := exec.LookPath("mailpit")
	if err != nil && os.Getenv("TEST_MAILPIT_URL") != "" {
		// The shared instance is there, but its flags are not the test's to set.
		t.Skip("MAILPIT BINARY NOT AVAILABLE: SMTP AUTH or TLS needs a mailpit on PATH " +
			"(go install github.com/axllent/mailpit@v1.27.11); TEST_MAILPIT_URL cannot take them")
	}
	if err != nil {
		msg := "MAILPIT NOT AVAILABLE: no TEST_MAILPIT_URL and no mailpit on PATH " +
			"(go install github.com/axllent/mailpit@v1.27.11)"
		if os.Getenv("TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	httpAddr, smtpAddr := freeAddr(t), freeAddr(t)
	args := []string{"--listen", httpAddr, "--smtp", smtpAddr, "--disable-version-check", "--ignore-duplicate-ids", "--quiet"}
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
	base := "http://" + httpAddr
	waitUp(t, base)
	return Server{URL: base, SMTPAddr: smtpAddr}
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

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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
