package e2e

import (
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserCopyFeedback: a copy button says it copied, in the admin's
// language, so the press is seen to have done something.
func TestBrowserCopyFeedback(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	shots := newShooter(t, "small-")
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	b.run("create a token and copy it",
		chromedp.Navigate(e.url("/lang/ja?back=/tokens")),
		chromedp.WaitVisible(chromedp.ID("token-name")),
		chromedp.SendKeys(chromedp.ID("token-name"), "会計ソフト"),
		chromedp.Click(chromedp.ID("create-token")),
		chromedp.WaitVisible(chromedp.ID("new-token")),
		b.contains(`[data-copy="new-token"]`, "コピー"),
		chromedp.Click(chromedp.CSS(`[data-copy="new-token"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-copy="new-token"].copied`)),
		b.contains(`[data-copy="new-token"]`, "コピーしました"),
		shots.shot("copied-ja"),
	)
}

// TestBrowserSmallPages: in Chromium, a dead setup link explains itself,
// the wizard has the reduced header and a working Back, the Jobs page
// words its schedules, and the icon the pages name is served.
func TestBrowserSmallPages(t *testing.T) {
	chromium := chromiumPath(t)
	// The default schedules, which the harness turns off; neither fires
	// during the test.
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_JOBS_RECONCILE=0 */6 * * *", "LINEHUB_JOBS_DRIFT_REPAIR=30 3 * * *"}})
	shots := newShooter(t, "small-")
	b := newBrowser(t, e, chromium)
	link := setupLinkRE.FindString(e.logs.String())
	if link == "" {
		t.Fatalf("no setup link in the log:\n%s", e.logs.String())
	}
	dead := "/setup?token=expired-or-used"
	b.run("dead setup link",
		chromedp.Navigate(e.url("/lang/ja?back="+url.QueryEscape(dead))),
		chromedp.WaitVisible(chromedp.ID("setup-expired")),
		b.contains("#setup-expired", "期限切れか使用済み"),
		b.contains("main", "linehub setup-link"),
		shots.shot("setup-expired-ja"),
		chromedp.Navigate(e.url("/lang/en?back="+url.QueryEscape(dead))),
		chromedp.WaitVisible(chromedp.ID("setup-expired")),
		b.contains("#setup-expired", "expired or was already used"),
		shots.shot("setup-expired-en"),
		chromedp.Navigate(e.url("/lang/ja?back=/")),
	)
	b.run("wizard with a reduced header and Back",
		chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "Tr0ub4dor&3-horse"),
		chromedp.SendKeys(chromedp.ID("password2"), "Tr0ub4dor&3-horse"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("public_url")),
		chromedp.WaitVisible(chromedp.ID("wizard-nav")),
		shots.shot("wizard-domain-ja"),
		chromedp.SendKeys(chromedp.ID("public_url"), e.url("")),
		chromedp.Click(chromedp.ID("save-domain")),
		chromedp.WaitVisible(chromedp.ID("hubspot_token")),
		shots.shot("wizard-hubspot-ja"),
		chromedp.Click(chromedp.ID("wizard-back")),
		chromedp.WaitVisible(chromedp.ID("public_url")),
		chromedp.Click(chromedp.ID("save-domain")),
		chromedp.WaitVisible(chromedp.ID("hubspot_token")),
		chromedp.SendKeys(chromedp.ID("hubspot_token"), hubspotToken),
		chromedp.Click(chromedp.ID("save-hubspot")),
		chromedp.WaitVisible(chromedp.ID("tier-starter")),
		chromedp.Click(chromedp.ID("tier-starter")),
		chromedp.Click(chromedp.ID("save-tier")),
		chromedp.WaitVisible(chromedp.ID("connect")),
		chromedp.WaitVisible(chromedp.ID("nav-jobs")),
	)
	menu, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]any](`[document.querySelectorAll("#nav-jobs").length, location.pathname]`))
	if err != nil || menu[0] != float64(1) || menu[1] != "/" {
		t.Errorf("after the wizard: %v %v, want the dashboard with the full menu", menu, err)
	}
	b.run("jobs in words",
		chromedp.Navigate(e.url("/jobs")),
		chromedp.WaitVisible(chromedp.ID("jobs")),
		b.contains(`tr[data-job="reconcile"] td.schedule`, "時間ごと"),
		b.contains(`tr[data-job="drift_repair"] td.schedule`, "毎日 03:30"),
		shots.shot("jobs-ja"),
		chromedp.Navigate(e.url("/lang/en?back=/jobs")),
		chromedp.WaitVisible(chromedp.ID("jobs")),
		b.contains(`tr[data-job="drift_repair"] td.schedule`, "daily at 03:30"),
		shots.shot("jobs-en"),
	)
	icon, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`Promise.all([fetch(document.querySelector('link[rel=icon]').href), fetch("/favicon.ico")]).then(rs => rs.map(r => r.status + " " + r.headers.get("content-type").split(";")[0]).join(", "))`, chromedp.EvalAwaitPromise))
	if err != nil || icon != "200 image/svg+xml, 200 image/svg+xml" {
		t.Errorf("the page's icon: %q %v", icon, err)
	}
}
