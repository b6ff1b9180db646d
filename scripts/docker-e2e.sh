#!/usr/bin/env bash
# The README's Docker path, run for real on a Docker engine, step by step:
#   engine (installed and started when none runs), docker compose v2, the base images
#   (stand-ins built when no registry can be reached), both compose CLIs' config,
#   docker compose up --build -d --wait, the walkthrough with curl (the code read from
#   Mailpit's API), docker compose run --rm test, two workers delivering a registration's
#   email while the api is down, docker compose stop (every container exits 0 within 10 s),
#   down + up keeps the account, down -v removes it, and docker-compose v1 up + walkthrough.
# One PASS/FAIL line per step with its duration, then "N passed, N failed"; exit status 0
# only when every step passed. Whatever it started is stopped and removed at the end, even
# after a failure (images are kept: they are the cache of the next run).
#
# Usage: scripts/docker-e2e.sh [--standins=auto|always|never] [--keep-logs]
#   --standins   see scripts/docker-standins/build.sh (default auto: pull, else stand-in)
#   --keep-logs  keep the directory with every step's output even when all passed
#
# It uses the published ports of compose.yaml (API_PORT, MAILPIT_PORT: 8080, 8025) and the
# project name COMPOSE_PROJECT_NAME (default here: regapi-e2e, apart from a developer's stack).
set -uo pipefail
cd "$(dirname "$0")/.."

standins=--standins=auto
keep_logs=false
for arg in "$@"; do
  case "$arg" in
    --standins=*) standins="$arg" ;;
    --keep-logs) keep_logs=true ;;
    -h|--help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "docker-e2e: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/regapi-tools/bin"
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-regapi-e2e}"
VCS_REVISION=$(git rev-parse HEAD 2>/dev/null || true)
export VCS_REVISION
# The test service uses this machine's Go module and build caches (compose.yaml's
# TEST_GOMODCACHE, TEST_GOCACHE), when it has Go: nothing is downloaded or compiled twice,
# and what the container compiles (with -race) serves make test here too. The named
# volumes, which down -v at the end removes, would start empty every run.
if command -v go >/dev/null; then
  TEST_GOMODCACHE="${TEST_GOMODCACHE:-$(go env GOMODCACHE)}"
  TEST_GOCACHE="${TEST_GOCACHE:-$(go env GOCACHE)}"
  export TEST_GOMODCACHE TEST_GOCACHE
fi
api="http://127.0.0.1:${API_PORT:-8080}"
mailpit_url="http://127.0.0.1:${MAILPIT_PORT:-8025}"
password="correct horse battery staple"
alice="alice-$$@example.com"
work=$(mktemp -d)
passed=0
failed=0

# shellcheck source=scripts/lib/walkthrough.sh
. scripts/lib/walkthrough.sh
# shellcheck source=scripts/lib/docker-setup.sh
. scripts/lib/docker-setup.sh

# fail ends the step being run (each runs in a subshell) with a message.
fail() { echo "FAILED: $*" >&2; exit 1; }

# step NAME FUNCTION [--in-main] runs FUNCTION in a subshell with set -e (or, --in-main, in
# this shell, so that what it starts stays this shell's child), its output in the step's log,
# and prints one PASS/FAIL line with the duration; a failed step's last log lines follow.
step() {
  local name="$1" log start rc
  log="$work/$(printf '%02d' $((passed + failed + 1)))-${2}.log"
  start=$EPOCHREALTIME
  if [ "${3:-}" = --in-main ]; then
    "$2" >"$log" 2>&1
  else
    (set -e; "$2") >"$log" 2>&1
  fi
  rc=$?
  local secs
  secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    printf 'PASS  %-58s %7ss\n' "$name" "$secs"
    if $summarize_log && [ ! -e "$log.summary" ]; then
      grep -v -e '^go: downloading' -e '^debconf:' "$log" | tail -n 6 >"$log.summary"
    fi
    [ ! -s "$log.summary" ] || sed 's/^/      /' "$log.summary"
  else
    failed=$((failed + 1))
    printf 'FAIL  %-58s %7ss\n' "$name" "$secs"
    tail -n 25 "$log" | sed 's/^/      | /'
  fi
  return "$rc"
}

compose() { docker compose "$@"; }

