package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pipeIntoQuietGrep is a pipeline that ends in grep -q. grep -q exits at its first match;
// when the writer has not finished by then, it dies of SIGPIPE, and under set -o pipefail
// (every script here) the pipeline fails although the text matched. It happens only when the
// machine is slow enough, which makes it a failure of CI at random.
var pipeIntoQuietGrep = regexp.MustCompile(`\|\s*grep\s+(-[a-zA-Z]*q|--quiet)`)

// No script pipes into grep -q: it reads a here-string or a file instead, or grep without -q
// reads all of its input.
func TestScriptsNeverPipeIntoQuietGrep(t *testing.T) {
	script := func(rel string) bool {
		return strings.HasSuffix(rel, ".sh") || rel == filepath.Join(".ci", "run") || rel == "Makefile"
	}
	for _, rel := range repoFiles(t, ".", script) {
		text, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range quietGrepPipes(string(text)) {
			t.Errorf("%s:%d pipes into grep -q (SIGPIPE under pipefail): use a here-string, or grep >/dev/null", rel, line)
		}
	}
}

func TestQuietGrepPipesAreFound(t *testing.T) {
	text := "a | grep -q x\nb | grep -qi x\ngrep -q x <<<\"$a\"\nc | grep -x y >/dev/null\nd |grep --quiet z\n"
	if got := quietGrepPipes(text); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 5 {
		t.Fatalf("lines %v, want [1 2 5]", got)
	}
}

// quietGrepPipes returns the numbers of the lines of text that pipe into grep -q.
func quietGrepPipes(text string) []int {
	var lines []int
	n := 0
	for line := range strings.Lines(text) {
		n++
		if pipeIntoQuietGrep.MatchString(line) {
			lines = append(lines, n)
		}
	}
	return lines
}
