package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// eventReceiver is where regapi posts account events (EVENTS_WEBHOOK_URL) during the
// benchmark: it checks each Standard Webhooks signature, answers 204 after its latency, and
// records for every webhook-id when the event arrived and when it was answered, so that the
// order per account can be checked against the outbox afterwards.
type eventReceiver struct {
	key   []byte
	delay atomic.Int64 // nanoseconds each answer waits

	mu       sync.Mutex
	seen     map[string]*eventSeen // webhook-id → first delivery
	repeats  int                   // deliveries of an id already accepted
	badSig   int                   // refused: signature or body wrong
	inFlight int
	peak     int // most requests in flight at once
}

// eventSeen is the first delivery of one event.
type eventSeen struct {
	typ               string
	arrived, answered time.Time
}

func newEventReceiver() (*eventReceiver, string) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &eventReceiver{key: key, seen: map[string]*eventSeen{}}, "whsec_" + base64.StdEncoding.EncodeToString(key)
}

func (r *eventReceiver) setDelay(d time.Duration) { r.delay.Store(int64(d)) }

func (r *eventReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	id := req.Header.Get("webhook-id")
	var ev struct{ Type string }
	if err != nil || id == "" || !r.signed(id, req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body) ||
		json.Unmarshal(body, &ev) != nil || ev.Type == "" {
		r.mu.Lock()
		r.badSig++
		r.mu.Unlock()
		http.Error(w, "bad signature or body", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.inFlight++
	r.peak = max(r.peak, r.inFlight)
	r.mu.Unlock()
	if d := time.Duration(r.delay.Load()); d > 0 {
		sleep(req.Context(), d)
	}
	answered := time.Now()
	r.mu.Lock()
	r.inFlight--
	if _, ok := r.seen[id]; ok {
		r.repeats++
	} else {
		r.seen[id] = &eventSeen{typ: ev.Type, arrived: arrived, answered: answered}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// signed checks a Standard Webhooks signature: one of the space-separated "v1,<base64>" is
// the HMAC-SHA256 of id.timestamp.body under the key.
func (r *eventReceiver) signed(id, timestamp, signatures string, body []byte) bool {
	if _, err := strconv.ParseInt(timestamp, 10, 64); err != nil {
		return false
	}
	mac := hmac.New(sha256.New, r.key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(signatures) {
		if v, ok := strings.CutPrefix(s, "v1,"); ok {
			if got, err := base64.StdEncoding.DecodeString(v); err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

func (r *eventReceiver) first(id string) (eventSeen, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.seen[id]
	if !ok {
		return eventSeen{}, false
	}
	return *s, true
}

func (r *eventReceiver) counts() (repeats, badSig, peak int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.repeats, r.badSig, r.peak
}

func (r *eventReceiver) resetPeak() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peak = r.inFlight
}

// eventResult is one run of the events pipeline.
type eventResult struct {
	Name string `json:"name"` // "steady", "ordered" or "one per account"
	// Chain is the events each account made (slow-receiver runs).
	Chain int `json:"events_per_account,omitempty"`
	// ReceiverDelayMS is how long the receiver took to answer each event.
	ReceiverDelayMS float64 `json:"receiver_delay_ms"`
	SendSlots       int     `json:"send_slots"` // MAIL_CONCURRENCY
	OfferedRate     float64 `json:"offered_per_second,omitempty"`
	Accounts        int     `json:"accounts"`
	Events          int     `json:"events"` // committed for these accounts
	Delivered       int     `json:"delivered"`
	// DeliveredPerSecond is the pace of first deliveries, from the first arrival to the last
	// answer.
	DeliveredPerSecond float64 `json:"delivered_per_second"`
	// SlotBound is SendSlots over the receiver's latency: the most a dispatcher can deliver.
	SlotBound float64 `json:"slot_bound_per_second,omitempty"`
	// MiddlePerSecond is the pace of the middle 80 % of first deliveries (by arrival): the
	// pace while a backlog is there, without the ramp at the start and the tail at the end,
	// where fewer accounts than slots have an event left.
	MiddlePerSecond float64 `json:"middle_delivered_per_second,omitempty"`
	// MeanInFlight is the events in flight at the receiver on average over that span (the
	// time they were held, summed, over the span), PeakInFlight the most at once.
	MeanInFlight float64 `json:"mean_in_flight"`
	PeakInFlight int     `json:"peak_in_flight"`
	// CommitToAcceptedMS is read from the outbox: sent_at minus created_at.
	CommitToAcceptedMS percentiles `json:"commit_to_accepted_ms"`
	// OutOfOrder counts events that arrived before an earlier event of their account (by the
	// outbox's order) had been answered; WrongSequence the accounts whose events arrived in
	// another order of types than they were made.
	OutOfOrder    int     `json:"out_of_order"`
	WrongSequence int     `json:"wrong_sequence,omitempty"`
	Repeats       int     `json:"repeats"`
	BadSignatures int     `json:"bad_signatures"`
	ServerCores   float64 `json:"server_cpu_cores"`
	DBCores       float64 `json:"postgres_cpu_cores"`
	Note          string  `json:"note,omitempty"`
}

// eventsPipeline measures account events against one regapi (cheapest hash) whose
// EVENTS_WEBHOOK_URL is a receiver of the benchmark's: commit → accepted at the email
// pipeline's steady registration rate with a receiver that answers at once; then, with a
// receiver that takes eventDelay, accounts that each make three events (registered,
// activated, password changed) as fast as they can, to check the order per account and the
// pace the send slots allow.
func (b *bench) eventsPipeline(ctx context.Context) ([]eventResult, error) {
	recv, secret := newEventReceiver()
	url, stopRecv, err := serveLocal(recv)
	if err != nil {
		return nil, fmt.Errorf("event receiver: %w", err)
	}
	defer stopRecv()
	env := cheapHash.env()
	env["EVENTS_WEBHOOK_URL"], env["EVENTS_WEBHOOK_SECRET"] = url, secret
	srv, err := b.startServer(ctx, "events", env)
	if err != nil {
		return nil, err
	}
	defer srv.stop(b)
	slots := 16
	if v, err := strconv.Atoi(b.o.serverEnv["MAIL_CONCURRENCY"]); err == nil {
		slots = v
	}

	b.logf("events: %.0f registrations/s for %s, receiver answering at once", b.p.steadyRate, b.p.steadyFor)
	users := newUserPool()
	cl := newClient(256)
	start := time.Now()
	watch := watchProcess(ctx, srv.pid(), start, start.Add(b.p.steadyFor), nil)
	rec := openLoop(ctx, b.p.steadyRate, b.p.steadyFor, 1024, func(ctx context.Context) attempt {
		return b.registerOp(srv, users)(ctx, cl)
	})
	cl.close()
	b.waitOutboxDrained(ctx, srv, time.Minute)
	steady := eventResult{Name: "steady", SendSlots: slots, OfferedRate: b.p.steadyRate}
	if err := b.eventFigures(ctx, srv, recv, users.pendingEmails(), <-watch, &steady); err != nil {
		return nil, err
	}
	if len(rec.okLat) == 0 {
		steady.Note = fmt.Sprintf("no registration succeeded: %v", rec.statuses)
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	recv.setDelay(b.p.eventDelay)
	recv.resetPeak()
	chain := b.o.eventChain
	b.logf("events: %d accounts × %d events (register, activate, change the password), receiver answering in %s",
		b.p.eventAccounts, chain, b.p.eventDelay)
	users = newUserPool()
	cl = newClient(64)
	stop := make(chan struct{})
	watch = watchUntil(srv.pid(), time.Now(), stop, nil)
	made := closedLoop(ctx, 64, time.Now(), time.Now().Add(time.Hour), b.p.eventAccounts, func(ctx context.Context) attempt {
		return b.threeEventsOp(srv, users, chain)(ctx, cl)
	})
	cl.close()
	// The slots deliver SendSlots ÷ delay events a second at most: wait twice that, and a minute.
	limit := time.Duration(float64(chain*b.p.eventAccounts)/(float64(slots)/b.p.eventDelay.Seconds())*2)*time.Second + time.Minute
	b.waitOutboxDrained(ctx, srv, limit)
	close(stop)
	name := "ordered"
	if chain == 1 {
		name = "one per account"
	}
	ordered := eventResult{Name: name, Chain: chain, SendSlots: slots, ReceiverDelayMS: ms(b.p.eventDelay),
		SlotBound: float64(slots) / b.p.eventDelay.Seconds()}
	if err := b.eventFigures(ctx, srv, recv, users.activeEmails(), <-watch, &ordered); err != nil {
		return nil, err
	}
	if made.statuses["ok"] < b.p.eventAccounts {
		ordered.Note = fmt.Sprintf("accounts: %s", statusList(made.statuses))
	}
	recv.setDelay(0)
	return []eventResult{steady, ordered}, nil
}

// threeEventsOp makes one account go through three changes: it registers, activates with the
// code its email brought (waiting for it as long as it takes), and changes its password. With
// a chain of 1 it only registers.
func (b *bench) threeEventsOp(srv *server, users *userPool, chain int) func(context.Context, *client) attempt {
	return func(ctx context.Context, cl *client) attempt {
		tmp := newUserPool()
		if a := b.registerOp(srv, tmp)(ctx, cl); !a.ok {
			return attempt{err: "register " + a.key()}
		}
		acct := tmp.pending[0]
		if chain == 1 {
			users.addActive(acct)
			return attempt{ok: true, err: "ok"}
		}
		code := ""
		for deadline := time.Now().Add(2 * time.Minute); ctx.Err() == nil; sleep(ctx, 20*time.Millisecond) {
			if c, ok := b.provider.code(acct.email); ok {
				code = c
				break
			}
			if time.Now().After(deadline) {
				return attempt{err: "no activation code"}
			}
		}
		if a := cl.do(ctx, http.MethodPost, srv.url+"/v1/users/me/activate", acct.auth,
			[]byte(`{"code":"`+code+`"}`), http.StatusOK); !a.ok {
			return attempt{err: "activate " + a.key()}
		}
		body, _ := json.Marshal(map[string]string{"password": benchPassword + " again"})
		if a := cl.do(ctx, http.MethodPut, srv.url+"/v1/users/me/password", acct.auth, body, http.StatusNoContent); !a.ok {
			return attempt{err: "password " + a.key()}
		}
		users.addActive(acct)
		return attempt{ok: true, err: "ok"}
	}
}

// activeEmails lists the addresses of the active accounts.
func (p *userPool) activeEmails() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.active))
	for i, a := range p.active {
		out[i] = a.email
	}
	return out
}

// outboxEvent is one event row of the outbox.
type outboxEvent struct {
	account, key, typ, status string
	latency                   time.Duration // sent_at - created_at, when sent
}

// eventFigures fills r in from the outbox rows of the events about the accounts at the
// addresses to, and from what the receiver saw of them.
func (b *bench) eventFigures(ctx context.Context, srv *server, recv *eventReceiver, to []string, u procUsage, r *eventResult) error {
	conn, err := pgx.Connect(ctx, srv.databaseURL)
	if err != nil {
		return fmt.Errorf("read the outbox: %w", err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(ctx, `SELECT account_id::text, idempotency_key::text, event_type, status,
			coalesce((extract(epoch FROM sent_at - created_at) * 1000000)::bigint, 0)
		FROM outbox WHERE destination = 'event' AND recipient = ANY($1) ORDER BY account_id, id`, to)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxEvent, error) {
		var e outboxEvent
		var us int64
		err := row.Scan(&e.account, &e.key, &e.typ, &e.status, &us)
		e.latency = time.Duration(us) * time.Microsecond
		return e, err
	})
	if err != nil {
		return fmt.Errorf("read the outbox: %w", err)
	}
	r.Accounts, r.Events = len(to), len(events)
	var committed []time.Duration
	var first, last time.Time
	var held time.Duration
	var arrivals []time.Time
	sequences := map[string][]string{}
	var prev *eventSeen
	prevAccount := ""
	for _, e := range events {
		if e.status == "sent" {
			committed = append(committed, e.latency)
		}
		seen, ok := recv.first(e.key)
		if e.account != prevAccount {
			prev, prevAccount = nil, e.account
		}
		if !ok {
			prev = nil
			continue
		}
		r.Delivered++
		held += seen.answered.Sub(seen.arrived)
		arrivals = append(arrivals, seen.arrived)
		if first.IsZero() || seen.arrived.Before(first) {
			first = seen.arrived
		}
		if seen.answered.After(last) {
			last = seen.answered
		}
		if prev != nil && seen.arrived.Before(prev.answered) {
			r.OutOfOrder++
		}
		sequences[e.account] = append(sequences[e.account], seen.typ)
		prev = &seen
	}
	if span := last.Sub(first).Seconds(); span > 0 {
		r.DeliveredPerSecond = float64(r.Delivered) / span
		r.MeanInFlight = held.Seconds() / span
	}
	slices.SortFunc(arrivals, time.Time.Compare)
	if lo, hi := len(arrivals)/10, len(arrivals)*9/10; hi > lo && arrivals[hi].After(arrivals[lo]) {
		r.MiddlePerSecond = float64(hi-lo) / arrivals[hi].Sub(arrivals[lo]).Seconds()
	}
	if r.Name == "ordered" {
		want := "user.created user.activated user.password_changed"
		for _, seq := range sequences {
			if strings.Join(seq, " ") != want {
				r.WrongSequence++
			}
		}
	}
	r.CommitToAcceptedMS = latencyPercentiles(committed)
	r.Repeats, r.BadSignatures, r.PeakInFlight = recv.counts()
	if w := u.wall.Seconds(); w > 0 {
		r.ServerCores, r.DBCores = u.serverCPU.Seconds()/w, u.dbCPU.Seconds()/w
	}
	if r.Delivered < r.Events && r.Note == "" {
		r.Note = fmt.Sprintf("%d of %d events not delivered", r.Events-r.Delivered, r.Events)
	}
	b.logf("events %-7s %d accounts, %d events, %d delivered (%.1f/s, middle 80 %% %.1f/s, %.1f in flight on average, peak %d), commit→accepted p50 %.1f ms p99 %.1f ms, out of order %d, wrong sequence %d, repeats %d, bad signatures %d %s",
		r.Name, r.Accounts, r.Events, r.Delivered, r.DeliveredPerSecond, r.MiddlePerSecond, r.MeanInFlight, r.PeakInFlight,
		r.CommitToAcceptedMS.P50, r.CommitToAcceptedMS.P99, r.OutOfOrder, r.WrongSequence, r.Repeats, r.BadSignatures, r.Note)
	return nil
}
