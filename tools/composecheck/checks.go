package main

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

var (
	hex64         = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	pinnedMajor   = regexp.MustCompile(`^postgres:\d+([.-].*)?$`)
	pinnedMailpit = regexp.MustCompile(`^axllent/mailpit:v\d+\.\d+\.\d+$`)
)

// check returns every way project, loaded for sc, falls short of what regapi relies on.
func check(p *types.Project, sc scenario) []string {
	c := &checker{p: p}
	c.system()
	if slices.Contains(sc.profiles, "test") {
		c.testSuite()
	} else if sc.clean {
		if _, on := p.Services["test"]; on {
			c.fail("test: runs without --profile test; it must be in the test profile only")
		}
	}
	return c.problems
}

type checker struct {
	p        *types.Project
	problems []string
}

func (c *checker) fail(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// service returns the enabled service name, recording a problem when it is missing.
func (c *checker) service(name string) (types.ServiceConfig, bool) {
	s, ok := c.p.Services[name]
	if !ok {
		c.fail("%s: service missing", name)
	}
	return s, ok
}

// system checks the services that `docker compose up` starts.
func (c *checker) system() {
	if s, ok := c.service("postgres"); ok {
		c.postgres(s)
	}
	if s, ok := c.service("mailpit"); ok {
		c.mailpit(s)
	}
	if s, ok := c.service("migrate"); ok {
		c.migrate(s)
	}
	if s, ok := c.service("api"); ok {
		c.api(s)
	}
	// The worker is in a profile of its own; enabled or not, it must match the api.
	if s, ok := c.p.Services["worker"]; ok {
		c.regapiEnvironment(s)
	} else if s, ok := c.p.DisabledServices["worker"]; ok {
		c.regapiEnvironment(s)
	}
}

func (c *checker) postgres(s types.ServiceConfig) {
	if !pinnedMajor.MatchString(s.Image) {
		c.fail("postgres: image %q does not pin a major version (postgres:<major>...)", s.Image)
	}
	c.healthcheck(s)
	c.namedVolume(s, "/var/lib/postgresql/data")
}

func (c *checker) mailpit(s types.ServiceConfig) {
	if !pinnedMailpit.MatchString(s.Image) {
		c.fail("mailpit: image %q is not pinned to a release (axllent/mailpit:vX.Y.Z)", s.Image)
	}
	c.healthcheck(s)
	c.publishes(s, 8025)
}

func (c *checker) migrate(s types.ServiceConfig) {
	c.command(s, "migrate up")
	c.dependsOn(s, "postgres", types.ServiceConditionHealthy)
	if s.Restart != "" && s.Restart != types.RestartPolicyNo {
		c.fail("migrate: restart %q; a one-shot job must not restart", s.Restart)
	}
	c.regapiEnvironment(s)
}

func (c *checker) api(s types.ServiceConfig) {
	c.command(s, "serve")
	c.dependsOn(s, "postgres", types.ServiceConditionHealthy)
	c.dependsOn(s, "migrate", types.ServiceConditionCompletedSuccessfully)
	if _, ok := s.DependsOn["mailpit"]; !ok {
		c.fail("api: does not depend on mailpit")
	}
	c.healthcheck(s)
	if s.HealthCheck != nil && !slices.Contains(s.HealthCheck.Test, "healthcheck") {
		c.fail("api: healthcheck %q does not run `regapi healthcheck`", s.HealthCheck.Test)
	}
	c.publishes(s, 8080)
	c.env(s, "MAIL_PROVIDER", "mailpit")
	c.env(s, "MAILPIT_URL", "http://mailpit:8025")
	c.env(s, "HTTP_ADDR", ":8080")
	c.regapiEnvironment(s)
	if m, ok := c.p.Services["migrate"]; ok && m.Image != s.Image {
		c.fail("api: image %q differs from migrate's %q", s.Image, m.Image)
	}
}

// testSuite checks the service that `docker compose --profile test run --rm test` runs.
func (c *checker) testSuite() {
	s, ok := c.service("test")
	if !ok {
		return
	}
	if !slices.Equal(s.Profiles, []string{"test"}) {
		c.fail("test: profiles %q, want [test]", s.Profiles)
	}
	if s.Build == nil || s.Build.Target != "test" {
		c.fail("test: want the Dockerfile's test stage (golang:1.26 with Chromium) as its build target")
	}
	if cmd := s.Command; len(cmd) < 2 || cmd[0] != "go" || cmd[1] != "test" ||
		!slices.Contains(cmd, "-race") || !slices.Contains(cmd, "./...") {
		c.fail("test: command %q does not run go test -race ./...", strings.Join(cmd, " "))
	}
	c.dependsOn(s, "postgres", types.ServiceConditionHealthy)
	c.dependsOn(s, "mailpit", types.ServiceConditionHealthy)
	c.env(s, "TEST_MAILPIT_URL", "http://mailpit:8025")
	c.env(s, "TEST_REQUIRE_SERVICES", "1")
	c.postgresURL(s, "TEST_DATABASE_URL")
	c.namedVolume(s, "/go/pkg/mod")
	c.namedVolume(s, "/root/.cache/go-build")
}

// regapiEnvironment checks the settings every regapi process needs, and that they equal
// the api's: processes that disagree on CODE_SECRET reject each other's codes.
func (c *checker) regapiEnvironment(s types.ServiceConfig) {
	c.postgresURL(s, "DATABASE_URL")
	if v := value(s, "CODE_SECRET"); !hex64.MatchString(v) {
		// The value itself stays out of the message: it may be a real key.
		c.fail("%s: CODE_SECRET is not 64 hex characters (it has %d characters)", s.Name, len(v))
	}
	api, ok := c.p.Services["api"]
	if !ok || s.Name == "api" {
		return
	}
	for _, k := range []string{"DATABASE_URL", "CODE_SECRET"} {
		if value(s, k) != value(api, k) {
			c.fail("%s: %s differs from the api's", s.Name, k)
		}
	}
}

func (c *checker) postgresURL(s types.ServiceConfig, key string) {
	v := value(s, key)
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "postgres" || u.Hostname() != "postgres" {
		c.fail("%s: %s is not a postgres:// URL of the postgres service", s.Name, key)
	}
}

func (c *checker) env(s types.ServiceConfig, key, want string) {
	if got := value(s, key); got != want {
		c.fail("%s: %s is %q, want %q", s.Name, key, got, want)
	}
}

func (c *checker) command(s types.ServiceConfig, want string) {
	if got := strings.Join(s.Command, " "); got != want {
		c.fail("%s: command %q, want %q", s.Name, got, want)
	}
}

func (c *checker) dependsOn(s types.ServiceConfig, dep, condition string) {
	d, ok := s.DependsOn[dep]
	switch {
	case !ok:
		c.fail("%s: does not depend on %s (want condition %s)", s.Name, dep, condition)
	case d.Condition != condition:
		c.fail("%s: depends on %s with condition %s, want %s", s.Name, dep, d.Condition, condition)
	}
}

func (c *checker) healthcheck(s types.ServiceConfig) {
	h := s.HealthCheck
	if h == nil || h.Disable || len(h.Test) == 0 || h.Test[0] == "NONE" {
		c.fail("%s: no healthcheck", s.Name)
	}
}

func (c *checker) publishes(s types.ServiceConfig, target uint32) {
	for _, p := range s.Ports {
		if p.Target == target && p.Published != "" {
			return
		}
	}
	c.fail("%s: does not publish port %d to the host", s.Name, target)
}

func (c *checker) namedVolume(s types.ServiceConfig, target string) {
	for _, v := range s.Volumes {
		if v.Target != target {
			continue
		}
		if _, declared := c.p.Volumes[v.Source]; v.Type == types.VolumeTypeVolume && declared {
			return
		}
		c.fail("%s: %s is mounted from %s %q, want a named volume", s.Name, target, v.Type, v.Source)
		return
	}
	c.fail("%s: no named volume at %s", s.Name, target)
}

// value returns the resolved environment variable key of s, or "" when it is unset.
func value(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}
