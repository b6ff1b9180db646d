#!/usr/bin/env bash
# regapi behind PgBouncer (Debian's pgbouncer, 1.18) in transaction pooling mode, set up as
# the README's "High availability" section says: DATABASE_URL through PgBouncer with
# default_query_exec_mode=exec, PgBouncer ignoring the startup parameters lock_timeout and
# statement_timeout (the database sets them instead), migrations straight to PostgreSQL. It
# runs the walkthrough register -> email (webhook, received by scripts/failover) -> activate
# through PgBouncer, then reports whether regapi's outbox listener holds a LISTEN session on
# the server (through a transaction pool it cannot: emails then go out at the next poll).
#
# Usage: scripts/pgbouncer.sh
# Environment (optional): PGBOUNCER_ADMIN_URL, a PostgreSQL URL of a role that may CREATE
# DATABASE (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable): a throwaway
# database is created there and dropped at the end.
# Needs: go, psql, pgbouncer (installed with apt-get when missing and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'pgbouncer: %s\n' "$*"; }
fail() {
  say "FAIL $*" >&2
  for f in "$work"/regapi.log "$work"/pgbouncer.log; do
    [ -s "$f" ] && { printf -- '--- last lines of %s:\n' "$(basename "$f")" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}

if ! command -v pgbouncer >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "pgbouncer: install Debian's pgbouncer" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi

admin_url="${PGBOUNCER_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
db="regapi_pgbouncer_$$_${RANDOM}"
work=$(mktemp -d)
chmod 755 "$work"
regapi_pid=""
created=false
cleanup() {
  [ -n "$regapi_pid" ] && { kill -TERM "$regapi_pid" 2>/dev/null || true; wait "$regapi_pid" 2>/dev/null || true; }
  [ -f "$work/pgbouncer.pid" ] && kill -TERM "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true
  $created && { psql "$admin_url" -qAt -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true; }
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/lib/ports.sh
. scripts/lib/ports.sh
bouncer_port=$(free_port 26432) || fail "no free port"
api_port=$(free_port 26080) || fail "no free port"
hook_port=$(free_port $((api_port + 1))) || fail "no free port"

psql "$admin_url" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null || fail "cannot create a database"
created=true
# What PgBouncer cannot pass on as startup parameters, the database sets for every session.
psql "$admin_url" -qAt -v ON_ERROR_STOP=1 -c "ALTER DATABASE \"$db\" SET lock_timeout = '3s'" \
  -c "ALTER DATABASE \"$db\" SET statement_timeout = '5s'" >/dev/null
base="${admin_url%%\?*}"
direct_url="${base%/*}/$db?sslmode=disable"
server=$(psql "$admin_url" -qAt -c "SELECT coalesce(host(inet_server_addr()), '127.0.0.1') || ' ' || inet_server_port()")
server_user=$(psql "$admin_url" -qAt -c "SELECT current_user")

cat >"$work/pgbouncer.ini" <<INI
[databases]
regapi = host=${server% *} port=${server#* } dbname=$db user=$server_user

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = any
pool_mode = transaction
; pgx sends these; PgBouncer 1.18 refuses a connection that sets them (the database does).
ignore_startup_parameters = lock_timeout, statement_timeout
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
if [ "$(id -u)" = 0 ]; then
  chown -R postgres: "$work"
  runuser -u postgres -- pgbouncer -d "$work/pgbouncer.ini" || fail "pgbouncer did not start"
else
  pgbouncer -d "$work/pgbouncer.ini" || fail "pgbouncer did not start"
fi
say "PgBouncer $(pgbouncer --version | head -n 1 | awk '{print $2}') on 127.0.0.1:$bouncer_port, transaction pooling"

CGO_ENABLED=0 go build -trimpath -o "$work/regapi" ./cmd/regapi || fail "go build ./cmd/regapi"
# Migrations take a session lock: straight to PostgreSQL.
DATABASE_URL="$direct_url" "$work/regapi" migrate up >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; fail "migrate up"; }
export DATABASE_URL="postgres://$server_user@127.0.0.1:$bouncer_port/regapi?sslmode=disable&default_query_exec_mode=exec"
export HTTP_ADDR="127.0.0.1:$api_port" MAIL_PROVIDER=webhook WEBHOOK_URL="http://127.0.0.1:$hook_port/emails" \
  WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64)" CODE_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$work/regapi" serve >"$work/regapi.log" 2>&1 &
regapi_pid=$!

go run ./scripts/failover -walkthrough -api "http://127.0.0.1:$api_port" -webhook-addr "127.0.0.1:$hook_port" ||
  fail "the walkthrough through PgBouncer"
kill -0 "$regapi_pid" 2>/dev/null || fail "regapi stopped"
if grep -q '"level":"ERROR"' "$work/regapi.log"; then
  grep '"level":"ERROR"' "$work/regapi.log" | head -n 5 >&2
  fail "regapi logged ERROR behind PgBouncer"
fi
listening=$(psql "$admin_url" -qAt -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND query ILIKE 'LISTEN %' AND state = 'idle'")
say "LISTEN sessions of regapi on the server: $listening (through a transaction pool the listener gets no notifications: emails go out at the dispatcher's poll, every second)"
say "passed"
