package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestDocsPageInChromium opens /docs in a headless Chromium, registers through Swagger UI's
// "Try it out", then authorises with Basic Auth and reads the new account, as a person would.
// The page must reach nothing but the service, and break none of its Content-Security-Policy.
func TestDocsPageInChromium(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var problems []string
	ctx, browser := newBrowser(t, func(ev any) {
		var problem string
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if u, err := url.Parse(ev.Request.URL); err != nil || (u.Scheme != "data" && u.Hostname() != "127.0.0.1") {
				problem = "requested " + ev.Request.URL
			}
		case *runtime.EventExceptionThrown:
			problem = "threw " + ev.ExceptionDetails.Text
			if e := ev.ExceptionDetails.Exception; e != nil {
				problem += " " + e.Description
			}
		}
		if problem != "" {
			mu.Lock()
			problems = append(problems, problem)
			mu.Unlock()
		}
	})
	a := startApp(t, baseEnv(t))
	email, pass := uniqueEmail("docs"), "correct horse battery"
	body := fmt.Sprintf(`{"email": %q, "password": %q}`, email, pass)

	// tryOut runs an operation the way a person does: expand it, "Try it out", "Execute".
	tryOut := func(op string, fill ...chromedp.Action[chromedp.Void]) (status, response string) {
		t.Helper()
		steps := append([]chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.CSS(op + " .opblock-summary-control")),
			chromedp.Click(chromedp.CSS(op + " .try-out__btn")),
		}, fill...)
		steps = append(steps, chromedp.Click(chromedp.CSS(op+" .execute")))
		doBrowser(t, ctx, browser, op, steps...)
		status = runBrowser(t, ctx, browser, chromedp.Text(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")))
		response = runBrowser(t, ctx, browser, chromedp.Text(chromedp.CSS(op+" .live-responses-table .response-col_description pre")))
		return strings.TrimSpace(status), response
	}

	doBrowser(t, ctx, browser, "open /docs",
		// Records what the page's Content-Security-Policy refuses, before the page's scripts run.
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `window.cspViolations = [];
					document.addEventListener("securitypolicyviolation",
						e => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));`,
			})
			return err
		}),
		chromedp.Navigate(a.base+"/docs"),
	)
	if status, resp := tryOut("#operations-users-register", setReactValue("#operations-users-register textarea.body-param__text", body)); status != "201" || !strings.Contains(resp, email) {
		t.Errorf("register through /docs: status %q, body %s", status, resp)
	}

	doBrowser(t, ctx, browser, "Authorize",
		chromedp.Click(chromedp.CSS(".auth-wrapper .authorize")),
		chromedp.SendKeys(chromedp.ID("auth-basic-username"), email),
		chromedp.SendKeys(chromedp.ID("auth-basic-password"), pass),
		chromedp.Click(chromedp.CSS(".auth-btn-wrapper .modal-btn.authorize")),
		chromedp.Click(chromedp.CSS(".auth-btn-wrapper .btn-done")),
	)
	if status, resp := tryOut("#operations-users-getMe"); status != "200" || !strings.Contains(resp, `"pending"`) {
		t.Errorf("GET /v1/users/me through /docs with Basic Auth: status %q, body %s", status, resp)
	}

	if v := runBrowser(t, ctx, browser, chromedp.Evaluate[[]string](`window.cspViolations`)); len(v) > 0 {
		t.Errorf("Content-Security-Policy violations: %v", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the page %s", strings.Join(problems, "\n"))
	}
}

// The browser's waits are conditions (an element visible, a response shown), each bounded by
// browserStep: generous, because Chromium and the parallel suite share two loaded cores in
// the Docker test service, where 30 s for the whole test, Chromium's start included, ran out;
// a condition that holds returns at once. browserBudget bounds the whole test, Chromium's
// start included, and ends before go test's -timeout does.
const (
	browserStep   = 90 * time.Second
	browserBudget = 5 * time.Minute
)

// runBrowser runs action in the browser of ctx, within browserStep, and returns its value; it
// fails t on an error.
func runBrowser[T any](t *testing.T, ctx context.Context, browser fmt.Stringer, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, browser)
	}
	return v
}

// doBrowser runs steps, named what in a failure, in the browser of ctx within browserStep.
func doBrowser(t *testing.T, ctx context.Context, browser fmt.Stringer, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, browser)
	}
}

// setReactValue puts value into the form field at sel the way React notices: Swagger UI keeps
// the field's text in its own state, so setting the DOM value alone would be ignored.
func setReactValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
				const field = document.querySelector(%q);
				const set = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(field), "value").set;
				set.call(field, %q);
				return field.dispatchEvent(new Event("input", {bubbles: true}));
			})()`, sel, value))(ctx, tgt)
			return err
		}),
	)
}

// newBrowser starts a headless Chromium for t, with a fresh profile and nothing that calls
// home, whose page events go to listen, and waits until it runs. It returns the browser's
// context, which ends after browserBudget or shortly before the test binary's deadline, and
// the browser's own output. Without a chromium on PATH, t is skipped, or fails when
// TEST_REQUIRE_SERVICES=1; TEST_BROWSER=0 or go test -short skips it.
func newBrowser(t *testing.T, listen func(ev any)) (context.Context, *syncBuffer) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs Chromium")
	}
	if os.Getenv("TEST_BROWSER") == "0" {
		// Loud, as any skip of a service: the run is not the whole suite.
		fmt.Fprintf(os.Stderr, "WARNING: TEST_BROWSER=0; SKIPPING %s\n", t.Name())
		t.Skip("TEST_BROWSER=0: the browser test runs elsewhere")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		msg := "no chromium on PATH (Debian: apt-get install chromium)"
		if os.Getenv("TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "WARNING: %s; SKIPPING %s (TEST_REQUIRE_SERVICES=1 fails instead)\n", msg, t.Name())
		t.Skip(msg)
	}
	output := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.CombinedOutput(output),
	)
	deadline := time.Now().Add(browserBudget)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second) // time left to report what the browser did
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithListener(listen))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	// The first run starts Chromium, which lives as long as the context of that run: the
	// browser's own, never a step's.
	start := time.Now()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, output)
	}
	t.Logf("chromium started in %s", time.Since(start).Round(time.Millisecond))
	return browserCtx, output
}
