// Package postgres keeps regapi's data in PostgreSQL with hand-written SQL on pgx: addresses,
// accounts, activation codes and the email outbox, plus the embedded schema migrations.
//
// The domain decides and this package owns the transactions: AccountStore.UpdateAddress locks
// an address, hands its state to a domain function and writes the changes that function
// recorded, all in one transaction.
package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/registration"
)

// AccountStore is the PostgreSQL implementation of registration.Store: addresses, accounts
// and their codes, and the outgoing emails committed with them.
type AccountStore struct {
	pool      *pgxpool.Pool
	committed func()
}

var _ registration.Store = (*AccountStore)(nil)

// NewAccountStore returns the account store on the database behind pool, whose schema must
// be migrated. committed, when not nil, is called after each transaction that committed an
// outgoing email (to wake the dispatchers); it must not block.
func NewAccountStore(pool *pgxpool.Pool, committed func()) *AccountStore {
	return &AccountStore{pool: pool, committed: committed}
}

// pingSQL reads nothing but takes, as every request does, a shared lock on the tables that
// registrations and logins use: it waits where they would wait, behind a migration's lock
// request or a stalled server, where an empty statement answers at once.
const pingSQL = `SELECT FROM users, outbox LIMIT 0`

// Ping checks that the database answers a request's statement within ctx, for readiness
// probes. It returns the connection or query error when it does not.
func (s *AccountStore) Ping(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, pingSQL); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// UpdateAddress implements registration.Store: it locks the record of email (creating it when
// new), loads the account holding it, calls fn, and writes the changes fn recorded (see
// queueChange for the statement of each), in one transaction. An email committed to the
// outbox is due at once, and committed is called after the commit. An error from fn is
// returned unchanged; a unique violation on the account's email becomes
// registration.ErrEmailTaken; other errors are database errors, wrapped.
func (s *AccountStore) UpdateAddress(ctx context.Context, email string, fn func(*registration.Address) error) error {
	return s.update(ctx, []string{email}, func(a []*registration.Address) error { return fn(a[0]) })
}

// UpdateAddresses implements registration.Store: it is UpdateAddress for two distinct
// addresses, locked in lexical order (so that two callers never wait on each other in a
// cycle), and writes from's changes, then to's.
func (s *AccountStore) UpdateAddresses(ctx context.Context, from, to string, fn func(from, to *registration.Address) error) error {
	if from == to {
		return fmt.Errorf("update addresses: %q twice", from)
	}
	return s.update(ctx, []string{from, to}, func(a []*registration.Address) error { return fn(a[0], a[1]) })
}

func (s *AccountStore) update(ctx context.Context, emails []string, fn func([]*registration.Address) error) error {
	var fnErr error
	var outgoing bool
	err := inPipelinedTx(ctx, s.pool, func(tx *pipelinedTx) error {
		b := &pgx.Batch{}
		addrs := queueLockAddresses(b, emails)
		if err := tx.send(ctx, b); err != nil {
			return fmt.Errorf("lock address: %w", err)
		}
		if fnErr = fn(addrs); fnErr != nil {
			return fnErr
		}
		b = &pgx.Batch{}
		var err error
		if outgoing, err = queueChanges(b, addrs); err != nil {
			return err
		}
		if b.Len() == 0 {
			return tx.rollback(ctx) // nothing to write: the lock alone ends
		}
		if err := tx.commit(ctx, b); err != nil {
			return fmt.Errorf("save address: %w", err)
		}
		return nil
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
func (s *AccountStore) Account(ctx context.Context, email string) (registration.Account, error) {
	acct, err := loadAccount(ctx, s.pool, email)
	if err != nil {
		return registration.Account{}, storeError("load account", err)
	}
	if acct == nil {
		return registration.Account{}, registration.ErrNotFound
	}
	return *acct, nil
}

// queueLockAddresses queues into b the statements that lock the address rows of emails in
// lexical order, creating those that are new, and load each address with its account; it
// returns the addresses, in the order of emails, that the batch fills in. The statements go
// in one round trip; each load still sees everything committed before its lock was granted,
// because under READ COMMITTED each statement takes a fresh snapshot when it starts.
func queueLockAddresses(b *pgx.Batch, emails []string) []*registration.Address {
	addrs := make([]*registration.Address, len(emails))
	for i, email := range emails {
		addrs[i] = &registration.Address{Email: email}
	}
	order := slices.Clone(addrs)
	slices.SortFunc(order, func(a, b *registration.Address) int { return strings.Compare(a.Email, b.Email) })
	for _, a := range order {
		// DO UPDATE, unlike DO NOTHING, row-locks an existing record, so that concurrent changes
		// of one address, even of a new one, take turns on it.
		b.Queue(`INSERT INTO address_codes (email) VALUES ($1)
			ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
			RETURNING issued`, a.Email).QueryRow(func(row pgx.Row) error {
			return row.Scan(&a.CodesIssued)
		})
		queueLoadAccount(b, a.Email, &a.Account)
	}
	return addrs
}

// selectAccount reads the account holding $1 with its live codes: one row per code, or one
// row with no code.
const selectAccount = `SELECT u.id::text, u.email, u.password_hash, u.status, u.created_at, u.activated_at,
	u.language, c.kind, c.code_hash, c.issued_at, c.sent_at, c.attempts,
	c.undeliverable OR o.status IS NOT DISTINCT FROM 'dead', c.new_email
	FROM users u
	LEFT JOIN codes c ON c.user_id = u.id
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

// collectAccount gathers the rows of selectAccount into one account, or nil when there are
// none.
func collectAccount(rows pgx.Rows) (*registration.Account, error) {
	defer rows.Close()
	var acct *registration.Account
	for rows.Next() {
		var (
			a        registration.Account
			kind     *registration.CodeKind
			c        registration.Code
			attempts *int
			issuedAt *time.Time
			dead     *bool
			newEmail *string
		)
		err := rows.Scan(&a.User.ID, &a.User.Email, &a.PasswordHash, &a.User.Status, &a.User.CreatedAt,
			&a.User.ActivatedAt, &a.Language, &kind, &c.Hash, &issuedAt, &c.SentAt, &attempts, &dead, &newEmail)
		if err != nil {
			return nil, err
		}
		if acct == nil {
			acct = &a
		}
		if kind == nil {
			continue
		}
		c.Kind, c.IssuedAt, c.Attempts = *kind, *issuedAt, *attempts
		c.Undeliverable = dead != nil && *dead
		if newEmail != nil {
			c.NewEmail = *newEmail
		}
		if acct.Codes == nil {
			acct.Codes = map[registration.CodeKind]*registration.Code{}
		}
		acct.Codes[c.Kind] = &c
	}
	return acct, rows.Err()
}
