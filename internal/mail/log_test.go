package mail_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/regapi/regapi/internal/mail"
)

// lockedBuffer lets the test read what concurrent Sends wrote.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestLogProviderWritesOneJSONLinePerEmail(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	p := mail.NewLogProvider(&out)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := testMessage
			m.Text = fmt.Sprintf("line one\nyour code is %04d", i)
			m.Code = fmt.Sprintf("%04d", i)
			if err := p.Send(t.Context(), m, fmt.Sprintf("key-%d", i)); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()

	seen := map[string]bool{}
	sc := bufio.NewScanner(&out.b)
	for sc.Scan() {
		var line struct {
			Msg, To, Subject, Text, Code string
			Key                          string `json:"idempotency_key"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		if line.Msg != "email" || line.To != testMessage.To || line.Subject != testMessage.Subject || line.Key == "" {
			t.Errorf("line = %+v", line)
		}
		var i int
		if _, err := fmt.Sscanf(line.Key, "key-%d", &i); err != nil {
			t.Fatalf("key %q: %v", line.Key, err)
		}
		if want := fmt.Sprintf("%04d", i); line.Code != want {
			t.Errorf("code = %q, want %q at the top level", line.Code, want)
		}
		if want := fmt.Sprintf("line one\nyour code is %04d", i); line.Text != want {
			t.Errorf("text = %q, want %q", line.Text, want)
		}
		seen[line.Key] = true
	}
	if len(seen) != n {
		t.Errorf("got %d distinct emails, want %d", len(seen), n)
	}
}
