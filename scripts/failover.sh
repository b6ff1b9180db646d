#!/usr/bin/env bash
# PostgreSQL failover under load, as an operator runs it: a pg_auto_failover monitor and two
# PostgreSQL 15 nodes with synchronous replication (Debian's postgresql-15-auto-failover and
# pg-auto-failover-cli), on free local ports and in data folders of their own under a
# temporary folder, beside any existing cluster (the one on port 5432 is never touched).
# regapi runs on the multi-host URL
#   postgres://postgres@127.0.0.1:P1,127.0.0.1:P2/regapi?target_session_attrs=read-write
# with MAIL_PROVIDER=webhook, and a client (scripts/failover, go run) starts ~30 registrations
# a second, each retried after every 503 or lost answer with the same Idempotency-Key. Meanwhile
# the script performs a planned failover (pg_autoctl perform failover), then kills the
# primary's postmaster (SIGKILL), and checks: each 201 is on the new primary; each account got
# its email, under one key; no 500; no client got 409 email_taken for its own registration;
# regapi still runs and its outbox listener LISTENs on the primary; regapi logged no ERROR. It
# prints the table of the faults.
#
# Usage: scripts/failover.sh [--host-gone]
#   --host-gone   also kill the primary's whole node (pg_autoctl and PostgreSQL) and wait for
#                 the monitor to promote the standby: a minute more; not run in CI
#
# Needs: go, and Debian's packages postgresql-15, postgresql-15-auto-failover and
# pg-auto-failover-cli (installed with apt-get when missing and run as root). As root, the
# database processes run as the postgres user.
# Environment (optional): FAILOVER_RATE registrations per second (default 30).
# Exits 0 when every guarantee held, within about two minutes.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
export PG_CONFIG=$PGBIN/pg_config

say() { printf 'failover: %s\n' "$*"; }

# as_pg CMD... runs CMD as the owner of the database processes (postgres when run as root),
# with the work folder's pg_auto_failover configuration.
as_pg() {
  local env=(env "PATH=$PGBIN:$PATH" "PG_CONFIG=$PG_CONFIG"
    "XDG_CONFIG_HOME=$work/xdg/config" "XDG_DATA_HOME=$work/xdg/data" "XDG_RUNTIME_DIR=$work/xdg/run")
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "${env[@]}" "$@"
  else
    "${env[@]}" "$@"
  fi
}

# A fault, run by the client (scripts/failover): failover.sh __fault KIND WORK.
if [ "${1:-}" = __fault ]; then
  work=$3
  # shellcheck source=/dev/null
  . "$work/env"
  primary_data=$("$PGBIN/psql" "$DATABASE_URL" -qAtc "SELECT current_setting('data_directory')")
  case "$2" in
    planned) as_pg pg_autoctl perform failover --pgdata "$work/monitor" >"$work/perform-failover.log" 2>&1 ;;
    kill) kill -KILL "$(head -n 1 "$primary_data/postmaster.pid")" ;;
    host-gone)
      # The node's pg_autoctl (its process group), then its PostgreSQL (a session of its own).
      for node in node1 node2; do
        if [ "$work/$node" = "$primary_data" ]; then kill -KILL -- "-$(cat "$work/$node.pid")"; fi
      done
      kill -KILL "$(head -n 1 "$primary_data/postmaster.pid")" ;;
  esac
  exit 0
fi

host_gone=false
for arg in "$@"; do
  case "$arg" in
    --host-gone) host_gone=true ;;
    -h|--help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "failover: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
start=$SECONDS

if ! command -v pg_autoctl >/dev/null 2>&1 || [ ! -x "$PGBIN/postgres" ]; then
  [ "$(id -u)" = 0 ] || { echo "failover: install postgresql-15-auto-failover and pg-auto-failover-cli" >&2; exit 1; }
  say "installing Debian's pg_auto_failover packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-auto-failover pg-auto-failover-cli >/dev/null
fi

work=$(mktemp -d)
chmod 755 "$work"
mkdir -p "$work/xdg/config" "$work/xdg/data" "$work/xdg/run"
chmod 700 "$work/xdg/run"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
regapi_pid=""
node_pids=()

show_logs() {
  local f
  for f in "$work"/regapi.log "$work"/monitor.log "$work"/node1.log "$work"/node2.log "$work"/perform-failover.log; do
    if [ -s "$f" ]; then
      printf -- '--- last lines of %s:\n' "$(basename "$f")" >&2
      tail -n 15 "$f" >&2
    fi
  done
}
fail() {
  say "FAIL $*" >&2
  show_logs
  exit 1
}

