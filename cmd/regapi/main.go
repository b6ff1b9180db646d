// Command regapi runs the user registration and activation API.
//
//	regapi serve                 HTTP API and email dispatcher in one process
//	regapi worker                email dispatcher alone
//	regapi migrate up            apply pending schema migrations
//	regapi migrate down [N]      revert the last N migrations (all without N)
//	regapi migrate status        list migrations and whether each is applied
//	regapi cleanup               apply the retention rules once
//	regapi outbox dead           list dead emails
//	regapi outbox retry ID...    make dead emails pending again (or --all)
//	regapi email preview KIND [LANG]
//	                             print an email as the current templates write it
//	regapi healthcheck           exit 0 when the local server answers /healthz
//	regapi version               print the version, commit and Go version
//
// Settings come from the environment; see the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: regapi <command>

commands:
  serve               run the HTTP API and the email dispatcher
  worker              run the email dispatcher alone
  migrate up          apply every pending schema migration
  migrate down [N]    revert the last N migrations (all when N is omitted)
  migrate status      list the migrations
  cleanup             apply the retention rules once and print what they removed
  outbox dead         list the emails given up on (dead)
  outbox retry ID...  make dead emails pending again (--all: every one); stale ones are skipped
  email preview KIND [LANG]
                      print the subject and text of an email of KIND (activation_code,
                      password_reset_code, email_change_code, password_changed, email_changed)
                      in LANG (en, the default, or fr), with a sample code
  healthcheck         exit 0 when the server at HTTP_ADDR answers /healthz
  version             print the version, commit and Go version of this build`

// errUsage marks a command line that could not be understood.
var errUsage = errors.New("bad command line")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run executes the command in args. It reads settings only through getenv and writes only to
// stdout and stderr, so tests run whole commands in-process: what the command prints and logs
// goes to stdout, and the error that ends it, as one line, to stderr. It returns when the
// command is done or, for serve and worker, after ctx is cancelled and shutdown completed;
// the error it returns decides the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, getenv, stdout)
	if err != nil {
		printError(stderr, err)
	}
	return err
}

// runCommand runs the command in args for run.
func runCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "healthcheck":
		// The parser serve uses: an address serve accepts is the one healthcheck calls.
		addr, err := loadListenAddr(getenv)
		if err != nil {
			return err
		}
		return healthcheck(ctx, addr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "version", "--version":
		if len(rest) > 0 {
			return fmt.Errorf("%w: version takes no arguments", errUsage)
		}
		printVersion(stdout)
		return nil
	case "email":
		return emailCommand(rest, getenv, stdout)
	case "serve", "worker", "migrate", "cleanup", "outbox":
		return runWithConfig(ctx, cmd, rest, getenv, stdout)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// runWithConfig runs a command that needs the configuration: it is read, and every problem
// reported, before the command starts.
func runWithConfig(ctx context.Context, cmd string, rest []string, getenv func(string) string, stdout io.Writer) error {
	if cmd != "migrate" && cmd != "outbox" && len(rest) > 0 {
		return fmt.Errorf("%w: %s takes no arguments", errUsage, cmd)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if cmd == "worker" && cfg.CodeSecretGenerated {
		// A made-up secret opens no email sealed by the API processes: the worker would idle.
		return &ConfigError{Problems: []error{errors.New("CODE_SECRET: required by worker, and must be the one the serve processes use")}}
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, stdout)
	case "worker":
		return worker(ctx, cfg, stdout)
	case "cleanup":
		return cleanup(ctx, cfg, stdout)
	case "outbox":
		return outboxCommand(ctx, cfg, rest, stdout)
	}
	return migrate(ctx, cfg, rest, stdout)
}

// printError writes err as one readable line, as the contract promises: no stack trace, no
// multi-line dump. A bad configuration lists all its problems on that line.
func printError(w io.Writer, err error) {
	line := "regapi: " + strings.Join(strings.Fields(err.Error()), " ")
	if errors.Is(err, errUsage) {
		line += " (see 'regapi help')"
	}
	fmt.Fprintln(w, line)
}

// splitHostPort splits a listen address such as ":8080" into host and port.
func splitHostPort(addr string) (string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && port == "" {
		err = errors.New("missing port")
	}
	return host, port, err
}
