package mail_test

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/mail/mailpittest"
	"github.com/regapi/regapi/internal/registration"
)

// realMailpit returns the base URL of a real Mailpit: one started from the mailpit binary on
// PATH, with --ignore-duplicate-ids so that Message-ID deduplication can be checked, unless
// TEST_MAILPIT_URL names a shared instance. Otherwise mailpittest decides: it skips t loudly,
// or fails it when TEST_REQUIRE_SERVICES=1.
func realMailpit(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mailpit")
	if os.Getenv("TEST_MAILPIT_URL") != "" || err != nil {
		return mailpittest.URL(t)
	}
	httpAddr, smtpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin,
		"--listen", httpAddr, "--smtp", smtpAddr,
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check", "--ignore-duplicate-ids", "--quiet")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + httpAddr
	waitReady(t, base+"/readyz")
	return base
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("mailpit did not become ready at %s", url)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// uniqueRecipient keeps tests apart in a Mailpit shared with other tests.
func uniqueRecipient() string {
	return "mail-test-" + strings.ToLower(rand.Text()) + "@example.com"
}

func TestMailpitRealServer(t *testing.T) {
	t.Parallel()
	base := realMailpit(t)
	e := registration.ActivationEmail{To: uniqueRecipient(), Code: "0815", ValidFor: time.Minute}
	m, err := mail.RenderActivation("regapi <no-reply@regapi.local>", e)
	if err != nil {
		t.Fatalf("RenderActivation: %v", err)
	}
	p := mail.NewMailpitProvider(base, nil)
	// A retry carries the same idempotency key and Message-ID.
	for attempt := range 2 {
		if err := p.Send(t.Context(), m, "outbox-"+e.To); err != nil {
			t.Fatalf("Send attempt %d: %v", attempt+1, err)
		}
	}

	got, err := mailpittest.Messages(t.Context(), base, e.To)
	if err != nil || len(got) == 0 {
		t.Fatalf("reading the email back: %d messages, %v", len(got), err)
	}
	var ui struct{ DuplicatesIgnored bool }
	getJSON(t, base+"/api/v1/webui", &ui)
	if ui.DuplicatesIgnored && len(got) != 1 {
		t.Errorf("Mailpit ignores duplicate Message-IDs but stored the retried email %d times", len(got))
	}
	msg := got[0]
	if len(msg.To) != 1 || msg.To[0].Address != e.To {
		t.Errorf("To = %+v, want %s", msg.To, e.To)
	}
	if msg.From.Address != "no-reply@regapi.local" || msg.Subject != mail.ActivationSubject {
		t.Errorf("From = %+v, Subject = %q", msg.From, msg.Subject)
	}
	if nums := fourDigitNumbers(msg.Text); len(nums) != 1 || nums[0] != e.Code {
		t.Errorf("4-digit numbers in delivered text = %q, want [%s]:\n%s", nums, e.Code, msg.Text)
	}
	if !strings.Contains(msg.HTML, e.Code) {
		t.Errorf("delivered HTML lacks the code:\n%s", msg.HTML)
	}
}

func TestMailpitRealServerRejectsBadAddress(t *testing.T) {
	t.Parallel()
	base := realMailpit(t)
	m := testMessage
	m.To = "not an address"
	err := mail.NewMailpitProvider(base, nil).Send(t.Context(), m, "outbox-bad-address")
	if !mail.IsPermanent(err) {
		t.Fatalf("Send() = %v, want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "invalid To address") {
		t.Errorf("error %q does not carry Mailpit's message", err)
	}
}
