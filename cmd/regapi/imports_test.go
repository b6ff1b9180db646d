package main

import (
	"go/build"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/regapi/regapi/"

// allowedImports is the dependency rule of the tree: the domain imports nothing of ours, each
// adapter imports the domain and only the adapters named here, and only cmd/regapi knows them
// all. A package missing from the map may import nothing internal.
var allowedImports = map[string][]string{
	"internal/registration":                  {},
	"internal/registration/registrationtest": {"internal/registration"},
	"internal/password":                      {"internal/registration"},
	"internal/mail":                          {},
	"internal/mail/mailpittest":              {},
	"internal/mail/smtptest":                 {},
	"internal/outage":                        {},
	"internal/outbox":                        {"internal/registration", "internal/mail", "internal/outage"},
	"internal/httpapi":                       {"internal/registration"},
	"internal/postgres":                      {"internal/registration", "internal/outbox", "internal/outage"},
	"internal/postgres/pgtest":               {"internal/postgres"},
}

// The rule holds for the non-test files of every internal package, so that it never rests on
// memory: an import that breaks it fails here, naming the file's package and the import.
// Packages are read by directory: go/build resolves import paths through the go command,
// which it cannot find in a test built with -trimpath (no GOROOT), as make test builds it.
func TestImportsPointInward(t *testing.T) {
	ctx := build.Default
	for pkg, allowed := range allowedImports {
		p, err := ctx.ImportDir(path.Join("../..", pkg), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			rel, ours := strings.CutPrefix(imp, module)
			if ours && !slices.Contains(allowed, rel) {
				t.Errorf("%s imports %s; it may import only %v", pkg, rel, allowed)
			}
		}
	}
	// Every internal package is covered by the map.
	for _, dir := range internalPackages(t, &ctx) {
		if _, ok := allowedImports[dir]; !ok {
			t.Errorf("%s has no entry in allowedImports: say what it may import", dir)
		}
	}
}

// internalPackages lists the packages under internal/ that have non-test Go files.
func internalPackages(t *testing.T, ctx *build.Context) []string {
	t.Helper()
	var out []string
	var walk func(rel string)
	walk = func(rel string) {
		p, err := ctx.ImportDir(path.Join("../..", rel), 0)
		if err == nil && len(p.GoFiles) > 0 {
			out = append(out, rel)
		}
		entries, err := os.ReadDir(path.Join("../..", rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() && e.Name() != "testdata" && e.Name() != "docs" {
				walk(path.Join(rel, e.Name()))
			}
		}
	}
	walk("internal")
	return out
}
