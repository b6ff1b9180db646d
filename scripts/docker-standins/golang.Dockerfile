# Stand-in for golang:1.26 (Debian based, as the official image): the build machine's own Go
# toolchain on the Debian stand-in, with what the official image adds for cgo (-race needs it).
# Context: a directory holding go/ (a copy of the toolchain's GOROOT).
FROM regapi-standin/debian:bookworm
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       gcc libc6-dev git make pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY go /usr/local/go
ENV GOTOOLCHAIN=local GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go
WORKDIR /go
LABEL regapi.standin="golang:1.26"
