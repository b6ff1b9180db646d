package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/regapi/regapi/internal/registration"
)

// eventReceiver is the rest of the product in the tests: it verifies each post with the
// Standard Webhooks library and keeps the events it accepted, in the order they came.
type eventReceiver struct {
	t        *testing.T
	url      string
	mu       sync.Mutex
	accepted []registration.Event
	ids      map[string]int // webhook-id: how many posts carried it
	// refuse, when it returns true, makes the receiver answer 503 to e.
	refuse func(e registration.Event) bool
}

func newEventReceiver(t *testing.T) *eventReceiver {
	t.Helper()
	verifier, err := standardwebhooks.NewWebhook(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &eventReceiver{t: t, ids: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(body, r.Header); err != nil {
			t.Errorf("event signature: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var e registration.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("event body %s: %v", body, err)
		}
		for _, secret := range []string{`"code"`, "password_hash", "$argon2"} {
			if strings.Contains(string(body), secret) {
				t.Errorf("event carries %s: %s", secret, body)
			}
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.ids[r.Header.Get("webhook-id")]++
		if rc.refuse != nil && rc.refuse(e) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rc.accepted = append(rc.accepted, e)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

// setRefuse replaces the refusal rule.
func (rc *eventReceiver) setRefuse(refuse func(registration.Event) bool) {
	rc.mu.Lock()
	rc.refuse = refuse
	rc.mu.Unlock()
}

// of returns the types of the events accepted about account id, in the order they came.
func (rc *eventReceiver) of(id string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var types []string
	for _, e := range rc.accepted {
		if e.Data.ID == id {
			types = append(types, string(e.Type))
		}
	}
	return types
}

// wait waits until n events about account id were accepted and returns them.
func (rc *eventReceiver) wait(t *testing.T, id string, n int) []registration.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(rc.of(id)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("account %s: events %v, want %d", id, rc.of(id), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []registration.Event
	for _, e := range rc.accepted {
		if e.Data.ID == id {
			out = append(out, e)
		}
	}
	return out
}

// eventsApp starts regapi posting its events to a new receiver.
func eventsApp(t *testing.T) (*app, *eventReceiver) {
	t.Helper()
	rc := newEventReceiver(t)
	env := baseEnv(t)
	env["EVENTS_WEBHOOK_URL"] = rc.url
	env["EVENTS_WEBHOOK_SECRET"] = testWebhookSecret
	env["RESEND_COOLDOWN"] = "0s"
	return startApp(t, env), rc
}

// TestEventsFollowEveryFlowInOrder: each change of an account posts its event once, signed,
// in the order of the changes, with what each type adds.
func TestEventsFollowEveryFlowInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	t.Parallel()
	a, rc := eventsApp(t)
	email, pass := uniqueEmail("events"), "correct horse battery"
	id := a.signUp(t, email, pass)
	a.changePassword(t, email, pass, "second password").want(t, http.StatusNoContent, "")
	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	code := a.waitEmail(t, email, "password_reset_code", 1).Code
	a.confirmReset(t, email, code, "third password").want(t, http.StatusOK, "")
	moved := uniqueEmail("events-moved")
	a.requestEmailChange(t, email, "third password", moved).want(t, http.StatusAccepted, "")
	code = a.waitEmail(t, moved, "email_change_code", 1).Code
	a.confirmEmailChange(t, email, "third password", code).want(t, http.StatusOK, "")
	a.deleteMe(t, moved, "third password").want(t, http.StatusNoContent, "")

	got := rc.wait(t, id, 6)
	want := []registration.EventType{registration.EventCreated, registration.EventActivated,
		registration.EventPasswordChanged, registration.EventPasswordChanged,
		registration.EventEmailChanged, registration.EventDeleted}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", rc.of(id), want)
	}
	for i, e := range got {
		if e.Type != want[i] {
			t.Fatalf("events %v, want %v", rc.of(id), want)
		}
	}
	if got[2].Data.Reason != registration.PasswordChange || got[3].Data.Reason != registration.PasswordReset {
		t.Errorf("password_changed reasons %q, %q; want change, reset", got[2].Data.Reason, got[3].Data.Reason)
	}
	if got[4].Data.PreviousEmail != email || got[4].Data.Email != moved {
		t.Errorf("email_changed %+v, want %s from %s", got[4].Data, moved, email)
	}
	if got[1].Data.Status != registration.StatusActive || got[1].Data.ActivatedAt == nil {
		t.Errorf("user.activated data %+v, want an active account", got[1].Data)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for webhookID, n := range rc.ids {
		if n != 1 {
			t.Errorf("webhook-id %s posted %d times, want once", webhookID, n)
		}
	}
}

// TestFailingAccountHoldsOnlyItsOwnEvents: while the receiver refuses one account's first
// event, that account's later events wait, and another account's go out; once it accepts,
// the held events follow in order, each retry with its webhook-id.
func TestFailingAccountHoldsOnlyItsOwnEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	t.Parallel()
	a, rc := eventsApp(t)
	held, free := uniqueEmail("held"), uniqueEmail("free")
	rc.setRefuse(func(e registration.Event) bool { return e.Data.Email == held })
	heldID := a.signUp(t, held, "correct horse battery")
	freeID := a.signUp(t, free, "correct horse battery")
	rc.wait(t, freeID, 2)
	if got := rc.of(heldID); len(got) != 0 {
		t.Fatalf("refused account's events %v accepted", got)
	}
	rc.mu.Lock()
	retried := len(rc.ids)
	rc.mu.Unlock()
	rc.setRefuse(nil)
	got := rc.wait(t, heldID, 2)
	if got[0].Type != registration.EventCreated || got[1].Type != registration.EventActivated {
		t.Fatalf("held account's events %v, want created then activated", rc.of(heldID))
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.ids) != retried+1 { // only the activation was new: the creation was retried
		t.Errorf("%d webhook-ids after the retry, want %d: a retry must keep its id", len(rc.ids), retried+1)
	}
}

// TestEventsOffWritesNothing: without EVENTS_WEBHOOK_URL no event row is written.
func TestEventsOffWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	t.Parallel()
	env := baseEnv(t)
	a := startApp(t, env)
	email, pass := uniqueEmail("no-events"), "correct horse battery"
	a.signUp(t, email, pass)
	a.deleteMe(t, email, pass).want(t, http.StatusNoContent, "")
	db, err := pgxpool.New(t.Context(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE destination = 'event'`); n != 0 {
		t.Fatalf("%d event rows, want none", n)
	}
}
