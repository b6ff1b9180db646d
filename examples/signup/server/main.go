// Command server serves the example sign-up page on an origin of its own:
//
//	API_URL=http://localhost:8080 ADDR=:8081 go run ./examples/signup/server
//
// regapi must list the page's origin (here http://localhost:8081) in CORS_ALLOWED_ORIGINS.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/regapi/regapi/examples/signup"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "signup page:", err)
		os.Exit(1)
	}
}

func run() error {
	api, addr := os.Getenv("API_URL"), os.Getenv("ADDR")
	if api == "" {
		api = "http://localhost:8080"
	}
	if addr == "" {
		addr = ":8081"
	}
	h, err := signup.Handler(api)
	if err != nil {
		return err
	}
	fmt.Printf("sign-up page on %s, calling the API at %s\n", addr, api)
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}
