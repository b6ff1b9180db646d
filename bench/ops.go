package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchPassword is every account's password: the hash cost does not depend on it.
const benchPassword = "correct horse battery staple"

// account is one registered user.
type account struct {
	email string
	auth  string // Authorization header value
	// codeTo and codeSeq: the account waits for a code (a reset's, or an address change's)
	// to codeTo, as the email with a code after the codeSeq-th one sent there.
	codeTo  string
	codeSeq int
}

// userPool holds the accounts registered so far: pending ones wait to be activated, active
// ones are who GET /v1/users/me asks as.
type userPool struct {
	mu      sync.Mutex
	pending []*account
	active  []*account
	// resetting wait for a reset code, moving for the code of an address change.
	resetting []*account
	moving    []*account
	next      atomic.Uint64
}

func newUserPool() *userPool { return &userPool{} }

func (p *userPool) addPending(a *account) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, a)
}

func (p *userPool) addActive(a *account) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active = append(p.active, a)
}

// takePending removes and returns the oldest pending account whose code has arrived.
func (p *userPool) takePending(code func(string) (string, bool)) (*account, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range p.pending[:min(len(p.pending), 64)] {
		if c, ok := code(a.email); ok {
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			return a, c, true
		}
	}
	return nil, "", false
}

func (p *userPool) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// readyCount counts the pending accounts whose code has arrived.
func (p *userPool) readyCount(code func(string) (string, bool)) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.pending {
		if _, ok := code(a.email); ok {
			n++
		}
	}
	return n
}

func (p *userPool) pendingEmails() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.pending))
	for i, a := range p.pending {
		out[i] = a.email
	}
	return out
}

// someone returns an account to authenticate as, active ones first, in turn.
func (p *userPool) someone() *account {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := p.active
	if len(from) == 0 {
		from = p.pending
	}
	if len(from) == 0 {
		return nil
	}
	return from[p.next.Add(1)%uint64(len(from))]
}

func basicAuth(email string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+benchPassword))
}

// registerOp registers a fresh address; a 201 adds the account to users as pending.
func (b *bench) registerOp(srv *server, users *userPool) func(context.Context, *client) attempt {
	return func(ctx context.Context, cl *client) attempt {
		email := b.newEmail(srv)
		body, _ := json.Marshal(map[string]string{"email": email, "password": benchPassword})
		a := cl.do(ctx, http.MethodPost, srv.url+"/v1/users", "", body, http.StatusCreated)
		if a.ok {
			b.provider.expect(email)
			users.addPending(&account{email: email, auth: basicAuth(email)})
		}
		return a
	}
}

// activateOp activates the oldest pending account with the code the fake provider received;
// a 200 makes it active, a request the server turned away puts it back.
func (b *bench) activateOp(srv *server, users *userPool) func(context.Context, *client) attempt {
	return func(ctx context.Context, cl *client) attempt {
		acct, code, ok := users.takePending(b.provider.code)
		if !ok {
			return attempt{idle: true}
		}
		a := cl.do(ctx, http.MethodPost, srv.url+"/v1/users/me/activate", acct.auth,
			[]byte(`{"code":"`+code+`"}`), http.StatusOK)
		switch {
		case a.ok:
			users.addActive(acct)
		case a.status == http.StatusServiceUnavailable || a.status == http.StatusTooManyRequests:
			// Turned away before anything happened: the account is still pending. One whose
			// request got no answer may have been activated, and is dropped.
			users.addPending(acct)
		}
		return a
	}
}

// meOp asks GET /v1/users/me as one of the accounts, in turn.
func (b *bench) meOp(srv *server, users *userPool) func(context.Context, *client) attempt {
	return func(ctx context.Context, cl *client) attempt {
		acct := users.someone()
		if acct == nil {
			return attempt{idle: true}
		}
		return cl.do(ctx, http.MethodGet, srv.url+"/v1/users/me", acct.auth, nil, http.StatusOK)
	}
}

// do sends one request and reads the whole answer, so that the connection is reused.
func (c *client) do(ctx context.Context, method, url, auth string, body []byte, want int) attempt {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return attempt{err: "connection"}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return failure(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return failure(err)
	}
	a := attempt{status: resp.StatusCode, ok: resp.StatusCode == want}
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err == nil && secs >= 0 {
			a.retryAfter = time.Duration(secs) * time.Second
		} else {
			a.err = "no Retry-After"
		}
	}
	return a
}
