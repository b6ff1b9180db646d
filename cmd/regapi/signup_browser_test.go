package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/regapi/regapi/examples/signup"
	"github.com/regapi/regapi/internal/mail/mailpittest"
)

// stepTimeout bounds one step of the page: each step waits on a condition and returns as soon
// as it holds, so the bound only decides when a step has failed. It is browserStep's, which
// holds on a loaded 2-core machine running the suite with -race, where loading /docs alone
// took 25s.
const stepTimeout = browserStep

// TestSignupPageInChromium loads the example sign-up page (examples/signup) from an origin of
// its own in a headless Chromium, registers, reads the code from Mailpit, activates, and
// resets the password, as a person would; then checks that the same page on an origin not in
// CORS_ALLOWED_ORIGINS is blocked, and that no answer of the API makes Chromium ask for a
// login of its own. A screenshot of every step goes to the test's artifact directory when it
// fails (go test -artifacts keeps them). With SIGNUP_SCREENSHOT=file.png it also saves the
// picture of the finished sign-up that the README shows.
func TestSignupPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	t.Parallel()
	// Both origins are bound (port 0) before regapi starts, which lists only the first.
	pageSrv, otherSrv := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	origin, other := "http://"+pageSrv.Listener.Addr().String(), "http://"+otherSrv.Listener.Addr().String()
	a, mp := mailpitApp(t, map[string]string{"CORS_ALLOWED_ORIGINS": origin})
	h, err := signup.Handler(a.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*httptest.Server{pageSrv, otherSrv} {
		s.Config.Handler = h
		s.Start()
		t.Cleanup(s.Close)
	}

	b := startPageBrowser(t, a.base)
	email, pass, newPass := uniqueEmail("page"), "correct horse battery", "staple battery horse"

	// Step 1: register. A too-short password first, to see a problem's errors by the field.
	b.step("1-register-invalid",
		chromedp.Navigate(origin+"/"),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), "short"),
		chromedp.Click(chromedp.CSS("#register-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("password-error")),
	)
	b.wantText("#error", "invalid")
	b.step("1-register",
		clearField("password"),
		chromedp.SendKeys(chromedp.ID("password"), pass),
		chromedp.Click(chromedp.CSS("#register-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	b.wantText("#verify-email", email)

	// Step 2: the code. "Send a new code" within RESEND_COOLDOWN is refused with Retry-After,
	// which the page can read only because the API exposes it: its button counts down.
	b.step("2-resend-too-soon", chromedp.Click(chromedp.ID("resend")))
	b.wantText("#resend", "Send a new code (in ")
	b.wantText("#error", "No new code")
	code := mailpittest.WaitForCode(t, mp, email, 1, stepTimeout)
	b.step("2-code",
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS("#verify-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("step-done")),
	)

	// Step 3: done, the account as the API returns it.
	b.wantText("#account-status", "active")
	b.wantText("#account-email", email)
	if path := os.Getenv("SIGNUP_SCREENSHOT"); path != "" {
		b.save(path, chromedp.Screenshot(chromedp.CSS("html")))
	}
	a.do(t, http.MethodGet, "/v1/users/me", "", email, pass).want(t, http.StatusOK, "")

	// Forgot your password?
	b.step("4-forgot",
		chromedp.Navigate(origin+"/"),
		chromedp.Click(chromedp.ID("forgot")),
		chromedp.SendKeys(chromedp.ID("reset-email"), email),
		chromedp.Click(chromedp.CSS("#forgot-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("reset-code")),
	)
	b.wantText("#notice", "reset code is on its way")
	resetCode := mailpittest.WaitForCode(t, mp, email, 2, stepTimeout)
	b.step("4-reset",
		chromedp.SendKeys(chromedp.ID("reset-code"), resetCode),
		chromedp.SendKeys(chromedp.ID("reset-password"), newPass),
		chromedp.Click(chromedp.CSS("#reset-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("step-done")),
	)
	b.wantText("#done-message", "new password")
	a.do(t, http.MethodGet, "/v1/users/me", "", email, newPass).want(t, http.StatusOK, "")

	// A 401 with WWW-Authenticate: Basic to a cross-origin fetch reaches the page's script as
	// it is, readable, and Chromium asks for no login (no Fetch.authRequired): with wrong
	// credentials set by the script and with none, in the page's credentials mode "omit" and
	// in fetch's default. (With "include" and no Authorization header Chromium would ask; the
	// page never uses it, and the API allows no credentials mode anyway.)
	got := runBrowser(t, b.ctx, b.out, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		const out = [];
		for (const credentials of ["omit", "same-origin"]) {
			for (const headers of [{Authorization: "Basic " + btoa("nobody@example.com:wrong password")}, {}]) {
				const r = await fetch(%q, {headers, credentials});
				out.push(r.status + " " + (await r.json()).code);
			}
		}
		return out.join(", ");
	})()`, a.base+"/v1/users/me"), chromedp.EvalAwaitPromise))
	if want := strings.Repeat("401 unauthorized, ", 3) + "401 unauthorized"; got != want {
		t.Errorf("cross-origin fetches of /v1/users/me: %s, want %s", got, want)
	}
	b.step("5-cross-origin-401") // checks that no login prompt came

	// The page on an origin regapi does not list: the browser blocks the call (the preflight
	// is refused), the page says so, and nothing reached the API.
	blocked := uniqueEmail("blocked")
	b.step("6-unlisted-origin",
		chromedp.Navigate(other+"/"),
		chromedp.SendKeys(chromedp.ID("email"), blocked),
		chromedp.SendKeys(chromedp.ID("password"), pass),
		chromedp.Click(chromedp.CSS("#register-form button[type=submit]")),
	)
	b.wantText("#error", "does not allow this page's origin")
	a.register(t, blocked, pass).want(t, http.StatusCreated, "")

	// The control of the 401 check above: opened as a page of the API's own origin, the
	// same 401 makes Chromium ask for a login, so the check would see a prompt.
	b.promptsExpected = true
	b.step("7-own-origin-401", chromedp.Navigate(a.base+"/v1/users/me"))
	if prompts := b.prompts(); len(prompts) != 1 || !strings.HasPrefix(prompts[0], a.base+"/v1/users/me ") {
		t.Errorf("login prompts %q, want one for the navigation to %s/v1/users/me", prompts, a.base)
	}
}

// clearField empties the input of the id, as selecting its text and deleting it would.
func clearField(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(document.getElementById(%q).value = "") === ""`, id))(ctx, tgt)
		return err
	})
}

// pageBrowser is a headless Chromium on one tab, that records what a person would notice
// besides the page: script errors, Content-Security-Policy violations and login prompts.
type pageBrowser struct {
	t   *testing.T
	ctx context.Context
	out fmt.Stringer
	dir string // screenshots of the steps so far

	mu        sync.Mutex
	errs      []string // exceptions and CSP violations
	loginAsks []string // "URL origin" of each login prompt Chromium would have shown
	shots     int

	promptsExpected bool
}

// startPageBrowser starts Chromium for t. Requests to api pass through the DevTools Fetch
// domain with auth handling on: Chromium then reports each login prompt it would show (and
// the test answers it as a person pressing Cancel) instead of deciding itself.
func startPageBrowser(t *testing.T, api string) *pageBrowser {
	t.Helper()
	b := &pageBrowser{t: t, dir: t.TempDir()}
	ctx, out := newBrowser(t, func(ev any) {
		if ev, ok := ev.(*runtime.EventExceptionThrown); ok {
			b.note(&b.errs, "threw "+ev.ExceptionDetails.Text)
		}
	})
	b.ctx, b.out = ctx, out
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `document.addEventListener("securitypolicyviolation",
					e => console.error("CSP violation " + e.violatedDirective + " " + e.blockedURI));`,
			})
			return err
		}),
		chromedp.EmulateViewport(560, 620),
	)
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	asked := chromedp.Events(ctx, fetch.AuthRequired)
	consoled := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	respond := func(f func(ctx context.Context, tgt *chromedp.Target) error) {
		if err := chromedp.Do(ctx, chromedp.Func(f)); err != nil && ctx.Err() == nil {
			b.note(&b.errs, "DevTools: "+err.Error())
		}
	}
	// Each loop ends with the browser's context, when t ends.
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			respond(func(ctx context.Context, tgt *chromedp.Target) error {
				_, err := cdp.Call(ctx, tgt, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				return err
			})
		}
	}()
	go func() {
		for ev, err := range asked {
			if err != nil {
				return
			}
			b.note(&b.loginAsks, ev.Request.URL+" "+ev.AuthChallenge.Origin)
			respond(func(ctx context.Context, tgt *chromedp.Target) error {
				_, err := cdp.Call(ctx, tgt, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{
					RequestID:             ev.RequestID,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth},
				})
				return err
			})
		}
	}()
	go func() {
		for ev, err := range consoled {
			if err != nil {
				return
			}
			for _, arg := range ev.Args {
				if strings.Contains(string(arg.Value), "CSP violation") {
					b.note(&b.errs, string(arg.Value))
				}
			}
		}
	}()
	handle := true
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tgt, fetch.Enable, fetch.EnableParams{
			Patterns:           []*fetch.RequestPattern{{URLPattern: api + "/*"}},
			HandleAuthRequests: &handle,
		})
		return err
	}))
	if err != nil {
		t.Fatalf("Fetch.enable: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.keepShots()
		}
	})
	return b
}

