package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// Store serves both roles on one pool: the accounts (through Accounts) and the outbox. It
// remains until the outbox has a store of its own.
type Store struct {
	*Accounts
	pool   *pgxpool.Pool
	notify *notifier
	sent   sentMarks
}

var (
	_ registration.Store = (*Store)(nil)
	_ outbox.Store       = (*Store)(nil)
)

// NewStore returns a Store on the database behind pool, whose schema must be migrated.
// Dispatchers are woken after each commit of an outgoing email.
func NewStore(pool *pgxpool.Pool) *Store {
	n := &notifier{pool: pool}
	return &Store{Accounts: NewAccounts(pool, n.wake), pool: pool, notify: n}
}

// outboxChannel is the NOTIFY channel on which committed outbox messages wake dispatchers.
const outboxChannel = "outbox"
