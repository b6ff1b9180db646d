//go:build pprof

package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

// Built only with `-tags pprof` (make bench BENCH_PROFILE=1), never into a release binary:
// serves the Go profiler on REGAPI_PPROF_ADDR, a loopback address such as 127.0.0.1:6060,
// so that the benchmark can take a CPU profile under load. The API itself never serves it.
// The address it bound is printed to stderr (the port may be 0).
func init() {
	if addr := os.Getenv("REGAPI_PPROF_ADDR"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pprof: %v\n", err)
			return
		}
		fmt.Fprintf(os.Stderr, "pprof listening on %s\n", ln.Addr())
		go func() { _ = http.Serve(ln, nil) }()
	}
}
