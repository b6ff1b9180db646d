//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

// Built only with `-tags pprof` (make bench BENCH_PROFILE=1), never into a release binary:
// serves the Go profiler on REGAPI_PPROF_ADDR, a loopback address such as 127.0.0.1:6060,
// so that the benchmark can take a CPU profile under load. The API itself never serves it.
func init() {
	if addr := os.Getenv("REGAPI_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
