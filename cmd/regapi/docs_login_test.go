package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDocsPageNeverAsksForALogin: a wrong password typed into /docs' "Authorize" gets the
// API's 401 on the page, and the browser does not show its own login dialog, which it does
// for a same-origin request sent with its default credentials mode.
func TestDocsPageNeverAsksForALogin(t *testing.T) {
	if testing.Short() {
		t.Skip("drives Chromium")
	}
	t.Parallel()
	a := startApp(t, baseEnv(t))
	email, pass := uniqueEmail("docs-login"), "correct horse battery"
	a.register(t, email, pass).want(t, http.StatusCreated, "")
	b := startPageBrowser(t, a.base)
	const op = "#operations-users-getMe"
	b.step("docs-open", chromedp.Navigate(a.base+"/docs"), chromedp.WaitVisible(chromedp.CSS(op)))
	b.step("docs-authorize",
		chromedp.Click(chromedp.CSS(".auth-wrapper .authorize")),
		chromedp.SendKeys(chromedp.ID("auth-basic-username"), email),
		chromedp.SendKeys(chromedp.ID("auth-basic-password"), "not the password"),
		chromedp.Click(chromedp.CSS(".auth-btn-wrapper .modal-btn.authorize")),
		chromedp.Click(chromedp.CSS(".auth-btn-wrapper .btn-done")),
	)
	b.step("docs-wrong-password",
		chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")),
	)
	status := runBrowser(t, b.ctx, b.out, chromedp.Text(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")))
	b.step("docs-no-login-asked") // the step checks that no login prompt came
	if strings.TrimSpace(status) != "401" {
		t.Errorf("GET /v1/users/me with a wrong password through /docs: status %q, want 401", status)
	}
}
