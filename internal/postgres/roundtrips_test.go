package postgres_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// wireCounter counts, over every connection of a pool, the statements sent and the round
// trips taken: a round trip is a write to the server that follows a read from it (or opens
// the connection), since pgx sends a whole batch, and each query, in one write.
type wireCounter struct {
	mu         sync.Mutex
	statements int
	roundTrips int
}

func (c *wireCounter) reset() (statements, roundTrips int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	statements, roundTrips = c.statements, c.roundTrips
	c.statements, c.roundTrips = 0, 0
	return statements, roundTrips
}

func (c *wireCounter) add(statements, roundTrips int) {
	c.mu.Lock()
	c.statements += statements
	c.roundTrips += roundTrips
	c.mu.Unlock()
}

func (c *wireCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.add(1, 0)
	return ctx
}

func (c *wireCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *wireCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c *wireCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.add(1, 0)
}

func (c *wireCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// countingConn counts the round trips of one connection into its wireCounter.
type countingConn struct {
	net.Conn
	counter *wireCounter
	mu      sync.Mutex
	read    bool // a read came since the last counted write
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.read = true
	c.mu.Unlock()
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.read {
		c.counter.add(0, 1)
		c.read = false
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// countingPool returns a pool on a fresh database whose statements and round trips counter
// counts.
func countingPool(t *testing.T) (*pgxpool.Pool, *wireCounter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &wireCounter{}
	cfg.MaxConns = 1
	cfg.ConnConfig.Tracer = counter
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: conn, counter: counter, read: true}, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, counter
}

// TestRequestRoundTrips counts what each account operation costs on the wire, once its
// statements are prepared, and prints it. A change that adds a round trip fails it.
func TestRequestRoundTrips(t *testing.T) {
	t.Parallel()
	pool, counter := countingPool(t)
	e := &env{pool: pool, accounts: postgres.NewAccountStore(pool, nil), clock: registrationtest.NewClock()}
	var err error
	if e.keys, err = registration.NewCodeKeys(randomSecret(), nil); err != nil {
		t.Fatal(err)
	}
	e.svc, err = registration.NewService(context.Background(), e.accounts, registrationtest.Hasher{}, e.keys, defaultPolicy, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const password = "correct horse battery"
	// Each operation prepares what it needs, then measures from counter.reset on.
	ops := []struct {
		name                      string
		run                       func(email string) error
		wantStatements, wantTrips int
	}{
		{"register", func(email string) error {
			counter.reset()
			_, err := e.svc.Register(ctx, email, password, registration.English)
			return err
		}, 7, 2},
		{"login", func(email string) error {
			e.register(t, email)
			counter.reset()
			_, err := e.svc.Authenticate(ctx, email, password)
			return err
		}, 1, 1},
		{"wrong-code", func(email string) error {
			u, code := e.register(t, email), e.latestCode(t, email)
			counter.reset()
			_, err := e.svc.Activate(ctx, u, wrongCode(code))
			return ignore(err, registration.ErrInvalidCode)
		}, 5, 2},
		{"activate", func(email string) error {
			u, code := e.register(t, email), e.latestCode(t, email)
			counter.reset()
			_, err := e.svc.Activate(ctx, u, code)
			return err
		}, 6, 2},
		{"resend", func(email string) error {
			u := e.register(t, email)
			e.clock.Advance(defaultPolicy.ResendCooldown)
			counter.reset()
			_, err := e.svc.Resend(ctx, u)
			return err
		}, 6, 2},
		{"reset-request-known", func(email string) error {
			e.register(t, email)
			counter.reset()
			_, err := e.svc.RequestPasswordReset(ctx, email)
			return err
		}, 6, 2},
		{"reset-request-unknown", func(email string) error {
			counter.reset()
			_, err := e.svc.RequestPasswordReset(ctx, email)
			return err
		}, 5, 2},
		{"reset-confirm", func(email string) error {
			e.register(t, email)
			if _, err := e.svc.RequestPasswordReset(ctx, email); err != nil {
				return err
			}
			code := e.latestCode(t, email)
			counter.reset()
			_, err := e.svc.ResetPassword(ctx, email, code, "new password 1")
			return err
		}, 9, 2},
		{"password-change", func(email string) error {
			u := e.register(t, email)
			counter.reset()
			return e.svc.ChangePassword(ctx, u, "new password 1")
		}, 6, 2},
		{"email-change-request", func(email string) error {
			u := e.active(t, email)
			counter.reset()
			_, err := e.svc.RequestEmailChange(ctx, u, "new-"+email)
			return err
		}, 8, 2},
		{"email-change-confirm", func(email string) error {
			u := e.active(t, email)
			if _, err := e.svc.RequestEmailChange(ctx, u, "moved-"+email); err != nil {
				return err
			}
			code := e.latestCode(t, "moved-"+email)
			counter.reset()
			_, err := e.svc.ConfirmEmailChange(ctx, u, code)
			return err
		}, 10, 3},
		{"delete", func(email string) error {
			u := e.register(t, email)
			counter.reset()
			return e.svc.Delete(ctx, u)
		}, 6, 2}, // the sixth locks the account's emails before the cascade deletes them

	}
	for _, op := range ops {
		for i, email := range []string{"warm-" + op.name + "@example.com", "count-" + op.name + "@example.com"} {
			if err := op.run(email); err != nil {
				t.Fatalf("%s: %v", op.name, err)
			}
			statements, trips := counter.reset()
			if i == 0 {
				continue // the first run prepares the statements
			}
			t.Logf("%s: %d statements in %d round trips", op.name, statements, trips)
			if statements > op.wantStatements || trips > op.wantTrips {
				t.Errorf("%s: %d statements in %d round trips, want at most %d in %d", op.name, statements, trips, op.wantStatements, op.wantTrips)
			}
		}
	}
}

// ignore returns err unless it is want.
func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}
