# Native developer commands. With only Docker installed, see the README's quick start instead.

DATABASE_URL ?= postgres://postgres@localhost:5432/regapi?sslmode=disable
export DATABASE_URL

GO       ?= go
TOOLS    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/regapi-tools/bin
STATICCHECK_VERSION := v0.8.2

.PHONY: build run test lint fmt clean bench bench-smoke bench-scale

## build: compile bin/regapi (static, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/regapi ./cmd/regapi

## run: apply migrations and serve on :8080 with the log email provider
run: build
	./bin/regapi migrate up
	./bin/regapi serve

## test: the whole test suite, with the race detector
test:
	$(GO) test -race -count=1 ./...

## lint: formatting, go vet and staticcheck (pinned)
lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(TOOLS)/staticcheck ./...

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

clean:
	rm -rf bin
