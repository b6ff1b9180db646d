package main

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// parallel runs fn n times at once and counts the statuses it returns.
func parallel(n int, fn func() response) map[int]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := map[int]int{}
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			r := fn()
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return counts
}

func TestConcurrentRequestsOnOneAccount(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t, func(string, int, *http.Request) int { return http.StatusOK })
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["RESEND_COOLDOWN"] = "mailpit", f.URL, "0s"
	a := startApp(t, env)
	const email, pass = "frank@example.com", "password-1234"

	got := parallel(16, func() response { return a.register(t, email, pass) })
	if got[http.StatusCreated] != 1 || got[http.StatusConflict] != 15 {
		t.Fatalf("16 parallel registrations: %v, want one 201 and fifteen 409", got)
	}
	f.waitAccepted(t, 1, 30*time.Second)
	code := f.codeOf(email, 0)
	wrong := "0000"
	if code == wrong {
		wrong = "0001"
	}

	got = parallel(20, func() response { return a.activate(t, email, pass, wrong) })
	if got[http.StatusUnprocessableEntity] != 5 || got[http.StatusTooManyRequests] != 15 {
		t.Fatalf("20 parallel wrong codes: %v, want five 422 and fifteen 429", got)
	}
	a.activate(t, email, pass, code).want(t, http.StatusTooManyRequests, "too_many_attempts")

	// A new code, then parallel right ones: exactly one activates.
	a.do(t, http.MethodPost, "/v1/users/me/activation-code", "", email, pass).want(t, http.StatusAccepted, "")
	f.waitAccepted(t, 2, 30*time.Second)
	fresh := f.codeOf(email, 1)
	got = parallel(8, func() response { return a.activate(t, email, pass, fresh) })
	if got[http.StatusOK] != 1 || got[http.StatusConflict] != 7 {
		t.Fatalf("8 parallel right codes: %v, want one 200 and seven 409", got)
	}
}
