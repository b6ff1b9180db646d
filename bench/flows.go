package main

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The flows after sign-up, as scenarios of the endpoint runs (-scenarios):
//
//	reset         POST /v1/password-resets, a known and an unknown address in turn, each
//	              reported on its own ("reset known", "reset unknown")
//	reset-confirm POST /v1/password-resets/confirm with the code the email carried
//	email-change  POST /v1/users/me/email ("email change"), then at the same concurrency
//	              POST /v1/users/me/email/confirm ("email confirm")
const (
	classResetKnown   = "reset known"
	classResetUnknown = "reset unknown"
)

// flowScenarios are the scenarios that need codes of the flows after sign-up.
var flowScenarios = []string{"reset", "reset-confirm", "email-change"}

// flowsEnv is what the flows' servers add to their settings: no cooldown between two codes
// and the largest daily quota, so that every reset request for a known address issues a code
// and queues its email (the dearest path, and the one an enumeration probe compares with),
// however often the run comes back to one address.
func flowsEnv() map[string]string {
	return map[string]string{"RESEND_COOLDOWN": "0s", "MAX_CODES_PER_DAY": "1000"}
}

// wantsFlows reports whether the run measures one of the flows after sign-up.
func (o options) wantsFlows() bool {
	for _, s := range flowScenarios {
		if o.scenarios[s] {
			return true
		}
	}
	return false
}

// takeActive removes and returns an active account, the most recently added first.
func (p *userPool) takeActive() *account {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.active) == 0 {
		return nil
	}
	a := p.active[len(p.active)-1]
	p.active = p.active[:len(p.active)-1]
	return a
}

func (p *userPool) activeCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.active)
}

// addWaiting puts a on the list of accounts waiting for a code (a reset's, or an address
// change's), which it awaits as the codeSeq-th email with a code to codeTo.
func (p *userPool) addWaiting(list *[]*account, a *account) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*list = append(*list, a)
}

// takeWaiting removes and returns the oldest account of list whose code has arrived, with the
// code.
func (p *userPool) takeWaiting(list *[]*account, latest func(string) (string, int)) (*account, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range (*list)[:min(len(*list), 64)] {
		if code, n := latest(a.codeTo); n > a.codeSeq {
			*list = append((*list)[:i], (*list)[i+1:]...)
			return a, code, true
		}
	}
	return nil, "", false
}

// readyWaiting counts the accounts of list whose code has arrived.
func (p *userPool) readyWaiting(list *[]*account, latest func(string) (string, int)) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range *list {
		if _, seq := latest(a.codeTo); seq > a.codeSeq {
			n++
		}
	}
	return n
}

// resetOp asks for a password reset, for a known address (an account of users, in turn) and
// for an unknown one (a fresh address shaped like the known ones) alternately, so that the
// two kinds share the concurrency and whatever disturbs the machine; each attempt is filed
// under its kind.
func (b *bench) resetOp(srv *server, users *userPool) func(context.Context, *client) attempt {
	var n atomic.Uint64
	return func(ctx context.Context, cl *client) attempt {
		class, email := classResetUnknown, b.newEmail(srv)
		if n.Add(1)%2 == 0 {
			acct := users.someone()
			if acct == nil {
				return attempt{idle: true}
			}
			class, email = classResetKnown, acct.email
		}
		body, _ := json.Marshal(map[string]string{"email": email})
		a := cl.do(ctx, http.MethodPost, srv.url+"/v1/password-resets", "", body, http.StatusAccepted)
		a.class = class
		return a
	}
}

// requestReset asks for a reset of acct's password (not measured) and, on 202, puts it on
// users.resetting to wait for the code.
func (b *bench) requestReset(ctx context.Context, srv *server, cl *client, users *userPool, acct *account) attempt {
	_, seq := b.provider.latestCode(acct.email)
	body, _ := json.Marshal(map[string]string{"email": acct.email})
	a := cl.do(ctx, http.MethodPost, srv.url+"/v1/password-resets", "", body, http.StatusAccepted)
	if a.ok {
		acct.codeTo, acct.codeSeq = acct.email, seq
		users.addWaiting(&users.resetting, acct)
	} else {
		users.addActive(acct)
	}
	return a
}

