package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// fakeProvider plays a misbehaving email provider behind Mailpit's send API. behave decides,
// from the idempotency key and the attempt number for that key, what to answer.
type fakeProvider struct {
	*httptest.Server
	behave func(key string, attempt int, r *http.Request) int

	mu       sync.Mutex
	attempts map[string]int      // idempotency key → requests seen
	keysOf   map[string][]string // recipient → distinct idempotency keys, first seen first
	accepted map[string]string   // idempotency key → text of the accepted email
	received chan string         // idempotency key of every request, as it arrives
}

func newFakeProvider(t *testing.T, behave func(key string, attempt int, r *http.Request) int) *fakeProvider {
	f := &fakeProvider{
		behave:   behave,
		attempts: map[string]int{},
		keysOf:   map[string][]string{},
		accepted: map[string]string{},
		received: make(chan string, 1000),
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		To   []struct{ Email string }
		Text string
	}
	key := r.Header.Get("Idempotency-Key")
	if r.URL.Path != "/api/v1/send" || key == "" || json.NewDecoder(r.Body).Decode(&body) != nil || len(body.To) != 1 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.attempts[key]++
	attempt := f.attempts[key]
	if attempt == 1 {
		f.keysOf[body.To[0].Email] = append(f.keysOf[body.To[0].Email], key)
	}
	f.mu.Unlock()
	f.received <- key

	status := f.behave(key, attempt, r)
	if status < 200 || status > 299 {
		http.Error(w, "provider trouble", status)
		return
	}
	f.mu.Lock()
	if _, dup := f.accepted[key]; dup {
		f.accepted[key+" DUPLICATE"] = body.Text
	}
	f.accepted[key] = body.Text
	f.mu.Unlock()
	if status != http.StatusOK {
		// Any 2xx is an acceptance, even with a body that is not Mailpit's answer.
		http.Error(w, "accepted, in some other shape", status)
		return
	}
	fmt.Fprintf(w, `{"ID":%q}`, key)
}

// hang holds a request until its sender gives up, as a provider that stopped answering.
func hang(r *http.Request) int {
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
	return http.StatusGatewayTimeout
}

// codeOf returns the code of the n-th email (from 0) accepted for to, or "".
func (f *fakeProvider) codeOf(to string, n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if keys := f.keysOf[to]; n < len(keys) {
		return codeInText.FindString(f.accepted[keys[n]])
	}
	return ""
}

// waitAccepted waits until the provider accepted n distinct emails.
func (f *fakeProvider) waitAccepted(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		got := len(f.accepted)
		f.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("provider accepted fewer than %d emails within %s", n, timeout)
}

var codeInText = regexp.MustCompile(`\b\d{4}\b`)

func TestEveryEmailArrivesThroughProviderFaults(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	// Each email is refused with a 500, then its sender times out, then it is accepted.
	f := newFakeProvider(t, func(_ string, attempt int, r *http.Request) int {
		switch attempt {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return hang(r)
		}
		return http.StatusOK
	})
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["MAIL_SEND_TIMEOUT"] = "mailpit", f.URL, "300ms"
	a := startApp(t, env)

	const users = 5
	for i := range users {
		a.register(t, fmt.Sprintf("user%d@example.com", i), "password-1234").want(t, http.StatusCreated, "")
	}
	f.waitAccepted(t, users, 30*time.Second)

	f.mu.Lock()
	if len(f.accepted) != users {
		t.Fatalf("accepted %d emails (duplicates?), want %d", len(f.accepted), users)
	}
	for to, keys := range f.keysOf {
		if len(keys) != 1 {
			t.Fatalf("%s: attempts for one email used %d idempotency keys", to, len(keys))
		}
		if f.attempts[keys[0]] != 3 {
			t.Errorf("%s: %d attempts, want 3", to, f.attempts[keys[0]])
		}
	}
	f.mu.Unlock()
	code := f.codeOf("user0@example.com", 0)
	a.activate(t, "user0@example.com", "password-1234", code).want(t, http.StatusOK, "")
}

// buildBinary compiles regapi once for tests that need a real process to kill.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "regapi-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "regapi")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestKilledSenderIsReplacedWithTheSameIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := newHangingFirstAttempt(t)
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["MAIL_SEND_TIMEOUT"] = "mailpit", f.URL, "1s"
	checkKilledSenderIsReplaced(t, env, f)
}

// newHangingFirstAttempt returns a provider whose first attempt at each email never
// answers: its sender is killed while waiting for it. Later attempts are accepted.
func newHangingFirstAttempt(t *testing.T) *fakeProvider {
	return newFakeProvider(t, func(_ string, attempt int, r *http.Request) int {
		if attempt == 1 {
			return hang(r)
		}
		return http.StatusOK
	})
}

// checkKilledSenderIsReplaced registers an account with a serve process on env, kills it
// (SIGKILL) while its first send to f hangs, starts another process, and checks that the
// re-send carries the first attempt's key and that its code activates the account.
func checkKilledSenderIsReplaced(t *testing.T, env map[string]string, f *fakeProvider) {
	t.Helper()
	first := spawn(t, "serve", env)
	a := &app{base: "http://" + first.addr}
	a.register(t, "erin@example.com", "password-1234").want(t, http.StatusCreated, "")

	key := receive(t, f.received, 30*time.Second)
	first.kill(t)

	second := spawn(t, "serve", env)
	if again := receive(t, f.received, 30*time.Second); again != key {
		t.Fatalf("re-send used idempotency key %s, first attempt %s", again, key)
	}
	f.waitAccepted(t, 1, 30*time.Second)
	code := f.codeOf("erin@example.com", 0)
	b := &app{base: "http://" + second.addr}
	b.activate(t, "erin@example.com", "password-1234", code).want(t, http.StatusOK, "")
}

func receive(t *testing.T, ch <-chan string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("nothing received within %s", timeout)
		return ""
	}
}

func TestShutdownCutsOffATricklingClient(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	env := baseEnv(t)
	_, stop := runApp(t, env)
	conn, err := net.Dial("tcp", env["HTTP_ADDR"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A body announced as 100 bytes, of which one arrives: the request stays in flight.
	fmt.Fprint(conn, "POST /v1/users HTTP/1.1\r\nHost: regapi\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("serve stopped %s after cancellation with a request still open", time.Since(start).Round(time.Millisecond))
}
