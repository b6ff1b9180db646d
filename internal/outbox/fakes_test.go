package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

var errStoreDown = errors.New("store down")

// row is one outbox message as the fake store keeps it.
type row struct {
	outbox.Message
	state       string // pending, sent or dead
	due         time.Time
	leasedUntil time.Time
	failedAt    time.Time // when the last failed attempt was scheduled for a retry; zero while leased
	sentAt      time.Time
	reason      string
	claimedAt   []time.Time // the store's time at every claim
	retryAt     []time.Time
}

// fakeStore is an in-memory outbox.Store with the lease semantics of the real one. Like the
// database, it keeps time on its own clock, never the dispatcher's.
type fakeStore struct {
	mu         sync.Mutex
	rows       []*row         // by id, from 1
	states     map[string]int // how many rows are in each state
	nextID     int64
	claims     int
	waiting    int // claims that took waiting messages too
	failClaims int // the next failClaims claims fail
	failMarks  int // the next failMarks marks fail
}

var _ outbox.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore { return &fakeStore{states: map[string]int{}} }

func (s *fakeStore) add(payload, keyID []byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.rows = append(s.rows, &row{
		Message: outbox.Message{
			ID:             s.nextID,
			IdempotencyKey: fmt.Sprintf("key-%d", s.nextID),
			Payload:        payload,
			KeyID:          keyID,
			CreatedAt:      time.Now().Add(-time.Second),
		},
		state: "pending",
	})
	s.states["pending"]++
	return s.nextID
}

// get returns a copy of row id.
func (s *fakeStore) get(id int64) row {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := *s.rows[id-1]
	r.claimedAt, r.retryAt = slices.Clone(r.claimedAt), slices.Clone(r.retryAt)
	return r
}

// count returns how many rows are in state.
func (s *fakeStore) count(state string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[state]
}

func (s *fakeStore) claimCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims
}

func (s *fakeStore) Claim(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int) ([]outbox.Message, error) {
	return s.claim(ctx, keyIDs, lease, limit, -1)
}

func (s *fakeStore) ClaimWaiting(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int, minWait time.Duration) ([]outbox.Message, error) {
	return s.claim(ctx, keyIDs, lease, limit, minWait)
}

// claim is Claim for minWait < 0, ClaimWaiting otherwise.
func (s *fakeStore) claim(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int, minWait time.Duration) ([]outbox.Message, error) {
	waiting := minWait >= 0
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	if waiting {
		s.waiting++
	}
	if s.failClaims > 0 {
		s.failClaims--
		return nil, errStoreDown
	}
	now := time.Now()
	var claimed []outbox.Message
	for _, r := range s.rows {
		if len(claimed) == limit {
			break
		}
		rested := !r.failedAt.IsZero() && now.Sub(r.failedAt) >= minWait
		if r.state != "pending" || r.leasedUntil.After(now) || (r.due.After(now) && !(waiting && rested)) ||
			!slices.ContainsFunc(keyIDs, func(k []byte) bool { return bytes.Equal(k, r.KeyID) }) {
			continue
		}
		r.Attempt++
		r.leasedUntil, r.failedAt = now.Add(lease), time.Time{}
		r.claimedAt = append(r.claimedAt, now)
		claimed = append(claimed, r.Message)
	}
	return claimed, nil
}

func (s *fakeStore) MarkSent(ctx context.Context, id int64) error {
	return s.mark(ctx, id, 0, func(r *row) { r.state, r.sentAt = "sent", time.Now() })
}

func (s *fakeStore) MarkRetry(ctx context.Context, id int64, attempt int, delay time.Duration, reason string, asked bool) error {
	return s.mark(ctx, id, attempt, func(r *row) {
		r.due, r.leasedUntil, r.failedAt, r.reason = time.Now().Add(delay), time.Time{}, time.Now(), reason
		if asked {
			r.failedAt = time.Time{} // as the SQL store: no drain takes it before it is due
		}
		r.retryAt = append(r.retryAt, r.due)
	})
}

func (s *fakeStore) Drop(ctx context.Context, id int64, attempt int) error {
	return s.mark(ctx, id, attempt, func(r *row) { r.state = "dropped" })
}

// makeStale marks row id as carrying a code that is no longer live, for reason.
func (s *fakeStore) makeStale(id int64, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows[id-1].Stale = reason
}

func (s *fakeStore) MarkDead(ctx context.Context, id int64, attempt int, reason string) error {
	return s.mark(ctx, id, attempt, func(r *row) { r.state, r.reason = "dead", reason })
}

// mark applies fn to row id unless the store is failing or, for attempt > 0, the row was
// claimed again since that attempt (a stale lease).
func (s *fakeStore) mark(ctx context.Context, id int64, attempt int, fn func(*row)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failMarks > 0 {
		s.failMarks--
		return errStoreDown
	}
	r := s.rows[id-1]
	if r.state != "pending" || (attempt > 0 && r.Attempt != attempt) {
		return nil
	}
	s.states[r.state]--
	fn(r)
	s.states[r.state]++
	return nil
}

// fakeKeys stands in for the deployment's code secrets: it "seals" an email as JSON tagged
// with a key id, and opens only what one of its ids tagged.
type fakeKeys struct{ ids [][]byte }

var _ outbox.Opener = fakeKeys{}

func (k fakeKeys) IDs() [][]byte { return k.ids }

func (k fakeKeys) seal(e registration.Email) []byte {
	b, _ := json.Marshal(e)
	return b
}

func (k fakeKeys) Open(sealed, keyID []byte) (registration.Email, error) {
	var e registration.Email
	if !slices.ContainsFunc(k.ids, func(id []byte) bool { return bytes.Equal(id, keyID) }) {
		return e, registration.ErrUnsealable
	}
	if err := json.Unmarshal(sealed, &e); err != nil {
		return e, registration.ErrUnsealable
	}
	return e, nil
}

// fakeProvider records every Send and answers with respond.
type fakeProvider struct {
	mu      sync.Mutex
	calls   []call
	respond func(ctx context.Context, key string, n int) error // n counts calls for key from 1
}

type call struct {
	key  string
	text string
}

func (p *fakeProvider) Send(ctx context.Context, m mail.Message, key string) error {
	p.mu.Lock()
	p.calls = append(p.calls, call{key: key, text: m.Text})
	n := 0
	for _, c := range p.calls {
		if c.key == key {
			n++
		}
	}
	p.mu.Unlock()
	if p.respond == nil {
		return nil
	}
	return p.respond(ctx, key, n)
}

func (p *fakeProvider) keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	for _, c := range p.calls {
		keys = append(keys, c.key)
	}
	return keys
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// eventually fails t unless cond holds within a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
