# Native developer commands. With only Docker installed, see the README's quick start instead.

DATABASE_URL ?= postgres://postgres@localhost:5432/regapi?sslmode=disable
export DATABASE_URL

GO       ?= go
TOOLS    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/regapi-tools/bin
STATICCHECK_VERSION := v0.8.2

.PHONY: build run test lint fmt clean

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

clean:
	rm -rf bin
