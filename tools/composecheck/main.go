// Command composecheck validates regapi's compose.yaml without a Docker engine.
//
// It loads the file with the Compose specification's own loader (compose-go, the library
// inside docker compose), the way docker compose would: the shell environment, a .env file
// beside the compose file, and profiles. Then it checks what regapi relies on: the services,
// their depends_on conditions, healthchecks, published ports, the test profile, and that
// everything works with no .env file and no variables set at all.
//
// Usage:
//
//	go run . [path/to/compose.yaml]
//
// It prints one line per problem and exits 1 when the file is invalid or a check fails.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// scenario is one way a person runs the compose file.
type scenario struct {
	name     string
	profiles []string
	// clean ignores the shell environment and any .env file: only the defaults written
	// in the compose file count.
	clean bool
}

var scenarios = []scenario{
	{name: "docker compose up", profiles: nil},
	{name: "docker compose --profile test", profiles: []string{"test"}},
	{name: "docker compose up, no .env and no variables", profiles: nil, clean: true},
	{name: "docker compose --profile test, no .env and no variables", profiles: []string{"test"}, clean: true},
}

// run checks the compose file named in args (default compose.yaml) and returns the exit status.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
		fmt.Fprintln(stderr, "usage: composecheck [path/to/compose.yaml]")
		return 2
	}
	path := "compose.yaml"
	if len(args) == 1 {
		path = args[0]
	}
	// #nosec G703 -- the path is the command-line argument: reading it is the tool's job.
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 1
	}

	var found findings
	for _, sc := range scenarios {
		project, warnings, err := load(ctx, path, sc, environ)
		if err != nil {
			fmt.Fprintf(stderr, "%s: not a valid Compose file (%s): %v\n", path, sc.name, err)
			return 1
		}
		problems := append(warnings, check(project, sc)...)
		found.add(sc.name, problems)
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "%s: %s: services %s\n", path, sc.name,
				strings.Join(project.ServiceNames(), ", "))
		}
	}
	if len(found.problems) > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s):\n", path, len(found.problems))
		for _, line := range found.lines() {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}

// findings gathers the problems of all scenarios. A problem usually shows in every scenario:
// it is reported once, with the scenarios it shows in when not all.
type findings struct {
	problems []string            // in the order first found
	where    map[string][]string // problem -> scenario names
}

func (f *findings) add(scenario string, problems []string) {
	if f.where == nil {
		f.where = map[string][]string{}
	}
	for _, p := range problems {
		if f.where[p] == nil {
			f.problems = append(f.problems, p)
		}
		if !slices.Contains(f.where[p], scenario) {
			f.where[p] = append(f.where[p], scenario)
		}
	}
}

func (f *findings) lines() []string {
	var out []string
	for _, p := range f.problems {
		if len(f.where[p]) < len(scenarios) {
			p += " (with " + strings.Join(f.where[p], "; ") + ")"
		}
		out = append(out, p)
	}
	return out
}

// load reads the compose file as docker compose would for sc, and returns the warnings the
// loader printed (such as a variable that is not set), which docker compose would only print.
func load(ctx context.Context, path string, sc scenario, environ []string) (*types.Project, []string, error) {
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(filepath.Dir(path))}
	if sc.clean {
		opts = append(opts, cli.WithProfiles(sc.profiles))
	} else {
		// The order docker compose uses: the shell, then .env, then COMPOSE_PROFILES from either.
		opts = append(opts,
			cli.WithEnv(environ),
			cli.WithEnvFiles(),
			cli.WithDotEnv,
			cli.WithDefaultProfiles(sc.profiles...),
		)
	}
	opts = append(opts, cli.WithResolvedPaths(true))

	options, err := cli.NewProjectOptions([]string{path}, opts...)
	if err != nil {
		return nil, nil, err
	}
	hook := &warningHook{}
	restore := captureWarnings(hook)
	defer restore()
	project, err := options.LoadProject(ctx)
	return project, hook.messages(), err
}

var logMu sync.Mutex

// captureWarnings routes the loader's log output into hook until the returned func is called.
func captureWarnings(hook *warningHook) (restore func()) {
	logMu.Lock()
	std := logrus.StandardLogger()
	out, hooks := std.Out, std.ReplaceHooks(logrus.LevelHooks{})
	std.SetOutput(io.Discard)
	std.AddHook(hook)
	return func() {
		std.ReplaceHooks(hooks)
		std.SetOutput(out)
		logMu.Unlock()
	}
}

// warningHook collects warnings and errors logged while loading.
type warningHook struct{ msgs []string }

func (h *warningHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h *warningHook) Fire(e *logrus.Entry) error {
	h.msgs = append(h.msgs, "loader: "+e.Message)
	return nil
}

func (h *warningHook) messages() []string {
	sort.Strings(h.msgs)
	return h.msgs
}
