package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestBrowserLinkByHand links a LINE friend to the customer's contact on
// the friend's page in headless Chromium (the real binary, the doubles):
// HubSpot merges the friend's dummy-email contact into the customer's,
// which keeps its email and name and gets the LINE properties; a later
// message, and a restart, update that contact and make no new dummy one.
// Then the linking page (switch, link URLs for a list) in both languages.
func TestBrowserLinkByHand(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	shots := newShooter(t, "linking-")
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	shop := e.connect("Shop Tokyo")
	uid := linetest.NewUserID()
	e.LINE.AddFriend(shop.token, line.Profile{UserID: uid, DisplayName: "Yamada Hanako"})
	if st := e.deliver(shop, linetest.FollowEvent(uid, false, time.Now())); st != 200 {
		t.Fatalf("deliver follow: %d", st)
	}
	e.settled()
	if n := len(e.HS.Contacts()); n != 1 {
		t.Fatalf("%d contacts, want the friend's dummy one", n)
	}
	dummy := e.HS.Contacts()[0].ID
	real, err := e.HS.AddContact(map[string]string{"email": "hanako.yamada@customer.example", "firstname": "花子", "lastname": "山田"})
	if err != nil {
		t.Fatal(err)
	}

	b.run("friends page links to the friend's link page",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d/friends", shop.ID))),
		chromedp.WaitVisible(chromedp.CSS("a.friend-link-btn")),
		shots.shot("friends"),
		chromedp.Click(chromedp.CSS("a.friend-link-btn")),
		chromedp.WaitVisible(chromedp.ID("link-search")),
		b.contains("#link-current", dummy),
	)
	b.run("search by email and link",
		chromedp.SendKeys(chromedp.ID("q"), "hanako.yamada@customer.example"),
		chromedp.Submit(chromedp.ID("q")),
		chromedp.WaitVisible(chromedp.ID("link-hits")),
		b.contains("#link-hits", "山田"),
		shots.shot("search"),
		chromedp.Click(chromedp.CSS("#link-hits button.link-btn")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
		b.contains("#link-history", "by hand"),
		shots.shot("linked"),
	)
	merged := e.HS.MergedInto(real)
	if merged == "" || e.HS.MergedInto(dummy) != merged {
		t.Fatalf("dummy %s not merged into the customer's contact %s", dummy, real)
	}
	e.settled()
	check := func(when, lastResponse string) {
		t.Helper()
		c, ok := e.HS.Contact(merged)
		p := c.Properties
		if !ok || p["email"] != "hanako.yamada@customer.example" || p["firstname"] != "花子" || p["line_user_id_1"] != uid ||
			p["line_follow_1"] != "Yes" || p["line_last_response_1"] != lastResponse {
			t.Fatalf("%s: merged contact %v", when, p)
		}
		if n := len(e.HS.Contacts()); n != 1 {
			t.Fatalf("%s: %d contacts, want only the customer's", when, n)
		}
	}
	check("after linking", "")
	if st := e.deliver(shop, linetest.TextMessageEvent(uid, "Is the sale on?", time.Now())); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	e.settled()
	check("after a message", "Is the sale on?")
	e.stop()
	e.start()
	if st := e.deliver(shop, linetest.TextMessageEvent(uid, "Thanks!", time.Now())); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	e.settled()
	check("after a restart", "Thanks!")

	b.run("the friend's page in Japanese",
		chromedp.Navigate(e.url("/lang/ja?back="+fmt.Sprintf("/connections/%d/friends/%s/link", shop.ID, uid))),
		chromedp.WaitVisible(chromedp.ID("link-history")),
		b.contains("#link-history", "手動"),
		shots.shot("linked-ja"),
		chromedp.Navigate(e.url("/lang/en?back=/")),
	)

	e.HS.AddList("Spring newsletter", []string{merged})
	linking := e.url(fmt.Sprintf("/connections/%d/linking", shop.ID))
	b.run("turn linking on and write link URLs",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d", shop.ID))),
		chromedp.Click(chromedp.ID("linking-link")),
		chromedp.WaitVisible(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("save-linking")),
		chromedp.WaitVisible(chromedp.ID("lq")),
		chromedp.SendKeys(chromedp.ID("lq"), "Spring"),
		chromedp.Click(chromedp.ID("find-lists")),
		chromedp.WaitVisible(chromedp.ID("lists")),
		shots.shot("lists"),
		chromedp.Click(chromedp.CSS("#lists button.link-btn")),
		chromedp.WaitVisible(chromedp.ID("link-job")),
	)
	e.eventually("the link URL written", func() bool {
		c, _ := e.HS.Contact(merged)
		return c.Properties["line_link_url_1"] != ""
	})
	b.run("linking page after the job, English then Japanese",
		chromedp.Navigate(linking),
		b.waitText("#link-job", "1 written"),
		shots.shot("job-done"),
		chromedp.Navigate(e.url("/lang/ja?back="+fmt.Sprintf("/connections/%d/linking", shop.ID))),
		b.waitText("#link-job", "完了"),
		shots.shot("job-done-ja"),
	)
}
