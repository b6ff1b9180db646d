#!/usr/bin/env bash
# Installs a Go command into the tools cache once per version and prints its path.
#
# Usage: scripts/install-tool.sh NAME PACKAGE@VERSION
#   e.g. scripts/install-tool.sh mailpit github.com/axllent/mailpit@v1.27.11
#
# The cache is ${XDG_CACHE_HOME:-$HOME/.cache}/regapi-tools/bin: the command is kept as
# NAME-VERSION, so that a new version in the versions file installs anew, and NAME links to
# it, for callers that find it on PATH. It is built into a scratch directory and moved into
# place, so that two installs at once (CI's background job and a stage) never leave a
# half-written file.
set -euo pipefail
[ "$#" = 2 ] || { sed -n '2,/^set /s/^# \{0,1\}//p' "$0" >&2; exit 2; }
name=$1 pkg=$2
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/regapi-tools/bin"
file="$name-${pkg##*@}"
if [ ! -x "$TOOLS/$file" ]; then
  mkdir -p "$TOOLS"
  tmp=$(mktemp -d "$TOOLS/.install.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "installing $pkg into $TOOLS/$file" >&2
  GOBIN="$tmp" go install "$pkg"
  mv "$tmp/$(basename "${pkg%@*}")" "$TOOLS/$file"
fi
ln -sfn "$file" "$TOOLS/$name"
echo "$TOOLS/$file"
