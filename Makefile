# Native developer commands. With only Docker installed, see the README's quick start instead.

DATABASE_URL ?= postgres://postgres@localhost:5432/regapi?sslmode=disable
export DATABASE_URL

# DEVELOPMENT ONLY: a fixed, public key for activation codes (compose.yaml's default too), so
# that a code emailed before a restart still works after it. Production sets its own secret
# (openssl rand -hex 32): anyone who knows this one can forge codes.
CODE_SECRET ?= 72656761706920646576656c6f706d656e74206b65793a207265706c61636521
export CODE_SECRET

GO       ?= go
include versions

.PHONY: help build run test lint fuzz openapi-lint fmt docker-test helm-check failover clean bench bench-smoke bench-scale

## help: list the targets
help:
	@sed -n 's/^## \{0,1\}//p' $(MAKEFILE_LIST)

## build: compile bin/regapi (static, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o bin/regapi ./cmd/regapi

## run: apply migrations and serve on :8080 with the log email provider (development CODE_SECRET)
run: build
	./bin/regapi migrate up
	./bin/regapi serve

## test: the whole test suite, with the race detector
# -trimpath, as compose.yaml's test service: the compiled packages do not depend on where the
# checkout and the module cache are, so the container's build and this one share the cache.
test:
	$(GO) test -race -trimpath -count=1 ./...

## lint: what CI lints: gofmt, go vet, staticcheck and gosec (versions from the versions file;
##       each tool is installed once per version by scripts/install-tool.sh)
# gosec skips bench/, a module of developer tooling that is never shipped: its findings (result
# files' modes, unchecked Close in teardown) do not apply. Each exclusion is justified inline.
# The packages are compiled static and trimmed, as make build compiles them, so that vet,
# staticcheck, gosec and the build share one compilation of the dependencies (regapi has no cgo).
lint: export CGO_ENABLED = 0
lint: export GOFLAGS := $(GOFLAGS) -trimpath
lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$$(bash scripts/install-tool.sh staticcheck honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)) ./...
	$$(bash scripts/install-tool.sh gosec github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)) -quiet -exclude-dir=bench ./...

## fuzz: every Fuzz target under internal/, FUZZTIME each. A count of inputs (20000x, 1 to 6 s
## a target here), not a duration: go1.26's fuzzer can fail a clean run with "context deadline
## exceeded" when a duration ends while a worker is busy (go.dev/issue/75804, fixed in go1.27).
FUZZTIME ?= 20000x
fuzz:
	@for dir in $$(grep -l '^func Fuzz' internal/*/*_test.go | xargs -n1 dirname | sort -u); do \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | cut -c6-); do \
			echo "== $$dir $$t"; $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) ./$$dir || exit 1; \
		done; \
	done

## openapi-lint: the OpenAPI document against Redocly's recommended rules (needs npx)
openapi-lint:
	REDOCLY_TELEMETRY=off npx --yes @redocly/cli@$(REDOCLY_VERSION) lint --extends recommended internal/httpapi/openapi.yaml

## fmt: format every Go file in place (gofmt -w)
fmt:
	gofmt -w .

## docker-test: the README's Docker path on a real engine (scripts/docker-e2e.sh; --help)
docker-test:
	bash scripts/docker-e2e.sh

## helm-check: the Helm chart without a cluster: lint, template, schema, render tests (scripts/helm-check.sh)
helm-check:
	bash scripts/helm-check.sh

## failover: registrations through a planned PostgreSQL failover and a killed primary
##           (pg_auto_failover on free ports; scripts/failover.sh --help), the table printed
failover:
	bash scripts/failover.sh

## bench: the benchmark (a few minutes; see BENCHMARKS.md), results in $(BENCH_OUT)
##        BENCH_MODE=smoke: a few seconds; BENCH_PROFILE=1: also a CPU profile of regapi;
##        BENCH_FLAGS: more loadgen flags (bin/loadgen -h)
BENCH_MODE      ?= full
BENCH_OUT       ?= $(if $(filter smoke,$(BENCH_MODE)),bin/bench-smoke,$(if $(filter scale,$(BENCH_MODE)),bench/results-scale,bench/results))
BENCH_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
bench:
	CGO_ENABLED=0 $(GO) build -trimpath $(if $(BENCH_PROFILE),-tags pprof) -o bin/regapi-bench ./cmd/regapi
	cd bench && $(GO) build -o ../bin/loadgen .
	./bin/loadgen -mode $(BENCH_MODE) -regapi bin/regapi-bench -admin-url '$(BENCH_ADMIN_URL)' -out $(BENCH_OUT) \
		$(if $(BENCH_PROFILE),-pprof) $(if $(BENCH_MAILPIT_URL),-mailpit $(BENCH_MAILPIT_URL)) $(BENCH_FLAGS)

## bench-smoke: the benchmark for a few seconds, as CI runs it (results in bin/bench-smoke)
bench-smoke:
	$(MAKE) bench BENCH_MODE=smoke

## bench-scale: the benchmark on databases preloaded with BENCH_SIZES accounts (long, and
##              ~1 KB per account on disk: point BENCH_ADMIN_URL at a PostgreSQL of its own)
BENCH_SIZES ?= 1000000,10000000
bench-scale:
	$(MAKE) bench BENCH_MODE=scale BENCH_FLAGS='-sizes $(BENCH_SIZES) $(BENCH_FLAGS)'

## clean: remove bin/
clean:
	rm -rf bin