cleanup() {
  trap - EXIT INT TERM
  if [ -n "${compose_build_pid:-}" ] && kill -0 "$compose_build_pid" 2>/dev/null; then
    kill $(pgrep -P "$compose_build_pid") "$compose_build_pid" 2>/dev/null
  fi
  {
    docker compose --profile worker --profile test down -v --remove-orphans
    docker-compose down -v --remove-orphans
  } >"$work/cleanup.log" 2>&1
  stop_engine
  if [ "$failed" -gt 0 ] || $keep_logs; then
    echo "logs of every step: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_images() { bash scripts/docker-standins/build.sh "$standins"; }

configs() {
  compose config -q
  compose --profile test --profile worker config -q
  if have_compose_v1; then
    docker-compose config -q
    docker-compose --profile test --profile worker config -q
  fi
}

up() { compose up --build -d --wait --wait-timeout 300; }

# walkthrough: the README's curl commands, the code read from Mailpit's API.
walkthrough() {
  request GET /readyz
  expect 200 "GET /readyz"
  register "$alice" "$password"
  wait_for_code "$alice" 30
  activate "$alice" "$password" "$code"
  expect_active "$alice" "$password"
}

# after_signup: the README's walkthrough steps 5 to 10 on an account of their own (alice must
# stay as she is for the later steps): forgot password, change password, change address,
# delete.
after_signup() {
  local carol="carol-$$@example.com" moved="carol-moved-$$@example.org" pw="purple monkey dishwasher"
  register "$carol" "$password"
  wait_for_code "$carol" 30
  activate "$carol" "$password" "$code"
  forgot_password "$carol" "$password" "$pw"
  request PUT /v1/users/me/password "{\"password\":\"$password\"}" "$carol:$pw"
  expect 204 "PUT /v1/users/me/password"
  expect_active "$carol" "$password"
  change_address "$carol" "$password" "$moved"
  request DELETE /v1/users/me "" "$moved:$password"
  expect 204 "DELETE /v1/users/me"
  request GET /v1/users/me "" "$moved:$password"
  expect 401 "GET /v1/users/me after the deletion"
}

# test_service runs the compose test service; its go test package lines become the summary.
test_service() {
  local rc=0
  compose run --rm test | tee "$work/test.out" || rc=$?
  {
    grep -E '^(ok|FAIL|---)' "$work/test.out" | grep -v '^--- PASS' || true
    printf 'go test: %s packages ok, %s failed\n' \
      "$(grep -c '^ok' "$work/test.out")" "$(grep -c '^FAIL' "$work/test.out")"
  } >"$log.summary"
  return "$rc"
}

# workers: with the api stopped and Mailpit down at registration, only the two workers can
# deliver the email (once Mailpit is back); the api then activates with the code.
workers() {
  local bob="bob-$$@example.com"
  compose --profile worker up -d --scale worker=2
  [ "$(compose --profile worker ps -q --status running worker | wc -l)" = 2 ] || fail "want 2 running workers"
  compose stop mailpit
  register "$bob" "$password"
  compose stop api
  compose start mailpit
  wait_for_code "$bob" 90
  compose --profile worker logs worker | grep '"email sent"' || fail "no worker logged the delivery"
  compose up -d --wait api
  activate "$bob" "$password" "$code"
}

# stop: docker compose stop; every container of the stack exits 0 (SIGTERM reached the
# binary, which drained and exited; 137 would mean it was killed) within 10 s.
stop() {
  local start=$SECONDS c bad=0
  compose --profile worker stop
  echo "docker compose stop took $((SECONDS - start)) s"
  [ $((SECONDS - start)) -le 10 ] || fail "docker compose stop took more than 10 s"
  for c in $(compose --profile worker ps -a -q); do
    docker inspect -f '{{.Name}} exit {{.State.ExitCode}} (finished {{.State.FinishedAt}})' "$c"
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$c")" = 0 ] || bad=1
  done
  [ "$bad" = 0 ] || fail "a container did not exit 0"
}

keeps_account() {
  compose --profile worker down
  compose up -d --wait --wait-timeout 120
  expect_active "$alice" "$password"
}

removes_account() {
  compose down -v
  if docker volume ls -q | grep -x "${COMPOSE_PROJECT_NAME}_pgdata" >/dev/null; then fail "volume pgdata is still there"; fi
  compose up -d --wait --wait-timeout 120
  request GET /v1/users/me "" "$alice:$password"
  expect 401 "GET /v1/users/me after down -v"
  compose down -v
}

# compose_v1: Debian's docker-compose 1.29 has no --wait: up -d, then wait for the api's
# health check, then the walkthrough again.
compose_v1() {
  docker-compose up -d
  local id
  id=$(docker-compose ps -q api)
  healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]; }
  timeout=120 wait_for healthy || fail "the api did not become healthy under docker-compose"
  alice="alice-v1-$$@example.com" walkthrough
  docker-compose down -v
}

# Steps run as plain commands, never as the condition of if, && or ||: there bash would
# ignore set -e inside them.
echo "docker-e2e: project $COMPOSE_PROJECT_NAME, commit ${VCS_REVISION:-unknown}"
# The setup steps' PASS lines are followed by what their output says (versions, images).
summarize_log=true
step "engine (docker info; dockerd started when none runs)" ensure_engine --in-main
# Building the Compose plugin takes minutes of CPU; the base images mostly wait for the
# network: the plugin builds in the background meanwhile.
compose_build_pid=""
if needs_compose_v2; then
  build_compose_v2 >"$work/compose-build.log" 2>&1 &
  compose_build_pid=$!
fi
compose_v2() {
  if [ -n "$compose_build_pid" ]; then
    wait "$compose_build_pid"
    local rc=$?
    grep -v '^go: downloading' "$work/compose-build.log"
    [ "$rc" = 0 ] || return 1
  fi
  ensure_compose_v2
}
setup=(
  "docker-compose v1 (Debian's 1.29 when installed here)" ensure_compose_v1
  "base images ($standins)" setup_images
  "docker compose v2 (built here meanwhile when missing)" compose_v2
  "config -q with docker compose v2 and docker-compose v1" configs
  "docker compose up --build -d --wait" up
)
for ((i = 0; i < ${#setup[@]}; i += 2)); do
  if [ "$failed" -gt 0 ]; then break; fi
  # Compose's output is no summary.
  [ "${setup[i + 1]}" != up ] || summarize_log=false
  # The Compose step waits for a child of this shell: it runs here, not in a subshell.
  step "${setup[i]}" "${setup[i + 1]}" "$([ "${setup[i + 1]}" != compose_v2 ] || echo --in-main)"
done
if [ "$failed" = 0 ]; then
  step "walkthrough: register, code from Mailpit, activate, me" walkthrough
  step "walkthrough after sign-up: forgot password, change password, change address, delete" after_signup
  step "docker compose run --rm test" test_service
  step "--profile worker up --scale worker=2, delivery by workers" workers
  step "docker compose stop: every container exits 0 within 10 s" stop
  step "down, then up: the account is still there" keeps_account
  step "down -v: the volume and the account are gone" removes_account
  if have_compose_v1; then step "docker-compose v1: up -d, healthy, walkthrough, down -v" compose_v1; fi
fi
echo "docker-e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
