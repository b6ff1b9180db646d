package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pinnedTools maps each tool of the versions file to the way files pin it: the version is the
// pattern's first group. A mention that names another version than the file's fails.
var pinnedTools = map[string]*regexp.Regexp{
	"MAILPIT_VERSION":     regexp.MustCompile(`mailpit[@:](v[0-9][0-9.]*[0-9])`),
	"STATICCHECK_VERSION": regexp.MustCompile(`staticcheck@(v[0-9][0-9.]*[0-9])`),
	"GOSEC_VERSION":       regexp.MustCompile(`cmd/gosec@(v[0-9][0-9.]*[0-9])`),
	"COMPOSE_VERSION":     regexp.MustCompile(`docker/compose/v2@(v[0-9][0-9.]*[0-9])`),
	"REDOCLY_VERSION":     regexp.MustCompile(`redocly/cli@([0-9][0-9.]*[0-9])`),
}

// versionAssignment is a tool version set somewhere else than in the versions file.
var versionAssignment = regexp.MustCompile(`^\s*(?:export\s+)?([A-Z]+_VERSION)\s*:?=\s*v?[0-9]`)

// Changing a tool's version is one edit, in the versions file: every script reads it, and the
// few files that must name a version literally (compose.yaml's image, the README's commands)
// are checked here to name the same one.
func TestToolVersionsHaveOneHome(t *testing.T) {
	want := readVersions(t, filepath.Join(repoRoot, "versions"))
	for name := range pinnedTools {
		if want[name] == "" {
			t.Errorf("versions: %s is missing", name)
		}
	}
	checked := func(rel string) bool {
		return rel != "versions" && !strings.HasSuffix(rel, "versions_test.go") && !strings.HasSuffix(rel, ".sum")
	}
	for _, rel := range repoFiles(t, ".", checked) {
		for _, problem := range versionProblems(t, filepath.Join(repoRoot, rel), want) {
			t.Errorf("%s: %s", rel, problem)
		}
	}
}

// The check finds what it is for: a second pin, and a mention of another version.
func TestToolVersionsCheckFindsStrayPins(t *testing.T) {
	want := map[string]string{"MAILPIT_VERSION": "v1.0.0", "GOSEC_VERSION": "v2.0.0"}
	dir := t.TempDir()
	cases := map[string]int{
		"MAILPIT_VERSION=v1.0.0\n":                                                1,
		"go install github.com/axllent/mailpit@v1.0.1\n":                          1,
		"image: axllent/mailpit:v1.0.0\n":                                         0,
		"go install github.com/securego/gosec/v2/cmd/gosec@$GOSEC_VERSION\n":      0,
		"go install github.com/securego/gosec/v2/cmd/gosec@v2.0.0 gosec@v1.9.9\n": 0,
		"go install github.com/securego/gosec/v2/cmd/gosec@v1.0.0\n":              1,
		"\texport GOSEC_VERSION := v2.0.0\n":                                      1,
		"go install github.com/axllent/mailpit@\"$MAILPIT_VERSION\"":              0,
	}
	for text, problems := range cases {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := versionProblems(t, path, want); len(got) != problems {
			t.Errorf("%q: %d problems %v, want %d", text, len(got), got, problems)
		}
	}
}

// readVersions reads the versions file at path: NAME=value lines, comments and blank lines.
func readVersions(t *testing.T, path string) map[string]string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(value, " \t'\"$") {
			t.Fatalf("versions: %q is not NAME=value", line)
		}
		out[name] = value
	}
	return out
}

// versionProblems lists the lines of the file at path that set a tool version or pin one
// other than want's.
func versionProblems(t *testing.T, path string, want map[string]string) []string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	n := 0
	for line := range strings.Lines(string(text)) {
		n++
		if m := versionAssignment.FindStringSubmatch(line); m != nil {
			problems = append(problems, lineProblem(n, "sets "+m[1]+"; read it from the versions file"))
		}
		for name, pattern := range pinnedTools {
			for _, m := range pattern.FindAllStringSubmatch(line, -1) {
				if want[name] != "" && m[1] != want[name] {
					problems = append(problems, lineProblem(n, "names "+m[0]+"; the versions file says "+name+"="+want[name]))
				}
			}
		}
	}
	return problems
}

func lineProblem(n int, s string) string { return fmt.Sprintf("line %d: %s", n, s) }