func (b *pageBrowser) note(list *[]string, s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	*list = append(*list, s)
}

func (b *pageBrowser) prompts() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.loginAsks...)
}

// step runs actions within stepTimeout, then photographs the page; it fails the test at the
// first error, and checks that no script error, CSP violation or login prompt happened.
func (b *pageBrowser) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	err := chromedp.Do(ctx, actions...)
	cancel()
	b.shoot(name)
	if err != nil {
		b.t.Fatalf("step %s: %v\n%s", name, err, b.out)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 {
		b.t.Fatalf("after step %s, the page: %s", name, strings.Join(b.errs, "\n"))
	}
	if !b.promptsExpected && len(b.loginAsks) > 0 {
		b.t.Fatalf("Chromium asked for a login: %q", b.loginAsks)
	}
}

// wantText waits up to stepTimeout for the element at sel to contain want.
func (b *pageBrowser) wantText(sel, want string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(
		`(document.querySelector(%q) || {}).textContent?.includes(%q) || false`, sel, want)))
	if err != nil {
		b.shoot("want-" + sel)
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
		b.t.Fatalf("%s does not say %q within %s: it says %q (%v)", sel, want, stepTimeout, text, err)
	}
}

// shoot keeps a screenshot of the page as it is now, numbered in order.
func (b *pageBrowser) shoot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return
	}
	b.shots++
	_ = os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, strings.Trim(name, "#"))), png, 0o600)
}

// save writes the PNG action takes to path.
func (b *pageBrowser) save(path string, action chromedp.Action[[]byte]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, action)
	if err == nil {
		err = os.WriteFile(path, png, 0o644) // #nosec G306 -- a picture for the README
	}
	if err != nil {
		b.t.Fatalf("screenshot to %s: %v", path, err)
	}
}

// keepShots copies the step screenshots to the test's artifact directory and says where.
func (b *pageBrowser) keepShots() {
	dir := b.t.ArtifactDir()
	files, _ := filepath.Glob(filepath.Join(b.dir, "*.png"))
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o600)
		}
	}
	b.t.Logf("screenshots of each step in %s (kept with go test -artifacts)", dir)
}
