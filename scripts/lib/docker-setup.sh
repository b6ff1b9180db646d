# Engine and Compose v2 for scripts/docker-e2e.sh (sourced, not run). The caller defines
# $work (a scratch directory) and $TOOLS (the tools cache).

# shellcheck source=versions
. ./versions
engine_pid=""

# ensure_engine makes sure a Docker engine answers: when none does, it installs Debian's
# (docker.io; as root, with apt) if dockerd is missing and starts dockerd in the background,
# remembering its PID in $engine_pid so that stop_engine stops what this script started. Run
# it in the script's own shell (not a subshell), so that dockerd is the script's child.
ensure_engine() {
  if docker info >/dev/null 2>&1; then
    echo "an engine is running: $(docker version -f '{{.Server.Version}}')"
    return
  fi
  if ! command -v dockerd >/dev/null; then
    echo "no Docker engine: installing Debian's docker.io"
    apt_install docker.io || return 1
  fi
  dockerd >"$work/dockerd.log" 2>&1 &
  engine_pid=$!
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { echo "started dockerd (pid $engine_pid): $(docker version -f '{{.Server.Version}}')"; return; }
    kill -0 "$engine_pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 20 "$work/dockerd.log"
  return 1
}

apt_install() {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ensure_compose_v1 makes sure a docker-compose command exists: Debian's 1.29 is installed
# when apt can (as root); elsewhere a missing one only skips the v1 steps (have_compose_v1).
have_compose_v1() { command -v docker-compose >/dev/null; }
ensure_compose_v1() {
  if ! have_compose_v1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's docker-compose (v1)"
    apt_install docker-compose || return 1
  fi
  if have_compose_v1; then
    docker-compose version --short
  else
    echo "no docker-compose: the v1 steps are skipped"
  fi
}

# stop_engine stops the dockerd that ensure_engine started, if any, by its PID.
stop_engine() {
  [ -n "$engine_pid" ] || return 0
  kill -TERM "$engine_pid" 2>/dev/null || return 0
  # dockerd stops its containers first; SIGKILL only if it still runs after 30 s.
  (sleep 30 && kill -KILL "$engine_pid" 2>/dev/null) &
  local watchdog=$!
  wait "$engine_pid" 2>/dev/null
  kill "$watchdog" 2>/dev/null
  engine_pid=""
}

# needs_compose_v2 reports whether `docker compose` is missing or not v2.
needs_compose_v2() { ! docker compose version 2>/dev/null | grep ' v2\.' >/dev/null; }

compose_bin="$TOOLS/docker-compose-$COMPOSE_VERSION"

# build_compose_v2 builds the plugin from source into $compose_bin unless it is cached there
# (several minutes: scripts/docker-e2e.sh runs it in the background meanwhile). go install
# refuses the module (it has exclude directives), so it is downloaded and built with -mod=mod,
# with a private module cache that is removed afterwards. The build cache is the machine's:
# the standard library, compiled static and trimmed, is shared with make build's.
build_compose_v2() (
  [ ! -x "$compose_bin" ] || exit 0
  echo "building Docker Compose $COMPOSE_VERSION from source into $compose_bin"
  export GOMODCACHE="$work/compose-mod" GOFLAGS=-modcacherw
  set -e
  dir=$(cd "$work" && go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ]
  cp -r "$dir" "$work/compose-src" && chmod -R u+w "$work/compose-src"
  mkdir -p "$TOOLS"
  cd "$work/compose-src"
  CGO_ENABLED=0 go build -mod=mod -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$compose_bin.tmp" ./cmd
  mv "$compose_bin.tmp" "$compose_bin"
  rm -rf "$work/compose-src" "$work/compose-mod"
)

# ensure_compose_v2 makes `docker compose` a v2 CLI: when the engine's CLI has none, it
# installs the plugin from build_compose_v2 into the Docker CLI's plugin directory.
ensure_compose_v2() {
  if needs_compose_v2; then
    build_compose_v2 || return 1
    local plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
    mkdir -p "$plugins" && ln -sf "$compose_bin" "$plugins/docker-compose" || return 1
  fi
  docker compose version
}
