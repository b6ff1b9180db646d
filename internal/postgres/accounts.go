// Package postgres keeps regapi's data in PostgreSQL with hand-written SQL on pgx: addresses,
// accounts, activation codes and the email outbox, plus the embedded schema migrations.
//
// The domain decides and this package owns the transactions: Accounts.UpdateAddress locks an
// address, hands its state to a domain function and writes the changes that function
// recorded, all in one transaction.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/registration"
)

// Accounts is the PostgreSQL implementation of registration.Store: addresses, accounts and
// their codes, and the outgoing emails committed with them.
type Accounts struct {
	pool      *pgxpool.Pool
	committed func()
}

var _ registration.Store = (*Accounts)(nil)

// NewAccounts returns the accounts store on the database behind pool, whose schema must be
// migrated. committed, when not nil, is called after each transaction that committed an
// outgoing email (to wake the dispatchers); it must not block.
func NewAccounts(pool *pgxpool.Pool, committed func()) *Accounts {
	return &Accounts{pool: pool, committed: committed}
}

// Ping checks that the database answers, for readiness probes. It returns the connection or
// query error when it does not.
func (s *Accounts) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// UpdateAddress implements registration.Store: it locks the record of email (creating it when
// new), loads the account holding it, calls fn, and writes the changes fn recorded (see
// queueChange for the statement of each), in one transaction. An outgoing email is committed
// to the outbox, due from the IssuedAt of the code it carries, and committed is called after
// the commit. An error from fn is returned unchanged; a unique violation on the account's
// email becomes registration.ErrEmailTaken; other errors are database errors, wrapped.
func (s *Accounts) UpdateAddress(ctx context.Context, email string, fn func(*registration.Address) error) error {
	var fnErr error
	var outgoing bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := lockAddress(ctx, tx, email)
		if err != nil {
			return err
		}
		if fnErr = fn(&a); fnErr != nil {
			return fnErr
		}
		outgoing, err = saveChanges(ctx, tx, email, a.Changes())
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return storeError("update address", err)
	}
	if outgoing && s.committed != nil {
		s.committed()
	}
	return nil
}

// Account implements registration.Store: it returns the account holding email, or
// registration.ErrNotFound, or a wrapped database error.
func (s *Accounts) Account(ctx context.Context, email string) (registration.Account, error) {
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
	c.code_hash, c.issued_at, c.sent_at, c.attempts, c.undeliverable OR o.status IS NOT DISTINCT FROM 'dead'
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
