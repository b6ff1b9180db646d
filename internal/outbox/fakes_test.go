package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outbox"
)

var errStoreDown = errors.New("store down")

// row is one outbox message as the fake store keeps it.
type row struct {
	outbox.Message
	state       string // pending, sent or dead
	due         time.Time
	leasedUntil time.Time
	sentAt      time.Time
	reason      string
	claimedAt   []time.Time // the now of every claim
	retryAt     []time.Time
}

// fakeStore is an in-memory outbox.Store with the lease semantics of the real one.
type fakeStore struct {
	mu         sync.Mutex
	rows       map[int64]*row
	nextID     int64
	claims     int
	failClaims int // the next failClaims claims fail
	failMarks  int // the next failMarks marks fail
}

var _ outbox.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore { return &fakeStore{rows: map[int64]*row{}} }

func (s *fakeStore) add(payload []byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.rows[s.nextID] = &row{
		Message: outbox.Message{
			ID:             s.nextID,
			IdempotencyKey: fmt.Sprintf("key-%d", s.nextID),
			Payload:        payload,
			CreatedAt:      time.Now().Add(-time.Second),
		},
		state: "pending",
	}
	return s.nextID
}

// get returns a copy of row id.
func (s *fakeStore) get(id int64) row {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := *s.rows[id]
	r.claimedAt, r.retryAt = slices.Clone(r.claimedAt), slices.Clone(r.retryAt)
	return r
}

func (s *fakeStore) claimCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims
}

func (s *fakeStore) Claim(ctx context.Context, _ []byte, now time.Time, lease time.Duration, limit int) ([]outbox.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	if s.failClaims > 0 {
		s.failClaims--
		return nil, errStoreDown
	}
	var claimed []outbox.Message
	for id := int64(1); id <= s.nextID && len(claimed) < limit; id++ {
		r := s.rows[id]
		if r.state != "pending" || r.due.After(now) || r.leasedUntil.After(now) {
			continue
		}
		r.Attempt++
		r.leasedUntil = now.Add(lease)
		r.LeaseUntil = r.leasedUntil
		r.claimedAt = append(r.claimedAt, now)
		claimed = append(claimed, r.Message)
	}
	return claimed, nil
}

func (s *fakeStore) MarkSent(ctx context.Context, id int64, at time.Time) error {
	return s.mark(ctx, id, 0, func(r *row) { r.state, r.sentAt = "sent", at })
}

func (s *fakeStore) MarkRetry(ctx context.Context, id int64, attempt int, retryAt time.Time, reason string) error {
	return s.mark(ctx, id, attempt, func(r *row) {
		r.due, r.leasedUntil, r.reason = retryAt, time.Time{}, reason
		r.retryAt = append(r.retryAt, retryAt)
	})
}

func (s *fakeStore) MarkDead(ctx context.Context, id int64, attempt int, at time.Time, reason string) error {
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
	r := s.rows[id]
	if r.state != "pending" || (attempt > 0 && r.Attempt != attempt) {
		return nil
	}
	fn(r)
	return nil
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