// resetConfirmOp sets a password with the reset code an account received (the same password:
// the cost does not depend on it); a 200 makes it active (again).
func (b *bench) resetConfirmOp(srv *server, users *userPool) func(context.Context, *client) attempt {
	return func(ctx context.Context, cl *client) attempt {
		acct, code, ok := users.takeWaiting(&users.resetting, b.provider.latestCode)
		if !ok {
			return attempt{idle: true}
		}
		body, _ := json.Marshal(map[string]string{"email": acct.email, "code": code, "password": benchPassword})
		a := cl.do(ctx, http.MethodPost, srv.url+"/v1/password-resets/confirm", "", body, http.StatusOK)
		switch {
		case a.ok:
			users.addActive(acct)
		case a.status == http.StatusServiceUnavailable || a.status == http.StatusTooManyRequests:
			users.addWaiting(&users.resetting, acct)
		}
		return a
	}
}

// emailChangeOp asks to move an active account to a fresh address; on 202 the account waits
// for the code at the new address, otherwise it stays as it was.
func (b *bench) emailChangeOp(srv *server, users *userPool) func(context.Context, *client) attempt {
	return func(ctx context.Context, cl *client) attempt {
		acct := users.takeActive()
		if acct == nil {
			return attempt{idle: true}
		}
		to := b.newEmail(srv)
		body, _ := json.Marshal(map[string]string{"email": to})
		a := cl.do(ctx, http.MethodPost, srv.url+"/v1/users/me/email", acct.auth, body, http.StatusAccepted)
		if a.ok {
			acct.codeTo, acct.codeSeq = to, 0
			users.addWaiting(&users.moving, acct)
		} else {
			users.addActive(acct)
		}
		return a
	}
}

// emailConfirmOp confirms an account's new address with the code sent there; on 200 the
// account signs in with the new address from now on.
func (b *bench) emailConfirmOp(srv *server, users *userPool) func(context.Context, *client) attempt {
	return func(ctx context.Context, cl *client) attempt {
		acct, code, ok := users.takeWaiting(&users.moving, b.provider.latestCode)
		if !ok {
			return attempt{idle: true}
		}
		a := cl.do(ctx, http.MethodPost, srv.url+"/v1/users/me/email/confirm", acct.auth,
			[]byte(`{"code":"`+code+`"}`), http.StatusOK)
		switch {
		case a.ok:
			acct.email, acct.auth = acct.codeTo, basicAuth(acct.codeTo)
			users.addActive(acct)
		case a.status == http.StatusServiceUnavailable || a.status == http.StatusTooManyRequests:
			users.addWaiting(&users.moving, acct)
		case a.status != 0:
			users.addActive(acct) // still at its old address
		}
		return a
	}
}

// flowNeed is how many accounts one point of a flow may use up: what the fastest hash-bound
// point managed over a warm-up and a window, with a margin.
func (e *endpointRuns) flowNeed() int {
	rate := e.fastest
	if rate == 0 {
		rate = 100 // nothing measured yet: a guess that the top-ups correct
		if e.name == "cheap" {
			rate = 2000
		}
	}
	return int(rate*(e.b.p.warmup+e.b.p.window).Seconds()*1.25) + 64
}

// topUpActive makes sure that users holds at least n active accounts, registering and
// activating more (not measured) when not.
func (b *bench) topUpActive(ctx context.Context, srv *server, users *userPool, n int) {
	missing := n - users.activeCount()
	if missing <= 0 {
		return
	}
	b.topUp(ctx, srv, users, missing)
	b.logf("activating %d more accounts for the runs after sign-up", missing)
	cl := newClient(16)
	defer cl.close()
	closedLoop(ctx, 4*runtime.NumCPU(), time.Now(), time.Now().Add(5*time.Minute), missing, func(ctx context.Context) attempt {
		return b.activateOp(srv, users)(ctx, cl)
	})
}

