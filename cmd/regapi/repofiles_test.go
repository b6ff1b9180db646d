package main

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// repoRoot is the checkout's root, seen from this package's directory (where go test runs).
var repoRoot = filepath.Join("..", "..")

// repoFiles returns the paths, relative to the checkout's root, of the files under dir (a
// path relative to the root) that keep accepts. It leaves out what is not the project's own
// text: .git, bin, node_modules and testdata folders.
func repoFiles(t *testing.T, dir string, keep func(rel string) bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err == nil && keep(rel) {
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no file under %q is checked: the walk is broken", dir)
	}
	return out
}
