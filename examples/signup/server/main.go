// Command server serves the example sign-up page on an origin of its own:
//
//	API_URL=http://localhost:8080 ADDR=:8081 go run ./examples/signup/server
//
// regapi must list the page's origin (here http://localhost:8081) in CORS_ALLOWED_ORIGINS.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
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
	// SIGTERM (docker compose stop) or SIGINT ends it cleanly, with exit status 0.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
