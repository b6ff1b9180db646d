package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
)

// Cluster is a PostgreSQL server of one test's own, in a temporary directory, that the test
// may stop and start to see how the service lives through a database outage. It listens on a
// Unix socket in that directory only, never on a TCP port: while it is stopped no other
// process can take its address. It never touches the shared server of NewDatabase.
type Cluster struct {
	bin  string              // directory holding initdb and pg_ctl
	dir  string              // data directory; also holds the socket and the log
	cred *syscall.Credential // whom to run as: PostgreSQL refuses to run as root
}

// StartCluster creates and starts a private cluster, stopped and deleted when t ends. It
// needs PostgreSQL's server programs (initdb, pg_ctl: on PATH, under PG_BINDIR, or in
// /usr/lib/postgresql/*/bin) and, when the test runs as root, a "postgres" system user to
// run them as. Without them t is skipped, or fails when TEST_REQUIRE_SERVICES=1. With
// go test -short, t is skipped.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs a PostgreSQL cluster of its own")
	}
	bin, err := serverBinaries()
	if err != nil {
		noCluster(t, err)
	}
	cred, err := serverCredential()
	if err != nil {
		noCluster(t, err)
	}
	dir, err := os.MkdirTemp("", "regapi-pgcluster-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	c := &Cluster{bin: bin, dir: dir, cred: cred}
	// No fsync: the machine does not crash in these tests, only the server stops.
	c.pg(t, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.Start(t)
	t.Cleanup(func() { c.stop(t, "immediate") })
	return c
}

// AdminURL returns the URL of the cluster's postgres database, as the superuser postgres.
func (c *Cluster) AdminURL() string { return c.url("postgres") }

// NewDatabase creates a database on the cluster, migrates it to the current schema and
// returns its URL. connect_timeout is set low, so that a client of a stopped cluster learns
// it at once.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "regapi"
	err := withAdmin(ctx, c.AdminURL(), func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name))
		return err
	})
	if err != nil {
		t.Fatalf("pgtest: create database on the private cluster: %v", err)
	}
	pool, err := pgxpool.New(ctx, c.url(name))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer pool.Close()
	if err := postgres.NewMigrator(pool).Up(ctx); err != nil {
		t.Fatalf("pgtest: migrate the private cluster: %v", err)
	}
	return c.url(name)
}

// Start starts the (stopped) cluster and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c fsync=off -c full_page_writes=off", socketPort, c.dir)
	c.pg(t, "pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-o", opts)
}

// Crash stops the cluster the way a crash would: every server process quits at once, open
// connections break, and the next start runs crash recovery.
func (c *Cluster) Crash(t testing.TB) { c.stop(t, "immediate") }

// Stop shuts the cluster down the way an operator would: sessions are terminated with an
// admin_shutdown error, and the server exits cleanly.
func (c *Cluster) Stop(t testing.TB) { c.stop(t, "fast") }

func (c *Cluster) stop(t testing.TB, mode string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err != nil {
		return // not running
	}
	c.pg(t, "pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", c.data())
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// socketPort names the cluster's socket file (.s.PGSQL.5432): the directory is the test's own.
const socketPort = 5432

func (c *Cluster) url(db string) string {
	q := url.Values{"host": {c.dir}, "port": {strconv.Itoa(socketPort)}, "sslmode": {"disable"}, "connect_timeout": {"2"}}
	return "postgres://postgres@/" + db + "?" + q.Encode()
}

// pg runs one of the server programs as the cluster's owner, failing t with its output.
func (c *Cluster) pg(t testing.TB, program string, args ...string) {
	t.Helper()
	// #nosec G204 -- the program is a fixed PostgreSQL tool; the arguments are this test's own.
	cmd := exec.Command(filepath.Join(c.bin, program), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("pgtest: %s %v: %v\n%s\nserver log:\n%s", program, args, err, out, log)
	}
}

// noCluster skips t, or fails it when the environment requires the database.
func noCluster(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: cannot run a private PostgreSQL cluster: %v", err)
	if os.Getenv("TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// serverBinaries finds the directory of initdb and pg_ctl.
func serverBinaries() (string, error) {
	var dirs []string
	if d := os.Getenv("PG_BINDIR"); d != "" {
		dirs = append(dirs, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Highest version first; the glob sorts "9" after "15", so sort by number.
	slices.SortFunc(found, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range append(dirs, found...) {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb and pg_ctl not found (set PG_BINDIR)")
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path) // #nosec G703 -- a directory from PG_BINDIR, PATH or the packages' place.
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// serverCredential returns the user to run PostgreSQL as: nil (the test's own) unless the
// test runs as root, then the postgres system user.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and no postgres user to run the server as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user has ids %s:%s", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
