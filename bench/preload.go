package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// preloadTables are the tables the preload fills, in the order their rows depend on.
var preloadTables = []string{"address_codes", "users", "outbox", "codes"}

// preloadChunk is how many accounts one statement inserts: the load is bounded in rows per
// statement, and progress shows between them.
const preloadChunk = 500_000

// preloadPasswordHash is every preloaded account's password hash: an argon2id encoding of
// the usual length. Nobody logs in as a preloaded account.
const preloadPasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" +
	"aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

// The preload's statements, for accounts $1 to $2 created over the six days before $3 (inside
// the retention, so that cleanup leaves them alone during the run). Account i is pending when
// i mod 20 < 3 (15 %), active otherwise; each has its address record and one sent email,
// and a pending one its current code, linked to that email. Addresses start with a hash, so
// they spread over the email indexes as real ones do.
const (
	preloadAddresses = `INSERT INTO address_codes (email, issued)
		SELECT substr(md5(i::text), 1, 10) || '.' || i || '@preload.example.com',
		       ARRAY[$3::timestamptz - (i % 518400) * interval '1 second']
		FROM generate_series($1::bigint, $2::bigint) i`
	preloadUsers = `INSERT INTO users (id, email, password_hash, status, created_at, activated_at)
		SELECT md5('user' || i)::uuid, substr(md5(i::text), 1, 10) || '.' || i || '@preload.example.com', $4,
		       CASE WHEN i % 20 < 3 THEN 'pending' ELSE 'active' END,
		       $3::timestamptz - (i % 518400) * interval '1 second',
		       CASE WHEN i % 20 < 3 THEN NULL ELSE $3::timestamptz - (i % 518400) * interval '1 second' + interval '40 seconds' END
		FROM generate_series($1::bigint, $2::bigint) i`
	preloadOutbox = `INSERT INTO outbox (id, user_id, recipient, payload, key_id, status, attempts, next_attempt_at, created_at, sent_at)
		OVERRIDING SYSTEM VALUE
		SELECT i, md5('user' || i)::uuid, substr(md5(i::text), 1, 10) || '.' || i || '@preload.example.com',
		       sha512(('a' || i)::bytea) || sha512(('b' || i)::bytea) || sha512(('c' || i)::bytea),
		       '\x00'::bytea, 'sent', 1,
		       $3::timestamptz - (i % 518400) * interval '1 second',
		       $3::timestamptz - (i % 518400) * interval '1 second',
		       $3::timestamptz - (i % 518400) * interval '1 second' + interval '50 milliseconds'
		FROM generate_series($1::bigint, $2::bigint) i`
	preloadCodes = `INSERT INTO codes (user_id, code_hash, issued_at, sent_at, attempts, message_id)
		SELECT md5('user' || i)::uuid, sha256(('code' || i)::bytea),
		       $3::timestamptz - (i % 518400) * interval '1 second',
		       $3::timestamptz - (i % 518400) * interval '1 second' + interval '50 milliseconds', 0, i
		FROM generate_series($1::bigint, $2::bigint) i WHERE i % 20 < 3`
)

// keyDef is a constraint or index the preload drops and builds again after loading.
type keyDef struct {
	table, name, def string
	constraint       bool
	foreign          bool
}

