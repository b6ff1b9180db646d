package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const composeFile = "../../compose.yaml"

func TestRepositoryComposeFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{composeFile}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

// TestBrokenFiles breaks the real compose file one way at a time and expects a non-zero exit
// with a message that names the problem.
func TestBrokenFiles(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown key", "    stop_grace_period: 15s\n    restart: unless-stopped\n\n  # Extra",
			"    stop_grace_periods: 15s\n    restart: unless-stopped\n\n  # Extra", "not a valid Compose file"},
		{"yaml syntax", "services:\n", "services:\n  - [\n", "not a valid Compose file"},
		{"api starts before migrate finished", "      migrate:\n        condition: service_completed_successfully\n      # Started",
			"      migrate:\n        condition: service_started\n      # Started",
			"api: depends on migrate with condition service_started, want service_completed_successfully"},
		{"no database healthcheck", `test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "regapi"]`,
			`test: ["NONE"]`, "postgres: no healthcheck"},
		{"test not in a profile", `profiles: ["test"]`, `profiles: []`, "test: runs without --profile test"},
		{"no default secret", "${CODE_SECRET:-7265", "${CODE_SECRET}7265", `variable is not set`},
		{"floating mailpit", "axllent/mailpit:v1.27.11", "axllent/mailpit:latest", "mailpit: image"},
		{"api port not published", `"127.0.0.1:${API_PORT:-8080}:8080"`, `"127.0.0.1:${API_PORT:-8080}:8081"`,
			"api: does not publish port 8080"},
		{"test without -race", `"-race", "-count=1"`, `"-count=1"`, "does not run go test -race ./..."},
		{"test image without Chromium", "      target: test\n", "      target: build\n", "test stage"},
		{"bind-mounted module cache", "- gomod:/go/pkg/mod", "- ./cache:/go/pkg/mod", "want a named volume"},
	}
	original, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(original, []byte(tt.old)) {
				t.Fatalf("compose.yaml no longer contains %q; update the test", tt.old)
			}
			path := filepath.Join(t.TempDir(), "compose.yaml")
			broken := strings.Replace(string(original), tt.old, tt.new, 1)
			if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{path}, nil, &stdout, &stderr)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// TestEnvironment checks that a knob set in the shell reaches the containers, and that an
// unset one is left out so the service's own default holds.
func TestEnvironment(t *testing.T) {
	ctx := context.Background()
	shell := []string{"LOG_LEVEL=debug", "CODE_SECRET=" + strings.Repeat("ab", 32), "API_PORT=9090"}
	p, warnings, err := load(ctx, composeFile, scenario{name: "shell"}, shell)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("load: %v %v", err, warnings)
	}
	api := p.Services["api"]
	if got := value(api, "LOG_LEVEL"); got != "debug" {
		t.Errorf("LOG_LEVEL = %q, want debug", got)
	}
	if got := value(api, "CODE_SECRET"); got != strings.Repeat("ab", 32) {
		t.Errorf("CODE_SECRET = %q, want the shell's", got)
	}
	if got := api.Ports[0].Published; got != "9090" {
		t.Errorf("published port = %q, want 9090", got)
	}

	p, _, err = load(ctx, composeFile, scenario{name: "clean", clean: true}, shell)
	if err != nil {
		t.Fatal(err)
	}
	// A key left without a value is removed from the container's environment.
	if v := p.Services["api"].Environment["LOG_LEVEL"]; v != nil {
		t.Errorf("LOG_LEVEL = %q with no variables given; want it unset (the service default)", *v)
	}
}

// TestEnvExample turns every documented knob of .env.example into a .env beside the compose
// file, and checks that the file still passes and that compose.yaml uses each knob.
func TestEnvExample(t *testing.T) {
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	knob := regexp.MustCompile(`(?m)^# ([A-Z][A-Z0-9_]*)=(.*)$`)
	var env []string
	var keys []string
	for _, m := range knob.FindAllStringSubmatch(string(example), -1) {
		keys = append(keys, m[1])
		env = append(env, m[1]+"="+m[2])
	}
	if len(keys) < 15 {
		t.Fatalf("found only %d knobs in .env.example: %v", len(keys), keys)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, compose, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(strings.Join(env, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{path}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("with .env.example as .env: exit %d\n%s", code, stderr.String())
	}
	p, _, err := load(context.Background(), path, scenario{name: ".env"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		_, passed := p.Services["api"].Environment[k]
		if !passed && !strings.Contains(string(compose), "${"+k) {
			t.Errorf(".env.example documents %s, which compose.yaml does not use", k)
		}
	}
}
