#!/usr/bin/env bash
# Makes sure every base image that Dockerfile and compose.yaml name exists on the local
# engine: an image already there is kept; a missing one is pulled; when it cannot be pulled
# (no registry reachable), a stand-in is built from the recipes in this directory and
# tagged with the official name. Stand-ins carry the label regapi.standin.
#
# Usage: scripts/docker-standins/build.sh [--standins=auto|always|never]
#   auto    (default) pull what is missing, build a stand-in only when the pull fails
#   always  build stand-ins for what is missing, without trying to pull
#   never   pull what is missing; fail when that fails
#
# Stand-ins need (as root): debootstrap, and Go for the Mailpit stand-in
# (scripts/install-tool.sh installs it into the tools cache).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
mode=auto
for arg in "$@"; do
  case "$arg" in
    --standins=auto|--standins=always|--standins=never) mode="${arg#--standins=}" ;;
    -h|--help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

# shellcheck source=versions
. "$root/versions"
BASE=regapi-standin/debian:bookworm
# The images the files name, each with its stand-in's recipe.
declare -A recipe=(
  [golang:1.26]=golang
  [postgres:17-alpine]=postgres
  ["axllent/mailpit:$MAILPIT_VERSION"]=mailpit
  [gcr.io/distroless/static-debian12:nonroot]=distroless
)

log() { printf 'standins: %s\n' "$*"; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

# named_images prints every image Dockerfile's FROM lines and compose.yaml's image: lines
# name, except the images compose.yaml builds itself.
named_images() {
  sed -n 's/^FROM[[:space:]]\+\([^[:space:]]\+\).*/\1/p' "$root/Dockerfile"
  sed -n 's/^[[:space:]]*image:[[:space:]]*\([^[:space:]]\+\).*/\1/p' "$root/compose.yaml" |
    grep -v -e "^regapi:" -e "^regapi-signup:" -e "^regapi-test:" -e "^scratch$"
}

# build_base makes the Debian stand-in: debootstrap's minimal bookworm with the CA
# certificates of this machine (its outbound TLS may be re-signed) and its apt proxy, if any.
build_base() {
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local rootfs="$work/rootfs"
  log "debootstrap --variant=minbase bookworm (about 2 minutes)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; return 1; }
  echo 'deb http://deb.debian.org/debian-security bookworm-security main' >>"$rootfs/etc/apt/sources.list"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  apt-config dump | grep -i '^Acquire::\(https\?::\)\?Proxy ' >"$rootfs/etc/apt/apt.conf.d/90proxy" || rm -f "$rootfs/etc/apt/apt.conf.d/90proxy"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' -c 'LABEL regapi.standin=debian:bookworm' - "$BASE" >/dev/null
}

# context_for prints the build context directory of a recipe.
context_for() {
  case "$1" in
    golang)
      mkdir -p "$work/golang" && cp -a "$(go env GOROOT)" "$work/golang/go" && echo "$work/golang" ;;
    mailpit)
      local bin
      bin=$(bash "$root/scripts/install-tool.sh" mailpit "github.com/axllent/mailpit@$MAILPIT_VERSION") &&
        mkdir -p "$work/mailpit" && cp "$bin" "$work/mailpit/mailpit" && echo "$work/mailpit" ;;
    *) echo "$here" ;;
  esac
}

build_standin() { # IMAGE
  local name="${recipe[$1]:-}"
  log "building stand-in $1"
  # The classic builder: it needs no BuildKit frontend or buildx, and the recipes are plain.
  DOCKER_BUILDKIT=0 docker build --build-arg "MAILPIT_VERSION=$MAILPIT_VERSION" -t "$1" -f "$here/$name.Dockerfile" "$(context_for "$name")" >"$work/$name.log" 2>&1 ||
    { tail -n 30 "$work/$name.log" >&2; return 1; }
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

missing=()
for image in $(named_images | sort -u); do
  if have "$image"; then
    standin=$(docker image inspect -f '{{index .Config.Labels "regapi.standin"}}' "$image")
    log "$image present${standin:+ (stand-in)}"
    continue
  fi
  if [ "$mode" != always ] && docker pull -q "$image" >/dev/null 2>&1; then
    log "$image pulled"
    continue
  fi
  [ "$mode" != never ] || { log "$image: pull failed and --standins=never" >&2; exit 1; }
  [ -n "${recipe[$image]:-}" ] || { log "no stand-in recipe for $image: add one to $here" >&2; exit 1; }
  missing+=("$image")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
have "$BASE" || build_base
# The stand-ins share only the base: they build at once (mostly apt downloads), each with its
# own log and context directory.
pids=()
for image in "${missing[@]}"; do
  build_standin "$image" &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
exit "$failed"
