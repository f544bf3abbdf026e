package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestBrowserJobs drives the jobs UI of the real binary in headless
// Chromium: a verified account with 3,000 followers in the LINE double,
// "Import friends" with the progress bar moving (app.js polls; the page is
// not reloaded until the import ends), "Reconcile now", and the Jobs page.
func TestBrowserJobs(t *testing.T) {
	const followers = 3000
	chromium := chromiumPath(t)
	// 300 LINE calls a second: the import takes about ten seconds, long
	// enough to watch the bar move and the dashboard's badge.
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_JOBS_LINE_RATE=300"}})
	shots := newShooter(t, "jobs-")
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")

	c := e.connectWith("Shop Tokyo", true, func(token string) {
		for i := range followers {
			e.LINE.AddFriend(token, line.Profile{UserID: linetest.NewUserID(), DisplayName: fmt.Sprintf("Friend %04d", i)})
		}
	})
	page := e.url(fmt.Sprintf("/connections/%d", c.ID))
	b.run("connection page",
		chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("import-now")),
		b.contains("#import-none", "No import has run"),
		chromedp.ScrollIntoView(chromedp.ID("jobs")),
		shots.shot("connection-before-import"),
	)

	// Import friends: the bar appears, then moves while the page stays
	// the same document (a marker set after the click survives).
	b.run("import friends",
		chromedp.Click(chromedp.ID("import-now")),
		chromedp.WaitVisible(chromedp.ID("import-bar")),
		b.contains("#jobs-notice", "Import started"),
	)
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.linehubMarker = true`)); err != nil {
		t.Fatal(err)
	}
	// Meanwhile, in a second tab, the dashboard card says it is importing.
	tab, closeTab := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(e.url("/")),
		chromedp.WaitVisible(chromedp.CSS(`[data-badge="importing"]`)),
		b.contains(`[data-badge="importing"]`, "importing friends"),
		shots.shot("dashboard-importing")); err != nil {
		t.Fatalf("dashboard while importing: %v", err)
	}
	closeTab()
	var seen []float64
	shotTaken := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]any](`[
			window.linehubMarker === true,
			document.getElementById("import-bar") ? document.getElementById("import-bar").value : -1,
			!!document.getElementById("import-result")]`))
		if err != nil {
			t.Fatalf("read the progress bar: %v\nlinehub log:\n%s", err, e.logs.tail(40))
		}
		sameDoc, value, finished := v[0].(bool), v[1].(float64), v[2].(bool)
		if finished {
			break
		}
		if sameDoc && value >= 0 && (len(seen) == 0 || seen[len(seen)-1] != value) {
			seen = append(seen, value)
		}
		if !shotTaken && sameDoc && value > 0 && value < followers {
			b.run("progress shot", b.contains("#import-progress", "of 3,000 friends"), shots.shot("import-running"))
			shotTaken = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import did not finish; bar values seen: %v\nlinehub log:\n%s", seen, e.logs.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("progress bar values seen without a reload: %v", seen)
	moved := 0
	for _, v := range seen {
		if v > 0 && v < followers {
			moved++
		}
	}
	if moved < 2 {
		t.Errorf("the progress bar did not move without a reload: %v", seen)
	}
	// When the import ends app.js reloads the page, which shows the result.
	b.run("import done",
		chromedp.WaitVisible(chromedp.ID("import-result")),
		b.contains("#import-result", "Imported 3,000 friends"),
		chromedp.ScrollIntoView(chromedp.ID("jobs")),
		shots.shot("import-done"),
	)

	// Reconcile now, then its run on the page and on the Jobs page.
	b.run("reconcile now",
		chromedp.Click(chromedp.ID("reconcile-now")),
		chromedp.WaitVisible(chromedp.ID("jobs-notice")),
		b.contains("#jobs-notice", "Reconcile started"),
		chromedp.WaitVisible(chromedp.CSS(`tr.run[data-job="reconcile"]`)),
		chromedp.ScrollIntoView(chromedp.ID("jobs")),
		shots.shot("reconcile-started"),
	)
	var text, state string
	deadline = time.Now().Add(30 * time.Second)
	for {
		b.run("jobs page", chromedp.Click(chromedp.ID("nav-jobs")), chromedp.WaitVisible(chromedp.ID("runs")))
		var err error
		state, err = chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('tr.run[data-job="reconcile"]').dataset.state`))
		if err != nil {
			t.Fatal(err)
		}
		if state != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reconcile run did not finish")
		}
		time.Sleep(200 * time.Millisecond)
	}
	text, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(`tr.run[data-job="reconcile"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if state != "ok" {
		t.Fatalf("reconcile run state %q: %q", state, text)
	}
	if !strings.Contains(text, "Shop Tokyo") || !strings.Contains(text, "3000") {
		t.Errorf("reconcile row on the Jobs page: %q", text)
	}
	b.run("jobs page shots",
		b.contains(`tr.run[data-job="import"]`, "Import friends"),
		shots.shot("jobs"),
		chromedp.Click(chromedp.CSS(`tr.run[data-job="reconcile"] a`)),
		// The run's figures in words; its raw message is folded below.
		chromedp.WaitVisible(chromedp.ID("run-facts")),
		b.contains("#run-facts", "Friends confirmed"), b.contains("#run-facts", "3000"),
		shots.shot("run-detail"),
		chromedp.Navigate(e.url("/lang/ja?back=/jobs")), chromedp.WaitVisible(chromedp.ID("runs")),
		b.contains("h1", "ジョブ"),
		shots.shot("jobs-ja"),
		chromedp.Navigate(e.url("/lang/en?back=/")), chromedp.WaitVisible(chromedp.ID("connect")),
	)

	// HubSpot refuses linehub's writes: the dashboard says so at the top,
	// with HubSpot's words, and stops saying it once a write works again.
	e.HS.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.Contains(r.URL.Path, "/contacts/batch/") {
			return http.StatusUnauthorized, `{"status":"error","message":"Authentication credentials not found. This API supports OAuth 2.0 authentication.","category":"INVALID_AUTHENTICATION","correlationId":"e2e"}`, true
		}
		return 0, "", false
	})
	uid := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "Late Friend"})
	if st := e.deliver(c, linetest.FollowEvent(uid, false, time.Now())); st != 200 {
		t.Fatalf("follow: %d", st)
	}
	waitHealth := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			b.run("dashboard", chromedp.Navigate(e.url("/")), chromedp.WaitVisible(chromedp.ID("connect")))
			n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-health]").length`))
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("dashboard health notice shown = %v after 30 s, want %v\nlinehub log:\n%s", n > 0, want, e.logs.tail(30))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitHealth(true)
	b.run("dashboard with a problem",
		b.contains("[data-health]", "Syncing with HubSpot is failing"),
		b.contains("[data-health]", "Open Settings to save the HubSpot token"),
		shots.shot("dashboard-problem"),
	)
	// HubSpot's own words stay available, folded under the notice.
	detail, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("[data-health] details").textContent`))
	if err != nil || !strings.Contains(detail, "Authentication credentials not found") {
		t.Errorf("HubSpot's words under the notice: %q (%v)", detail, err)
	}
	e.HS.SetFault(nil)
	// The refused friend waits out its backoff; a new friend's write,
	// now accepted, ends the notice.
	next := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: next, DisplayName: "Next Friend"})
	if st := e.deliver(c, linetest.FollowEvent(next, false, time.Now())); st != 200 {
		t.Fatalf("follow: %d", st)
	}
	waitHealth(false)
}
