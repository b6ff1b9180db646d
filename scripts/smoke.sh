#!/usr/bin/env bash
# Smoke test of the whole system, run natively: the same commands and environment that the
# containers of compose.yaml run (migrate up, serve with MAIL_PROVIDER=mailpit), against a local
# PostgreSQL and Mailpit, then the README walkthrough with curl:
#   register -> read the code in Mailpit -> activate -> GET /v1/users/me shows active,
#   forgot password: reset request (an unknown address answered alike) -> read the reset code
#   -> confirm with a new password -> notice; password change -> notice; address change ->
#   read the code at the new address -> confirm -> notice to the old address; delete -> the
#   credentials fail and the address registers again,
# then SIGTERM, which must end the server with status 0 within 10 seconds; and finally
# `make run` twice with the Makefile's own settings: a code emailed before the restart still
# activates after it (make run's fixed development CODE_SECRET).
#
# Usage: scripts/smoke.sh [--with-tests]
#   --with-tests   afterwards also run the test suite as the compose test service does
#                  (go test -race -trimpath -count=1 ./... with TEST_* pointing at the same services)
#
# Environment (all optional):
#   SMOKE_ADMIN_URL   PostgreSQL URL of a role that may CREATE DATABASE; a throwaway database
#                     is created there and dropped at the end. Default: TEST_DATABASE_URL, else
#                     postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
#   DATABASE_URL      use this database as it is instead (nothing is created or dropped)
#   TEST_MAILPIT_URL  a running Mailpit to use; otherwise one is started on free local ports
#                     (the mailpit binary from PATH or the tools cache, installed there if missing)
#
# Needs: go, curl, make, setsid, and psql unless DATABASE_URL is given.
# Prints "smoke: N passed, 0 failed" and exits 0 when all is well.
set -euo pipefail

with_tests=false
for arg in "$@"; do
  case "$arg" in
    --with-tests) with_tests=true ;;
    -h|--help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "smoke: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
# shellcheck source=versions
. ./versions

passed=0
say() { printf 'smoke: %s\n' "$*"; }
ok() { passed=$((passed + 1)); say "ok   $*"; }
fail() {
  say "FAIL $*" >&2
  show_logs
  say "$passed passed, 1 failed"
  exit 1
}

work=$(mktemp -d)
serve_pid=""
mailpit_pid=""
created_db=""
admin_url=""

show_logs() {
  local f
  for f in "$work"/serve.log "$work"/mailpit.log; do
    if [ -s "$f" ]; then
      printf -- '--- last lines of %s:\n' "$(basename "$f")" >&2
      tail -n 30 "$f" >&2
    fi
  done
}

# shellcheck source=scripts/lib/walkthrough.sh
. scripts/lib/walkthrough.sh

# start_server CMD... runs CMD in a process group of its own (make run: make and its regapi),
# output to serve.log, and waits until regapi healthcheck passes.
start_server() {
  setsid "$@" >>"$work/serve.log" 2>&1 &
  serve_pid=$!
  server_up() { kill -0 "$serve_pid" 2>/dev/null && "$regapi" healthcheck; }
  timeout=30 wait_for server_up || fail "$* did not pass regapi healthcheck within 30 s"
}

# stop_server sends SIGTERM to the server's process group and sets $exit_status and
# $elapsed_ms; it fails when the server still runs 10 s later.
stop_server() {
  local start
  start=$(date +%s%N)
  kill -TERM -- "-$serve_pid"
  timeout=10 wait_for eval '! kill -0 "$serve_pid"' || fail "server still running 10 s after SIGTERM"
  set +e
  wait "$serve_pid"
  exit_status=$?
  set -e
  serve_pid=""
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
}