// preload fills the database at databaseURL with n accounts: keys and indexes dropped, rows
// loaded with generate_series, keys and indexes built again (faster than inserting into
// them), then VACUUM ANALYZE and a checkpoint, so that the run starts from a steady state.
func (b *bench) preload(ctx context.Context, databaseURL string, n int) (time.Duration, error) {
	start := time.Now()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, fmt.Errorf("preload: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '512MB'"); err != nil {
		return 0, fmt.Errorf("preload: %w", err)
	}
	keys, err := loadKeyDefs(ctx, conn)
	if err != nil {
		return 0, err
	}
	if err := dropKeys(ctx, conn, keys); err != nil {
		return 0, err
	}
	now := time.Now()
	for lo := 1; lo <= n; lo += preloadChunk {
		hi := min(lo+preloadChunk-1, n)
		for _, q := range []string{preloadAddresses, preloadUsers, preloadOutbox, preloadCodes} {
			args := []any{lo, hi, now}
			if q == preloadUsers {
				args = append(args, preloadPasswordHash)
			}
			if _, err := conn.Exec(ctx, q, args...); err != nil {
				return 0, fmt.Errorf("preload accounts %d–%d: %w", lo, hi, err)
			}
		}
		b.logf("preload: %d of %d accounts (%s)", hi, n, time.Since(start).Round(time.Second))
	}
	if err := buildKeys(ctx, conn, keys); err != nil {
		return 0, err
	}
	b.logf("preload: keys and indexes built (%s)", time.Since(start).Round(time.Second))
	for _, q := range []string{
		"SELECT setval(pg_get_serial_sequence('outbox', 'id'), (SELECT max(id) FROM outbox))",
		"VACUUM (ANALYZE) address_codes, users, outbox, codes",
		"CHECKPOINT",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("preload: %s: %w", q, err)
		}
	}
	return time.Since(start), nil
}

// loadKeyDefs reads the primary, unique and foreign keys and the other indexes of the
// preloaded tables, as the schema has them now: the preload follows the migrations.
func loadKeyDefs(ctx context.Context, conn *pgx.Conn) ([]keyDef, error) {
	rows, _ := conn.Query(ctx, `
		SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), true, contype = 'f'
		FROM pg_constraint WHERE conrelid = ANY($1::regclass[]) AND contype IN ('p', 'u', 'f')
		UNION ALL
		SELECT indrelid::regclass::text, indexrelid::regclass::text, pg_get_indexdef(indexrelid), false, false
		FROM pg_index WHERE indrelid = ANY($1::regclass[])
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)`, preloadTables)
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyDef, error) {
		var k keyDef
		err := r.Scan(&k.table, &k.name, &k.def, &k.constraint, &k.foreign)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("preload: read the keys: %w", err)
	}
	return keys, nil
}

// dropKeys drops foreign keys first (they depend on the others), then the rest.
func dropKeys(ctx context.Context, conn *pgx.Conn, keys []keyDef) error {
	for _, foreign := range []bool{true, false} {
		for _, k := range keys {
			if k.foreign != foreign {
				continue
			}
			q := "DROP INDEX " + k.name
			if k.constraint {
				q = "ALTER TABLE " + k.table + " DROP CONSTRAINT " + pgx.Identifier{k.name}.Sanitize()
			}
			if _, err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("preload: %s: %w", q, err)
			}
		}
	}
	return nil
}

// buildKeys builds what dropKeys dropped, foreign keys last.
func buildKeys(ctx context.Context, conn *pgx.Conn, keys []keyDef) error {
	for _, foreign := range []bool{false, true} {
		for _, k := range keys {
			if k.foreign != foreign {
				continue
			}
			q := k.def
			if k.constraint {
				q = "ALTER TABLE " + k.table + " ADD CONSTRAINT " + pgx.Identifier{k.name}.Sanitize() + " " + k.def
			}
			if _, err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("preload: %s: %w", q, err)
			}
		}
	}
	return nil
}

// bytesPerAccount is the size of the preloaded tables, with their indexes and TOAST, over
// the accounts they hold.
func bytesPerAccount(ctx context.Context, databaseURL string) (float64, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var size, accounts int64
	err = conn.QueryRow(ctx, `SELECT (SELECT sum(pg_total_relation_size(t))::bigint FROM unnest($1::regclass[]) t),
		(SELECT count(*) FROM users)`, preloadTables).Scan(&size, &accounts)
	if err != nil || accounts == 0 {
		return 0, err
	}
	return float64(size) / float64(accounts), nil
}
