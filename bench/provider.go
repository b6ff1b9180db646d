package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fakeProvider is the email provider regapi sends to during the benchmark: it speaks
// Mailpit's send API (POST /api/v1/send → 200 {"ID": "..."}), answers at once, and records
// for each recipient the code in the email and when the email was accepted. With a Mailpit
// URL it also forwards every email there and answers with Mailpit's answer.
type fakeProvider struct {
	url     string // where it listens, set once serving
	forward string
	client  *http.Client

	mu       sync.Mutex
	codes    map[string]string    // recipient → latest code
	codeSeq  map[string]int       // recipient → emails with a code accepted so far
	notices  int                  // emails without a code accepted (password or address changed)
	accepted map[string]time.Time // recipient → first acceptance
	expected map[string]time.Time // recipient → when its 201 arrived
	keys     map[string]bool      // idempotency keys seen
	repeats  int                  // requests repeating a key
	times    []time.Time          // every acceptance, in order
	arrived  chan struct{}        // signalled on every acceptance

	delay atomic.Int64 // nanoseconds each answer waits: a provider's latency
}

// setDelay makes every answer from now on wait d, as a provider with that latency would.
func (p *fakeProvider) setDelay(d time.Duration) { p.delay.Store(int64(d)) }

func newFakeProvider(forward string) *fakeProvider {
	return &fakeProvider{
		forward:  strings.TrimRight(forward, "/"),
		client:   &http.Client{Timeout: 10 * time.Second},
		codes:    map[string]string{},
		codeSeq:  map[string]int{},
		accepted: map[string]time.Time{},
		expected: map[string]time.Time{},
		keys:     map[string]bool{},
		arrived:  make(chan struct{}, 1),
	}
}

// codePattern finds the code: the email's only standalone 4-digit number. A notice (password
// or address changed) has none.
var codePattern = regexp.MustCompile(`(?:^|[^0-9])([0-9]{4})(?:[^0-9]|$)`)

func (p *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/send" {
		http.Error(w, `{"Error":"not found"}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var msg struct {
		To   []struct{ Email string }
		Text string
	}
	if err != nil || json.Unmarshal(body, &msg) != nil || len(msg.To) != 1 {
		http.Error(w, `{"Error":"malformed request"}`, http.StatusBadRequest)
		return
	}
	code := ""
	if m := codePattern.FindStringSubmatch(msg.Text); m != nil {
		code = m[1]
	}
	if d := time.Duration(p.delay.Load()); d > 0 {
		sleep(r.Context(), d)
	}
	status, answer := http.StatusOK, []byte(`{"ID":"bench"}`)
	if p.forward != "" {
		if status, answer, err = p.forwardTo(r, body); err != nil {
			http.Error(w, `{"Error":"forward to mailpit failed"}`, http.StatusBadGateway)
			return
		}
	}
	if status == http.StatusOK {
		p.accept(strings.ToLower(msg.To[0].Email), code, r.Header.Get("Idempotency-Key"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (p *fakeProvider) forwardTo(r *http.Request, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.forward+"/api/v1/send", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.Header.Get("Idempotency-Key"))
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, answer, err
}

func (p *fakeProvider) accept(to, code, key string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys[key] {
		p.repeats++
	}
	p.keys[key] = true
	p.times = append(p.times, now)
	if code == "" {
		p.notices++
	} else {
		p.codes[to] = code
		p.codeSeq[to]++
	}
	if _, ok := p.accepted[to]; !ok {
		p.accepted[to] = now
	}
	select {
	case p.arrived <- struct{}{}:
	default:
	}
}

// acceptedBetween counts the emails accepted between from and to.
func (p *fakeProvider) acceptedBetween(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, t := range p.times {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return n
}

// expect notes that a registration of to was answered 201 now.
func (p *fakeProvider) expect(to string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected[to] = now
}

// code returns the latest code sent to an address.
func (p *fakeProvider) code(to string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.codes[to]
	return c, ok
}

// latestCode returns the latest code sent to an address and how many emails with a code it
// was sent so far: an operation that asked for a new code waits until the count grows.
func (p *fakeProvider) latestCode(to string) (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.codes[to], p.codeSeq[to]
}

// delivery returns when the 201 for to arrived and when its email was accepted.
func (p *fakeProvider) delivery(to string) (answered, accepted time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	accepted, ok = p.accepted[to]
	return p.expected[to], accepted, ok
}

// acceptedCount counts the addresses in to that an email was accepted for.
func (p *fakeProvider) acceptedCount(to []string) int { return len(to) - p.missing(to) }

// missing counts the addresses in to that no email was accepted for yet.
func (p *fakeProvider) missing(to []string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, addr := range to {
		if _, ok := p.accepted[addr]; !ok {
			n++
		}
	}
	return n
}

// waitFor waits until an email to every address in to was accepted, or limit passes.
func (p *fakeProvider) waitFor(ctx context.Context, to []string, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		missing := p.missing(to)
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%d of %d emails not delivered within %s", missing, len(to), limit)
		case <-p.arrived:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serveLocal serves h on a free port of 127.0.0.1 and returns its base URL and a stop function.
func serveLocal(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), func() { _ = srv.Close() }, nil
}
