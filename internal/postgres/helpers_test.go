package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

var defaultPolicy = registration.Policy{
	CodeTTL:        time.Minute,
	MaxAttempts:    5,
	ResendCooldown: 30 * time.Second,
	MaxCodesPerDay: 10,
}

// newPool returns a pool on a fresh database of t's own.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return openPool(t, pgtest.NewDatabase(t))
}

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// env is the stores on a database of their own with a service on top of the accounts.
type env struct {
	pool     *pgxpool.Pool
	accounts *postgres.AccountStore
	svc      *registration.Service
	keys     *registration.CodeKeys
	clock    *registrationtest.Clock
}

func newEnv(t *testing.T, policy registration.Policy) *env {
	t.Helper()
	pool := newPool(t)
	keys, err := registration.NewCodeKeys(randomSecret(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The accounts wake the outbox's dispatchers after each commit of an email, as served.
	wakeups := postgres.NewWakeups(pool, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wakeups.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &env{pool: pool, accounts: postgres.NewAccountStore(pool, wakeups.Committed), keys: keys, clock: registrationtest.NewClock()}
	e.svc, err = registration.NewService(context.Background(), e.accounts, registrationtest.Hasher{}, keys, policy, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// randomSecret returns a fresh code secret.
func randomSecret() []byte {
	b := make([]byte, registration.SecretSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// register registers email with a fixed password and fails t if that does not work.
func (e *env) register(t *testing.T, email string) registration.User {
	t.Helper()
	u, err := e.svc.Register(context.Background(), email, "correct horse battery", registration.English)
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// latestCode opens the newest email committed for email and returns the code it carries.
func (e *env) latestCode(t *testing.T, email string) string {
	t.Helper()
	var sealed []byte
	err := e.pool.QueryRow(context.Background(),
		`SELECT payload FROM outbox WHERE recipient = $1 ORDER BY id DESC LIMIT 1`, email).Scan(&sealed)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	msg, err := e.keys.Open(sealed, e.keys.ID())
	if err != nil {
		t.Fatalf("open sealed email: %v", err)
	}
	return msg.Code
}

// deliverAll marks every due message sent at the clock's time, as a dispatcher whose
// provider accepts everything would if the database's clock were the test's.
func (e *env) deliverAll(t *testing.T) {
	t.Helper()
	_, err := e.pool.Exec(context.Background(), `WITH sent AS (
			UPDATE outbox SET status = 'sent', sent_at = $1
			WHERE status = 'pending' AND next_attempt_at <= $1 RETURNING id
		)
		UPDATE codes SET sent_at = $1 WHERE message_id IN (SELECT id FROM sent) AND sent_at IS NULL`,
		e.clock.Now())
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
}

// parallel runs fn n times at once and returns how often each error (or nil) came back,
// keyed by the sentinel it wraps.
func parallel(n int, fn func(i int) error, sentinels ...error) map[error]int {
	var mu sync.Mutex
	counts := map[error]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := fn(i)
			key := err
			for _, s := range sentinels {
				if errors.Is(err, s) {
					key = s
				}
			}
			mu.Lock()
			counts[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}

// wrongCode returns a well-formed code other than code.
func wrongCode(code string) string {
	var n int
	fmt.Sscanf(code, "%d", &n)
	return fmt.Sprintf("%04d", (n+1)%10000)
}
