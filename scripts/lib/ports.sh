# Local ports for the servers the scripts start (sourced, not run). A script probes: it runs
# alone, and the servers it starts (PostgreSQL, PgBouncer, Mailpit) need their port in their
# configuration. The Go tests never probe: their servers bind port 0 (TestNoPortIsProbed).

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints the first free local port from $1 on, never 5432 (the machine's
# PostgreSQL, which may be down for a while but must get its port back).
free_port() {
  local p
  for ((p = $1; p < $1 + 200; p++)); do
    if [ "$p" != 5432 ] && port_free "$p"; then echo "$p"; return; fi
  done
  return 1
}
