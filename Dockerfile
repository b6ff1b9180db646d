# The regapi image: one static binary on a distroless base, running as a non-root user.
#   docker build -t regapi .
#   docker run --rm -e DATABASE_URL=postgres://... -p 8080:8080 regapi serve
#
# Plain Dockerfile syntax only (no cache mounts, no syntax directive): it builds with
# BuildKit and with the classic builder alike, so with docker compose v2 and with
# docker-compose v1, and needs no frontend image from a registry.

# The packages regapi imports from other modules, listed from the source. The list changes
# only when an import does, so the layers below that download and compile those packages
# stay cached across commits: a rebuild compiles regapi's own packages only.
FROM golang:1.26 AS deps
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN list='{{if not .Standard}}{{if not .Module.Main}}{{.ImportPath}}{{end}}{{end}}' \
    && CGO_ENABLED=0 go list -deps -f "$list" ./cmd/regapi >/build-deps

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY --from=deps /build-deps /build-deps
RUN CGO_ENABLED=0 go build -trimpath $(cat /build-deps)

COPY . .
# The commit the binary is built from (compose passes it; empty when not given).
ARG VCS_REVISION=
# A static binary (no cgo, so no libc needed at runtime) without local paths in it.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.vcsRevision=${VCS_REVISION}" \
    -o /out/regapi ./cmd/regapi
# The static server of the example sign-up page (compose service "signup"): standard library only.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/signup-page ./examples/signup/server

# The test suite's environment (compose service "test"): the Go toolchain with cgo for
# -race, PostgreSQL's server programs for the database-outage test, which runs a private
# server it can stop, and Chromium for the browser test of /docs unless TEST_BROWSER=0. Only
# tools: the source is mounted, and the modules and the race-compiled packages go to the
# compose file's cache volumes (downloaded and compiled by the first run, kept for the next),
# so that the image is the same for every commit and nothing is compiled twice.
FROM golang:1.26 AS test
ARG TEST_BROWSER=1
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
       $([ "$TEST_BROWSER" = 0 ] || echo chromium) \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# The example sign-up page (examples/signup) and its static server, for compose's "signup"
# service: the page on an origin of its own, as a real site's would be.
FROM gcr.io/distroless/static-debian12:nonroot AS signup-page
COPY --from=build /out/signup-page /signup-page
USER nonroot:nonroot
EXPOSE 8081
ENTRYPOINT ["/signup-page"]

# Distroless static: CA certificates, /etc/passwd with the nonroot user, tzdata; no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/regapi /regapi
# Goroutines yield at function calls, not on a signal: every loop of regapi's calls functions
# (argon2id at each 1 KiB block), and on cores busy hashing, signal-based preemption made
# regapi's threads switch three times as often and cost 2-4 points of goodput against the
# argon2id ceiling (BENCHMARKS.md, "A fourth look"). A GODEBUG of your own replaces this one.
ENV GODEBUG=asyncpreemptoff=1
USER nonroot:nonroot
EXPOSE 8080
# No shell or curl in the image: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/regapi", "healthcheck"]
ENTRYPOINT ["/regapi"]
CMD ["serve"]