cleanup() {
  if [ -n "$serve_pid" ]; then
    kill -TERM -- "-$serve_pid" 2>/dev/null || true
    timeout=10 wait_for eval '! kill -0 "$serve_pid"' || kill -KILL -- "-$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  if [ -n "$mailpit_pid" ]; then
    kill -TERM "$mailpit_pid" 2>/dev/null || true
    wait "$mailpit_pid" 2>/dev/null || true
  fi
  if [ -n "$created_db" ]; then
    psql "$admin_url" -qAt -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$created_db\" WITH (FORCE)" >/dev/null 2>&1 ||
      say "could not drop database $created_db" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'fail "unexpected error on line $LINENO"' ERR

for tool in go curl make setsid; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

# shellcheck source=scripts/lib/ports.sh
. scripts/lib/ports.sh

# --- build --------------------------------------------------------------------------------
CGO_ENABLED=0 go build -trimpath -o bin/regapi ./cmd/regapi || fail "go build ./cmd/regapi"
regapi=bin/regapi
ok "built $regapi"

# --- database -----------------------------------------------------------------------------
if [ -n "${DATABASE_URL:-}" ]; then
  say "using DATABASE_URL as given"
else
  command -v psql >/dev/null || fail "psql is not installed (or set DATABASE_URL to an existing database)"
  admin_url="${SMOKE_ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}}"
  db="regapi_smoke_$$_${RANDOM}"
  psql "$admin_url" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null ||
    fail "cannot create a database through SMOKE_ADMIN_URL (is PostgreSQL running?)"
  created_db="$db"
  # The same URL with the new database as its path.
  base="${admin_url%%\?*}"
  query="${admin_url#"$base"}"
  DATABASE_URL="${base%/*}/$db$query"
  ok "created throwaway database $db"
fi

# --- Mailpit ------------------------------------------------------------------------------
if [ -n "${TEST_MAILPIT_URL:-}" ]; then
  mailpit_url="${TEST_MAILPIT_URL%/}"
  say "using Mailpit at $mailpit_url"
else
  mailpit=$(command -v mailpit || true)
  [ -n "$mailpit" ] || mailpit=$(bash scripts/install-tool.sh mailpit "github.com/axllent/mailpit@$MAILPIT_VERSION") ||
    fail "installing Mailpit"
  ui_port=$(free_port 18025) || fail "no free local port from 18025 on"
  smtp_port=$(free_port 11025) || fail "no free local port from 11025 on"
  "$mailpit" --listen "127.0.0.1:$ui_port" --smtp "127.0.0.1:$smtp_port" \
    --disable-version-check --quiet >"$work/mailpit.log" 2>&1 &
  mailpit_pid=$!
  mailpit_url="http://127.0.0.1:$ui_port"
  timeout=15 wait_for curl -fsS "$mailpit_url/readyz" || fail "Mailpit did not become ready"
  ok "started Mailpit on $mailpit_url"
fi

# --- the environment of the compose services ----------------------------------------------
# CODE_SECRET is compose.yaml's development default, so both runs behave alike.
code_secret=$(sed -n 's/.*CODE_SECRET:-\([0-9a-fA-F]\{64\}\)}.*/\1/p' compose.yaml | head -n 1)
[ -n "$code_secret" ] || fail "no CODE_SECRET default found in compose.yaml"
api_port=$(free_port 18080) || fail "no free local port from 18080 on"
export DATABASE_URL CODE_SECRET="$code_secret"
export HTTP_ADDR="127.0.0.1:$api_port" MAIL_PROVIDER=mailpit MAILPIT_URL="$mailpit_url"
api="http://127.0.0.1:$api_port"

# --- migrate (the migrate service), twice: it must be idempotent --------------------------
for round in first second; do
  "$regapi" migrate up >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; fail "migrate up ($round run)"; }
  ok "regapi migrate up ($round run)"
done

# --- serve (the api service) --------------------------------------------------------------
start_server "$regapi" serve
ok "regapi serve is up on $api, regapi healthcheck passes"

request GET /readyz
expect 200 "GET /readyz"
ok "GET /readyz -> 200 (database reachable)"

# --- the README walkthrough ---------------------------------------------------------------
email="smoke-$$-$RANDOM@example.com"
password="correct horse battery staple"

register "$email" "$password"
ok "POST /v1/users -> 201 pending"

wait_for_code "$email" 15
ok "read the code from the email in Mailpit"

activate "$email" "$password" "$code"
ok "POST /v1/users/me/activate with Basic Auth -> 200 active"

expect_active "$email" "$password"
ok "GET /v1/users/me -> 200 active"

# forgot your password? The answer for an unknown address is the same.
new_password="purple monkey dishwasher"
forgot_password "$email" "$password" "$new_password"
last=$(message_id "$email")
ok "POST /v1/password-resets -> 202 alike for an unknown address; confirm -> 200; the new password signs in, the old fails; notice ($subject)"

request PUT /v1/users/me/password "{\"password\":\"$password\"}" "$email:$new_password"
expect 204 "PUT /v1/users/me/password"
expect_active "$email" "$password"
wait_for_notice "$email" 15 "$last"
last=$(message_id "$email")
ok "PUT /v1/users/me/password -> 204; the new password signs in; notice ($subject)"

# change address: the code goes to the new address; the old one signs in until it is proved.
new_email="smoke-moved-$$-$RANDOM@example.org"
change_address "$email" "$password" "$new_email"
ok "POST /v1/users/me/email -> 202, code at the new address; confirm -> 200; the new address signs in, the old fails; notice names it masked"

request DELETE /v1/users/me "" "$new_email:$password"
expect 204 "DELETE /v1/users/me"
request GET /v1/users/me "" "$new_email:$password"
expect 401 "GET /v1/users/me after the deletion"
register "$new_email" "$password"
ok "DELETE /v1/users/me -> 204; the credentials fail and the address registers again"

# --- SIGTERM: exit 0 within 10 s ----------------------------------------------------------
stop_server
[ "$exit_status" = 0 ] || fail "regapi serve exited with status $exit_status after SIGTERM"
ok "SIGTERM -> exit 0 after ${elapsed_ms} ms"

# --- make run: a code survives a restart ----------------------------------------------------
# make run with its own settings (CODE_SECRET from the Makefile, not this script's), stopped
# and started again between the email and the activation, as the README's native quick start
# does when it switches to Mailpit. A per-process random secret would make the code fail (422).
email="smoke-restart-$$-$RANDOM@example.com"
start_server env -u CODE_SECRET make -s run
register "$email" "$password"
wait_for_code "$email" 15
stop_server
start_server env -u CODE_SECRET make -s run
activate "$email" "$password" "$code"
stop_server
ok "make run, restarted between registration and activation: the emailed code -> 200 active"

# --- optionally, the test suite as the compose test service runs it -----------------------
if $with_tests; then
  [ -n "$admin_url" ] || admin_url="${SMOKE_ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}}"
  TEST_DATABASE_URL="$admin_url" TEST_MAILPIT_URL="$mailpit_url" TEST_REQUIRE_SERVICES=1 \
    go test -race -trimpath -count=1 ./... || fail "go test -race -trimpath -count=1 ./..."
  ok "go test -race -trimpath -count=1 ./..."
fi

say "$passed passed, 0 failed"
