# Stand-in for axllent/mailpit at MAILPIT_VERSION (the versions file): the same release, built
# from source with go install, at the path the official image uses (/mailpit, which
# compose.yaml's healthcheck runs).
# Context: a directory holding the mailpit binary.
FROM regapi-standin/debian:bookworm
ARG MAILPIT_VERSION
COPY mailpit /mailpit
EXPOSE 1025 8025
ENTRYPOINT ["/mailpit"]
LABEL regapi.standin="axllent/mailpit:${MAILPIT_VERSION}"
