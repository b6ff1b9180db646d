// Package postgres keeps regapi's data in PostgreSQL with hand-written SQL on pgx: addresses,
// accounts, activation codes and the email outbox, plus the embedded schema migrations.
//
// The domain decides and this package owns the transactions: Store.UpdateAddress locks an
// address, hands its state to a domain function and writes back what that function changed,
// all in one transaction.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// Store is the PostgreSQL implementation of registration.Store and outbox.Store.
type Store struct {
	pool   *pgxpool.Pool
	notify *notifier
	sent   sentMarks
}

var (
	_ registration.Store = (*Store)(nil)
	_ outbox.Store       = (*Store)(nil)
)

// NewStore returns a Store on the database behind pool, whose schema must be migrated.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, notify: &notifier{pool: pool}}
}

// Ping checks that the database answers, for readiness probes. It returns the connection or
// query error when it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// outboxChannel is the NOTIFY channel on which committed outbox messages wake dispatchers.
const outboxChannel = "outbox"

// UpdateAddress implements registration.Store: it locks the record of email (creating it when
// new), loads the account holding it, calls fn, and writes back what fn changed, in one
// transaction. An Outgoing email is committed to the outbox, due from the IssuedAt of the
// code it carries, and dispatchers are notified right after the commit (see notifier); an
// Outgoing email without a code is refused. An error from fn is returned unchanged; a unique violation on the account's
// email becomes registration.ErrEmailTaken; other errors are database errors, wrapped.
func (s *Store) UpdateAddress(ctx context.Context, email string, fn func(*registration.Address) error) error {
	var fnErr error
	var outgoing bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, err := lockAddress(ctx, tx, email)
		if err != nil {
			return err
		}
		after := cloneAddress(before)
		if fnErr = fn(&after); fnErr != nil {
			return fnErr
		}
		outgoing = after.Outgoing != nil
		return saveAddress(ctx, tx, &before, &after)
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return storeError("update address", err)
	}
	if outgoing {
		s.notify.wake()
	}
	return nil
}

// Account implements registration.Store: it returns the account holding email, or
// registration.ErrNotFound, or a wrapped database error.
func (s *Store) Account(ctx context.Context, email string) (registration.Account, error) {
	acct, err := loadAccount(ctx, s.pool, email)
	if err != nil {
		return registration.Account{}, storeError("load account", err)
	}
	if acct == nil {
		return registration.Account{}, registration.ErrNotFound
	}
	return *acct, nil
}

// lockAddress locks the address row of email, creating it when new, and loads the address
// with its account. The two statements go in one round trip; the second still sees everything
// committed before the lock was granted, because under READ COMMITTED each statement takes a
// fresh snapshot when it starts.
func lockAddress(ctx context.Context, tx pgx.Tx, email string) (registration.Address, error) {
	a := registration.Address{Email: email}
	b := &pgx.Batch{}
	// DO UPDATE, unlike DO NOTHING, row-locks an existing record, so that concurrent changes of
	// one address, even of a new one, take turns on it.
	b.Queue(`INSERT INTO address_codes (email) VALUES ($1)
		ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
		RETURNING issued`, email).QueryRow(func(row pgx.Row) error {
		return row.Scan(&a.CodesIssued)
	})
	queueLoadAccount(b, email, &a.Account)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return registration.Address{}, fmt.Errorf("lock address: %w", err)
	}
	return a, nil
}

const selectAccount = `SELECT u.id::text, u.email, u.password_hash, u.status, u.created_at, u.activated_at,
	c.code_hash, c.issued_at, c.sent_at, c.attempts, o.status = 'dead'
	FROM users u
	LEFT JOIN activation_codes c ON c.user_id = u.id
	LEFT JOIN outbox o ON o.id = c.message_id
	WHERE u.email = $1`

// queueLoadAccount queues the query of the account holding email into *dst, nil when none.
func queueLoadAccount(b *pgx.Batch, email string, dst **registration.Account) {
	b.Queue(selectAccount, email).Query(func(rows pgx.Rows) error {
		var err error
		*dst, err = collectAccount(rows)
		return err
	})
}

func loadAccount(ctx context.Context, pool *pgxpool.Pool, email string) (*registration.Account, error) {
	rows, _ := pool.Query(ctx, selectAccount, email)
	acct, err := collectAccount(rows)
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	return acct, nil
}

// collectAccount scans the at most one row of selectAccount, returning nil when there is none.
func collectAccount(rows pgx.Rows) (*registration.Account, error) {
	accts, err := pgx.CollectRows(rows, scanAccount)
	if err != nil || len(accts) == 0 {
		return nil, err
	}
	return &accts[0], nil
}

func scanAccount(row pgx.CollectableRow) (registration.Account, error) {
	var (
		a        registration.Account
		hash     []byte
		issuedAt *time.Time
		attempts *int
		dead     *bool
		c        registration.Code
	)
	err := row.Scan(&a.User.ID, &a.User.Email, &a.PasswordHash, &a.User.Status, &a.User.CreatedAt,
		&a.User.ActivatedAt, &hash, &issuedAt, &c.SentAt, &attempts, &dead)
	if err != nil || issuedAt == nil {
		return a, err
	}
	c.Hash, c.IssuedAt, c.Attempts = hash, *issuedAt, *attempts
	c.Undeliverable = dead != nil && *dead
	a.Code = &c
	return a, nil
}

// uniqueViolations maps the unique constraints a caller can run into to domain errors.
var uniqueViolations = map[string]error{
	"users_email_key": registration.ErrEmailTaken,
}

// storeError wraps err with op, turning a known unique violation into its domain error, and
// a lost or refused connection into registration.ErrUnavailable. Constraints are told apart
// by name, never by message text.
func storeError(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		if domainErr, ok := uniqueViolations[pgErr.ConstraintName]; ok {
			return fmt.Errorf("%s: %w: %w", op, domainErr, err)
		}
	}
	if unreachable(err) {
		return fmt.Errorf("%s: %w: %w", op, registration.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err means the database could not be reached or went away, as
// opposed to a query it refused: connection failures, timeouts, and the server-side classes
// for connection exceptions, shutdown and too many connections.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	// ErrConnClosed: a pooled connection that broke with the server is refused before use.
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
