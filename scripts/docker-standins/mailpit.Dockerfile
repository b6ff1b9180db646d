# Stand-in for axllent/mailpit:v1.27.11: the same release, built from source with go install,
# at the path the official image uses (/mailpit, which compose.yaml's healthcheck runs).
# Context: a directory holding the mailpit binary.
FROM regapi-standin/debian:bookworm
COPY mailpit /mailpit
EXPOSE 1025 8025
ENTRYPOINT ["/mailpit"]
LABEL regapi.standin="axllent/mailpit:v1.27.11"