cleanup() {
  local rc=$? pid
  if [ -n "$regapi_pid" ]; then
    kill -TERM "$regapi_pid" 2>/dev/null || true
    wait "$regapi_pid" 2>/dev/null || true
  fi
  # Each node (pg_autoctl and its PostgreSQL) runs in a process group of its own.
  for pid in "${node_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=false
    for pid in "${node_pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.2
  done
  for pid in "${node_pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  # A PostgreSQL whose pg_autoctl was killed (--host-gone) still runs: stop it by its pid.
  for pid in "$work"/*/postmaster.pid; do
    [ -f "$pid" ] && kill -KILL "$(head -n 1 "$pid")" 2>/dev/null || true
  done
  rm -rf "$work"
  say "done in $((SECONDS - start)) s"
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/lib/ports.sh
. scripts/lib/ports.sh

# wait_for SECONDS CMD... tries CMD every 0.2 s for up to SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

monitor_port=$(free_port 25431) || fail "no free port"
p1=$(free_port $((monitor_port + 1))) || fail "no free port"
p2=$(free_port $((p1 + 1))) || fail "no free port"
api_port=$(free_port 28080) || fail "no free port"
hook_port=$(free_port $((api_port + 1))) || fail "no free port"

# run_node NAME starts pg_autoctl for $work/NAME in a process group of its own (setsid runs a
# new bash: it gets as_pg's definition and its variables).
run_node() {
  setsid bash -c "$(declare -f as_pg); $(printf 'PGBIN=%q PG_CONFIG=%q work=%q' "$PGBIN" "$PG_CONFIG" "$work");
    as_pg pg_autoctl run --pgdata \"\$work/$1\"" >>"$work/$1.log" 2>&1 &
  node_pids+=("$!")
  echo "$!" >"$work/$1.pid"
}

# states prints the reported states of the nodes, in node order.
monitor_url="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"
states() { "$PGBIN/psql" "$monitor_url" -qAtc "SELECT string_agg(reportedstate::text, ' ' ORDER BY nodeid) FROM pgautofailover.node"; }
states_are() { [ "$(states 2>/dev/null)" = "$1" ]; }

say "monitor on port $monitor_port, nodes on $p1 and $p2 (work folder $work)"
as_pg pg_autoctl create monitor --pgdata "$work/monitor" --pgport "$monitor_port" --hostname 127.0.0.1 \
  --auth trust --no-ssl >"$work/monitor.log" 2>&1 || fail "pg_autoctl create monitor"
run_node monitor
wait_for 30 "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$monitor_port" || fail "the monitor did not start"
wait_for 30 states || fail "the monitor does not answer"

for n in 1 2; do
  port_var="p$n"
  as_pg pg_autoctl create postgres --pgdata "$work/node$n" --pgport "${!port_var}" --hostname 127.0.0.1 \
    --name "node$n" --auth trust --no-ssl --dbname regapi --monitor "$monitor_url" \
    >"$work/node$n.log" 2>&1 || fail "pg_autoctl create postgres node$n"
  run_node "node$n"
  if [ "$n" = 1 ]; then
    wait_for 60 states_are single || fail "node1 did not become the single primary: $(states)"
  fi
done
wait_for 90 states_are "primary secondary" || fail "the nodes did not reach primary and secondary: $(states)"
sync_names=$("$PGBIN/psql" "postgres://postgres@127.0.0.1:$p1/regapi?sslmode=disable" -qAtc "SHOW synchronous_standby_names")
[ -n "$sync_names" ] || fail "replication is not synchronous"
say "primary and synchronous standby ($sync_names) ready after $((SECONDS - start)) s"

DATABASE_URL="postgres://postgres@127.0.0.1:$p1,127.0.0.1:$p2/regapi?sslmode=disable&target_session_attrs=read-write"
printf 'DATABASE_URL=%q\nwork=%q\n' "$DATABASE_URL" "$work" >"$work/env"

CGO_ENABLED=0 go build -trimpath -o "$work/regapi" ./cmd/regapi || fail "go build ./cmd/regapi"
export DATABASE_URL HTTP_ADDR="127.0.0.1:$api_port" MAIL_PROVIDER=webhook \
  WEBHOOK_URL="http://127.0.0.1:$hook_port/emails" WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64)" \
  CODE_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" RATE_LIMIT_PER_MINUTE=0 \
  ARGON2_MEMORY_KIB=4096 ARGON2_ITERATIONS=1
# A cheap password hash: the database is under test, not the CPU, which three PostgreSQL
# servers, regapi and the client share (the retries of an outage come back all at once).
"$work/regapi" migrate up >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; fail "regapi migrate up"; }
"$work/regapi" serve >"$work/regapi.log" 2>&1 &
regapi_pid=$!
say "regapi serves on 127.0.0.1:$api_port"

faults=(-fault "planned (\`perform failover\`)=bash scripts/failover.sh __fault planned $work"
  -fault "primary postmaster killed=bash scripts/failover.sh __fault kill $work")
if $host_gone; then
  faults+=(-fault "primary host gone=bash scripts/failover.sh __fault host-gone $work")
fi
client_rc=0
go run ./scripts/failover -api "http://127.0.0.1:$api_port" -webhook-addr "127.0.0.1:$hook_port" \
  -database-url "$DATABASE_URL" -rate "${FAILOVER_RATE:-30}" "${faults[@]}" || client_rc=$?

kill -0 "$regapi_pid" 2>/dev/null || fail "regapi is no longer running"
say "regapi still runs; its log: $(grep -c '"level":"ERROR"' "$work/regapi.log" || true) ERROR, $(grep -c '"level":"WARN"' "$work/regapi.log" || true) WARN lines; the outages it noticed:"
grep -E '"msg":"database (unavailable|available again|still unavailable)' "$work/regapi.log" | grep -v '"level":"DEBUG"' |
  sed 's/^{"time":"[^"]*",/  {/' || true
if grep -q '"level":"ERROR"' "$work/regapi.log"; then
  grep '"level":"ERROR"' "$work/regapi.log" | head -n 5 >&2
  fail "regapi logged ERROR during routine failovers"
fi
[ "$client_rc" = 0 ] || fail "a guarantee did not hold (see the client's output above)"
say "passed"
