#!/usr/bin/env bash
# The Helm chart's checks, without a cluster (deploy/helm/regapi):
#   1. helm lint --strict, for the default values and with every option on
#      (deploy/testdata/full-values.yaml);
#   2. helm template for both, and for the oldest Kubernetes the chart supports;
#   3. wrong values refused at render time (values.schema.json, the chart's own checks);
#   4. the render tests of deploy/ (a module of its own): Helm's library renders the chart and
#      every object is decoded strictly into its Kubernetes API type, then checked.
# The helm command is a tool of the deploy module (the tool line of deploy/go.mod), at the
# version of the library the render tests use: the two share their compiled packages, and
# go tool keeps the built command in the Go build cache.
# The rendered manifests are left in bin/helm-check/. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

CHART="$PWD/deploy/helm/regapi"
FULL="$PWD/deploy/testdata/full-values.yaml"
OUT=bin/helm-check
helm() { go -C deploy tool helm "$@"; }
HELM_VERSION=$(go -C deploy list -m -f '{{.Version}}' helm.sh/helm/v4)

# Helm's own configuration and cache in a scratch folder: a local chart needs no repository,
# and the user's Helm settings must not change the result.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export HELM_CONFIG_HOME="$scratch/config" HELM_CACHE_HOME="$scratch/cache" HELM_DATA_HOME="$scratch/data"
mkdir -p "$OUT"

echo "== helm $HELM_VERSION"

echo "== helm lint --strict"
helm lint --strict "$CHART"
helm lint --strict -f "$FULL" "$CHART"

# kinds FILE: the rendered objects' kinds and names, one line each.
kinds() { awk '/^kind:/{k=$2} /^  name:/{if(k){print "   " k "/" $2; k=""}}' "$1"; }

echo "== helm template (default values)"
helm template regapi "$CHART" --namespace identity >"$OUT/default.yaml"
kinds "$OUT/default.yaml"
echo "== helm template (every option on: deploy/testdata/full-values.yaml)"
helm template regapi "$CHART" --namespace identity -f "$FULL" >"$OUT/full.yaml"
kinds "$OUT/full.yaml"
echo "== helm template for the oldest Kubernetes supported (1.30)"
helm template regapi "$CHART" --kube-version 1.30.0 -f "$FULL" >/dev/null
echo "   ok"

# refused WHAT ARGS...: helm template must fail, saying why.
refused() {
  local what=$1
  shift
  if helm template regapi "$CHART" "$@" >/dev/null 2>"$scratch/err"; then
    echo "FAIL: rendered although $what" >&2
    exit 1
  fi
  printf '   refused (%s): %s\n' "$what" "$(grep -m1 -E '^- at|execution error' "$scratch/err" | cut -c1-200)"
}
echo "== wrong values fail at render time"
refused "replicas is not a number" --set api.replicas=two
refused "a secret given as a value" --set-string config.DATABASE_URL=postgres://u:p@db/regapi
refused "a misspelt setting" --set-string config.MAIL_FORM=a@example.com
refused "a grace period shorter than preStop + 10 s" --set api.preStopSleepSeconds=15 --set api.terminationGracePeriodSeconds=20

echo "== render tests (deploy/: go vet, go test)"
(cd deploy && go vet ./... && go test -count=1 ./...)