// topUpWaiting makes sure that at least n accounts of list have their code (a minute at most),
// moving active accounts onto it with ask (not measured) when not.
func (b *bench) topUpWaiting(ctx context.Context, srv *server, users *userPool, list *[]*account, n int,
	ask func(context.Context, *client) attempt) {
	// The emails still queued from the points before would hold the new codes back.
	b.waitOutboxDrained(ctx, srv, 2*time.Minute)
	if missing := n - users.readyWaiting(list, b.provider.latestCode); missing > 0 {
		b.topUpActive(ctx, srv, users, missing)
		b.logf("asking for %d more codes for the runs after sign-up", missing)
		cl := newClient(16)
		closedLoop(ctx, 4*runtime.NumCPU(), time.Now(), time.Now().Add(5*time.Minute), missing, func(ctx context.Context) attempt {
			return ask(ctx, cl)
		})
		cl.close()
	}
	deadline := time.Now().Add(time.Minute)
	for users.readyWaiting(list, b.provider.latestCode) < n && ctx.Err() == nil {
		if time.Now().After(deadline) {
			b.logf("top-up: only %d of %d codes arrived within a minute; going on", users.readyWaiting(list, b.provider.latestCode), n)
			return
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// flows measures the selected flows after sign-up at every concurrency of the plan.
func (e *endpointRuns) flows(ctx context.Context) {
	b, srv, users := e.b, e.srv, e.users
	if b.o.scenarios["reset"] {
		// Known addresses in turn: 256 of them keep each under the daily quota of codes.
		prepare := func() { b.topUpActive(ctx, srv, users, 256) }
		for _, c := range b.p.concurrency {
			e.measure(ctx, "reset", c, b.resetOp(srv, users), prepare)
		}
	}
	if b.o.scenarios["reset-confirm"] {
		ask := func(ctx context.Context, cl *client) attempt {
			acct := users.takeActive()
			if acct == nil {
				return attempt{idle: true}
			}
			return b.requestReset(ctx, srv, cl, users, acct)
		}
		prepare := func() { b.topUpWaiting(ctx, srv, users, &users.resetting, e.flowNeed(), ask) }
		for _, c := range b.p.concurrency {
			e.measure(ctx, "reset-confirm", c, b.resetConfirmOp(srv, users), prepare)
		}
	}
	if b.o.scenarios["email-change"] {
		for _, c := range b.p.concurrency {
			e.measure(ctx, "email change", c, b.emailChangeOp(srv, users), func() { b.topUpActive(ctx, srv, users, e.flowNeed()) })
			e.measure(ctx, "email confirm", c, b.emailConfirmOp(srv, users), func() {
				b.topUpWaiting(ctx, srv, users, &users.moving, e.flowNeed(), b.emailChangeOp(srv, users))
			})
		}
	}
}

// pendingMessages counts the outbox rows not yet sent nor dead (emails and events), or -1
// when it cannot tell.
func pendingMessages(ctx context.Context, databaseURL string) int {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return -1
	}
	defer conn.Close(context.Background())
	var n int
	if conn.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE status = 'pending'").Scan(&n) != nil {
		return -1
	}
	return n
}

// waitOutboxDrained waits until srv's outbox holds nothing pending, limit at most.
func (b *bench) waitOutboxDrained(ctx context.Context, srv *server, limit time.Duration) {
	start := time.Now()
	for ctx.Err() == nil {
		n := pendingMessages(ctx, srv.databaseURL)
		if n <= 0 {
			if time.Since(start) > time.Second {
				b.logf("outbox drained in %.1f s", time.Since(start).Seconds())
			}
			return
		}
		if time.Since(start) > limit {
			b.logf("outbox: %d messages still pending after %s; going on", n, limit)
			return
		}
		sleep(ctx, 200*time.Millisecond)
	}
}
