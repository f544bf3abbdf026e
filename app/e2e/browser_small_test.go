package e2e

import (
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
