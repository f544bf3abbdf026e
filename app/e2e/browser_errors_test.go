package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserIconTooLarge: an icon over the limit is refused in the
// browser before anything is sent, in the admin's language, and the
// form keeps what was typed; an unknown page is a translated error page
// with the menu, not the API's JSON.
func TestBrowserIconTooLarge(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	shots := newShooter(t, "errors-")
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")

	// 14 MB: over both the icon limit and the server's request limit.
	big := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(big, append([]byte{0xff, 0xd8, 0xff, 0xe0}, make([]byte, 14<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	b.run("choose a 14 MB icon",
		chromedp.Navigate(e.url("/lang/ja?back=/connections/new")),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "東京店"),
		chromedp.SendKeys(chromedp.ID("description"), "駅前の店舗"),
		chromedp.SetUploadFiles(chromedp.ID("icon"), []string{big}),
		chromedp.WaitVisible(chromedp.CSS("[data-file-error]")),
		b.contains("[data-file-error]", "アイコンの上限 512 KB を超えています"),
		shots.shot("icon-too-large"),
		chromedp.Click(chromedp.ID("create")),
	)
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]any](`[location.pathname, document.getElementById("name").value, document.getElementById("description").value, document.body.innerText.indexOf('"error"') < 0]`))
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != "/connections/new" || v[1] != "東京店" || v[2] != "駅前の店舗" || v[3] != true {
		t.Errorf("after Create with a 14 MB icon: %v, want to stay on the form with the name and description kept", v)
	}
	var list struct {
		Connections []map[string]any `json:"connections"`
	}
	if st := e.api("GET", "/connections", nil, &list); st != 200 || len(list.Connections) != 0 {
		t.Errorf("a connection was created: %d %v", st, list.Connections)
	}

	b.run("unknown page",
		chromedp.Navigate(e.url("/connections/999")),
		chromedp.WaitVisible(chromedp.ID("errpage")),
		b.contains("h1", "ページが見つかりません"),
		chromedp.WaitVisible(chromedp.ID("logout")),
		shots.shot("not-found"),
	)
	if text, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`)); err != nil || strings.Contains(text, `{"error"`) {
		t.Errorf("error page: %v %q", err, text)
	}
}
