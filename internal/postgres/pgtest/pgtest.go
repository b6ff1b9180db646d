// Package pgtest gives each test a fresh, fully migrated PostgreSQL database of its own, so
// that tests run in parallel and leave nothing behind.
//
// Databases are copied with CREATE DATABASE ... TEMPLATE from a template that is migrated
// once and named after a hash of the migration files, so a template of an older schema is
// never reused. The server is reached through TEST_DATABASE_URL (a postgres:// URL of a role
// that may create databases), by default postgres://postgres@127.0.0.1:5432/postgres.
// When it is unreachable, tests are skipped, or fail when TEST_REQUIRE_SERVICES=1.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
)

// DefaultAdminURL is the server used when TEST_DATABASE_URL is not set.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// NewDatabase creates a fresh database migrated to the current schema and returns its URL.
// The database is dropped when t ends. When the server cannot be reached, t is skipped, or
// fails if the environment sets TEST_REQUIRE_SERVICES=1; any other problem fails t.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(admin) })
	if errors.Is(templateErr, errUnreachable) {
		unavailable(t, admin, templateErr)
	}
	if templateErr != nil {
		t.Fatalf("pgtest: %v", templateErr)
	}
	// Lower case: unquoted names fold to it in psql, which eases looking at a leftover.
	name := "regapi_test_" + strings.ToLower(rand.Text()[:16])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := withAdmin(ctx, admin, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(templateName))
		return err
	})
	if err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })
	return databaseURL(t, admin, name)
}

func adminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// errUnreachable marks a failure to connect, as opposed to a failure once connected.
var errUnreachable = errors.New("cannot connect")

var warnOnce sync.Once

// unavailable skips t, loudly, or fails it when the environment requires the database.
func unavailable(t testing.TB, admin string, err error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: PostgreSQL at %s is not usable: %v", redact(admin), err)
	if os.Getenv("TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	warnOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "WARNING: %s; SKIPPING the tests that need it "+
			"(set TEST_DATABASE_URL, or TEST_REQUIRE_SERVICES=1 to fail instead)\n", msg)
	})
	t.Skip(msg)
}

// ensureTemplate returns the name of the template database for the current migrations,
// creating it when no process did so yet.
func ensureTemplate(admin string) (string, error) {
	hash, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "regapi_template_" + hash
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = withAdmin(ctx, admin, func(conn *pgx.Conn) error {
		// Session-level: released when withAdmin closes the connection, however it ends.
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", postgres.TestTemplateLockKey); err != nil {
			return err
		}
		var exists bool
		err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists)
		if err != nil || exists {
			return err
		}
		return buildTemplate(ctx, conn, admin, name)
	})
	if err != nil {
		return "", fmt.Errorf("prepare template database %s: %w", name, err)
	}
	return name, nil
}

// buildTemplate migrates a scratch database and only then renames it to name, so that a
// process that dies halfway never leaves a half-migrated template behind.
func buildTemplate(ctx context.Context, conn *pgx.Conn, admin, name string) error {
	scratch := name + "_building"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(scratch)+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(scratch)); err != nil {
		return err
	}
	scratchURL, err := withDatabase(admin, scratch)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, scratchURL)
	if err != nil {
		return err
	}
	err = postgres.NewMigrator(pool).Up(ctx)
	pool.Close()
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+ident(scratch)+" RENAME TO "+ident(name))
	return err
}

// migrationsHash returns a short hash of the names and contents of the migration files.
func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(postgres.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(postgres.Migrations(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(body))
		h.Write(body)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func dropDatabase(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := withAdmin(ctx, admin, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		return err
	})
	if err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

// withAdmin runs fn on a new connection to the admin database, closed afterwards.
func withAdmin(ctx context.Context, admin string, fn func(*pgx.Conn) error) error {
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return fmt.Errorf("parse TEST_DATABASE_URL: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreachable, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

func databaseURL(t testing.TB, admin, name string) string {
	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// withDatabase returns the admin URL pointed at database name.
func withDatabase(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("TEST_DATABASE_URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact hides the password of a connection URL, for messages.
func redact(admin string) string {
	u, err := url.Parse(admin)
	if err != nil {
		return "(unparsable TEST_DATABASE_URL)"
	}
	return u.Redacted()
}

// ident quotes a database name for SQL; the names built here are plain, but quoting keeps it so.
func ident(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
