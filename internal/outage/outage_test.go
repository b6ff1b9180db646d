package outage_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outage"
)

// levels returns the level and message of every line of logs, at INFO or above.
func levels(logs string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		for _, l := range []string{"INFO", "WARN", "ERROR"} {
			if strings.Contains(line, `"level":"`+l+`"`) {
				out = append(out, l)
			}
		}
	}
	return out
}

// A short outage is a WARN and an INFO; one that outlasts the alarm delay adds a single ERROR;
// successes outside an outage log nothing.
func TestTracker(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(0, 0)
	tr := outage.New(slog.New(slog.NewJSONHandler(&logs, nil)), "dispatcher").
		WithClock(time.Minute, func() time.Time { return now })
	down := errors.New("connection refused")

	tr.OK()
	for range 10 {
		tr.Fail(down)
		now = now.Add(time.Second)
	}
	if !tr.Down() {
		t.Error("Down() = false during an outage")
	}
	tr.OK()
	tr.OK()
	if tr.Down() {
		t.Error("Down() = true after the outage")
	}
	if got := strings.Join(levels(logs.String()), " "); got != "WARN INFO" {
		t.Errorf("short outage logged %q, want WARN INFO:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), `"down_for_seconds":10`) || !strings.Contains(logs.String(), `"failures":10`) {
		t.Errorf("the end of the outage lacks its length or failures:\n%s", logs.String())
	}

	logs.Reset()
	for range 200 {
		tr.Fail(down)
		now = now.Add(time.Second)
	}
	tr.OK()
	if got := strings.Join(levels(logs.String()), " "); got != "WARN ERROR INFO" {
		t.Errorf("long outage logged %q, want WARN ERROR INFO:\n%s", got, logs.String())
	}
}
