package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
)

// TestBrowserLinkFromEmail is the customer's path in headless Chromium
// against the real binary and the doubles: the admin sets up LINE Login on
// the connection page, turns linking on and writes link URLs to a HubSpot
// list; the customer opens the link from the email, logs in on LINE's
// page (the double's), adds the account as a friend and sees "linked".
// Then HubSpot holds one contact for the person: the customer's, with its
// email and name, the seven LINE properties and the friend's dummy contact
// merged into it (its email taken by it), one timeline note; later
// messages update it, and reconcile, drift repair and a restart make no
// new dummy. The website link (no token) links by a unique email, or
// makes a contact with the real email. Every link page is shot in ja and
// en at 375 px (docs/screenshots/link-*).
func TestBrowserLinkFromEmail(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_JOBS_LINE_RATE=2000"}})
	shots := newLinkShots(t)
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	shop := e.connect("Shop Tokyo")
	e.addLoginChannel(shop)
	p := func(k string) string { return fmt.Sprintf("%s_%d", k, shop.Serial) }

	hanako := linetest.NewUserID()
	dummy := e.friendWithDummy(shop, hanako, "Yamada Hanako", "")
	real, err := e.HS.AddContact(map[string]string{"email": "hanako.yamada@customer.example", "firstname": "花子", "lastname": "山田"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.HS.AddContact(map[string]string{"email": "jiro.sato@customer.example", "firstname": "次郎"})
	if err != nil {
		t.Fatal(err)
	}
	e.HS.AddList("Spring newsletter", []string{real, other})
	link := b.setUpLinking(shop, "Spring", real)
	if o, _ := e.HS.Contact(other); o.Properties[p("line_link_url")] == "" || o.Properties[p("line_link_url")] == link {
		t.Fatalf("the other list member's link URL %q (hanako's %q)", o.Properties[p("line_link_url")], link)
	}
	e.settled()

	// The customer opens the link from the email on the phone.
	b.run("link from the email", b.lang("en"), b.linkAs(link, hanako), b.kindIs("linked"), shots.shot(1, "linked", "en", false))
	merged := e.HS.MergedInto(real)
	if merged == "" || e.HS.MergedInto(dummy) != merged {
		t.Fatalf("dummy %s not merged into the customer's contact %s (now %q, dummy now %q)", dummy, real, merged, e.HS.MergedInto(dummy))
	}
	if n := e.HS.RequestsByPath()[mergePath]; n != 1 {
		t.Errorf("%d merge requests, want 1", n)
	}
	if got := e.createConflict(dummyEmail(hanako)); got != merged {
		t.Errorf("creating a contact with the dummy email conflicts with %q, want the survivor %s", got, merged)
	}
	e.settled()
	check := func(when, lastResponse string) {
		t.Helper()
		c, ok := e.HS.Contact(merged)
		if !ok || c.ID != merged {
			t.Fatalf("%s: survivor %s not readable (%+v)", when, merged, c)
		}
		expectProps(t, c, map[string]string{"email": "hanako.yamada@customer.example", "firstname": "花子", "lastname": "山田",
			p("line_user_id"): hanako, p("line_user_name"): "Yamada Hanako", p("line_user_picture"): "https://profile.line-scdn.net/" + hanako,
			p("line_follow"): "Yes", p("line_last_response"): lastResponse})
		for _, k := range sevenLINEProperties {
			if c.Properties[p(k)] == "" && k != "line_last_response" && k != "line_unanswered" {
				t.Errorf("%s: %s empty on the customer's contact", when, p(k))
			}
		}
		if n := countContacts(e.HS, hanako); n != 0 {
			t.Errorf("%s: %d contacts with hanako's dummy email", when, n)
		}
		if got := e.friendContact(shop, hanako); got != merged {
			t.Errorf("%s: linehub keeps contact %s for hanako, want %s", when, got, merged)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	check("after linking", "")
	e.eventually("one timeline note of the link", func() bool { return len(e.HS.Notes(merged)) == 1 })
	if n := e.HS.Notes(merged)[0]; !strings.Contains(n.Body, "LINE account linked") || !strings.Contains(n.Body, hanako) {
		t.Errorf("link note %q", n.Body)
	}

	if st := e.deliver(shop, linetest.TextMessageEvent(hanako, "Is the spring sale on?", time.Now())); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	e.settled()
	check("after a message", "Is the spring sale on?")
	expectProps(t, mustProps(t, e, merged), map[string]string{p("line_unanswered"): "Yes"})
	for _, k := range sevenLINEProperties {
		if mustProps(t, e, merged).Properties[p(k)] == "" {
			t.Errorf("%s empty after a message", p(k))
		}
	}

	// The same link again, as a person clicking the email twice.
	b.run("the link again", b.lang("ja"), b.linkAs(link, hanako), b.kindIs("already"), shots.shot(2, "already", "ja", false),
		b.lang("en"), b.linkAs(link, hanako), b.kindIs("already"), shots.shot(2, "already", "en", false))

	e.runNow(fmt.Sprintf("/connections/%d/reconcile", shop.ID))
	e.settled()
	e.runNow(fmt.Sprintf("/connections/%d/drift-repair", shop.ID))
	e.settled()
	check("after reconcile and drift repair", "Is the spring sale on?")
	expired := e.expiredLink(shop, real) // restarts linehub
	if st := e.deliver(shop, linetest.TextMessageEvent(hanako, "Thanks!", time.Now())); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	e.settled()
	check("after a restart", "Thanks!")

	// The website link (no token): LINE gives the email; one contact has it.
	ken := linetest.NewUserID()
	kenDummy := e.friendWithDummy(shop, ken, "Suzuki Ken", "ken.suzuki@customer.example")
	kenReal, err := e.HS.AddContact(map[string]string{"email": "ken.suzuki@customer.example", "firstname": "健"})
	if err != nil {
		t.Fatal(err)
	}
	site := e.url(fmt.Sprintf("/link/%d", shop.ID))
	b.run("website link, linked by email", b.lang("ja"), b.linkAs(site, ken), b.kindIs("linked"), shots.shot(1, "linked", "ja", true))
	kenMerged := e.HS.MergedInto(kenReal)
	if kenMerged == "" || e.HS.MergedInto(kenDummy) != kenMerged {
		t.Fatalf("ken's dummy %s not merged into %s", kenDummy, kenReal)
	}
	e.settled()
	expectProps(t, mustProps(t, e, kenMerged), map[string]string{"email": "ken.suzuki@customer.example", "firstname": "健", p("line_user_id"): ken})

	// Nobody has the email, and the person is not a friend yet: they add
	// the account while logging in, and get a contact with their email.
	newcomer := linetest.NewUserID()
	e.LINE.AddLoginUser(linetest.LoginUser{UserID: newcomer, Name: "Mori Aoi", Email: "aoi.mori@mail.example"})
	before := len(e.HS.Contacts())
	b.run("website link, new contact", b.lang("en"), b.linkAs(site, newcomer), b.kindIs("linked"))
	aoi, ok := e.HS.ContactByEmail("aoi.mori@mail.example")
	if !ok || len(e.HS.Contacts()) != before+1 {
		t.Fatalf("no contact with the newcomer's email (%d contacts, %d before)", len(e.HS.Contacts()), before)
	}
	// LINE sends the follow of the friend added at login, then a message.
	if st := e.deliver(shop, linetest.FollowEvent(newcomer, false, time.Now()), linetest.TextMessageEvent(newcomer, "Hello!", time.Now())); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	e.settled()
	expectProps(t, mustProps(t, e, aoi.ID), map[string]string{"email": "aoi.mori@mail.example", p("line_user_id"): newcomer,
		p("line_follow"): "Yes", p("line_last_response"): "Hello!"})
	if n := countContacts(e.HS, newcomer); n != 0 || len(e.HS.Contacts()) != before+1 {
		t.Fatalf("a dummy contact for the newcomer (%d; %d contacts)", n, len(e.HS.Contacts()))
	}

	// The pages that link nothing, in both languages.
	forged := e.url(fmt.Sprintf("/link/%d/AQEB6QfM2pLwqZbN0Y3mXf8sTuVbHcKdEa1", shop.ID))
	stranger := linetest.NewUserID()
	e.LINE.AddLoginUser(linetest.LoginUser{UserID: stranger, Name: "Kato Ren"})
	for _, lang := range []string{"ja", "en"} {
		b.run("refusals in "+lang, b.lang(lang),
			chromedp.Navigate(expired), b.kindIs("expired"), shots.shot(3, "expired", lang, false),
			chromedp.Navigate(forged), b.kindIs("invalid"), shots.shot(4, "invalid", lang, false),
			// The newcomer opens hanako's forwarded link.
			b.linkAs(link, newcomer), b.kindIs("used"), shots.shot(5, "used", lang, false),
			chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("cancel")), chromedp.Click(chromedp.ID("cancel")),
			b.kindIs("cancelled"), shots.shot(6, "cancelled", lang, false),
			// Declines to add the account: not a friend, nothing linked.
			chromedp.Navigate(site), chromedp.WaitVisible(chromedp.ID("add-friend")), chromedp.Click(chromedp.ID("add-friend")),
			chromedp.Click(chromedp.ID("login-"+stranger)), b.kindIs("notfriend"), shots.shot(7, "notfriend", lang, false),
			chromedp.Navigate(e.url("/link/callback?code=abc&state=def")), b.kindIs("session"), shots.shot(8, "session", lang, false),
		)
	}
	if got := e.friendContact(shop, newcomer); got != aoi.ID {
		t.Errorf("the newcomer follows %s after opening hanako's link, want %s", got, aoi.ID)
	}
	check("at the end", "Thanks!")
	if n := e.HS.RequestsByPath()[mergePath]; n != 2 {
		t.Errorf("%d merge requests, want 2 (hanako, ken)", n)
	}
}

func mustProps(t *testing.T, e *env, id string) hubspottest.Contact {
	t.Helper()
	c, ok := e.HS.Contact(id)
	if !ok {
		t.Fatalf("contact %s not found", id)
	}
	return c
}

// TestBrowserLinkJobFollowsProgress: the link-URL job's block on the
// linking page follows the job while it runs (the page's script re-reads
// it) and stops once it is done, without the admin reloading.
func TestBrowserLinkJobFollowsProgress(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	shop := e.connect("Shop Tokyo")
	a, err := e.HS.AddContact(map[string]string{"email": "a@customer.example"})
	if err != nil {
		t.Fatal(err)
	}
	list := e.HS.AddList("Autumn newsletter", []string{a})
	// HubSpot holds the list's members until the page shows the job running.
	release := make(chan struct{})
	e.HS.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/"+list+"/memberships") {
			<-release
		}
		return 0, "", false
	})
	t.Cleanup(func() { e.HS.SetFault(nil) })
	b.run("start the job", b.lang("en"),
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d/linking", shop.ID))),
		chromedp.WaitVisible(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("save-linking")),
		chromedp.WaitVisible(chromedp.ID("lq")),
		chromedp.SendKeys(chromedp.ID("lq"), "Autumn"),
		chromedp.Click(chromedp.ID("find-lists")),
		chromedp.WaitVisible(chromedp.ID("lists")),
		chromedp.Click(chromedp.CSS("#lists button.link-btn")),
		chromedp.WaitVisible(chromedp.CSS("#link-job[data-refresh]")),
		// Typed while the job runs, and kept: only the job's block changes.
		chromedp.SendKeys(chromedp.ID("lq"), " typed meanwhile"),
	)
	close(release)
	b.run("the job ends while the page stays open",
		chromedp.WaitNotPresent(chromedp.CSS("#link-job[data-refresh]")),
	)
	done, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("link-job")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(done, "done") || !strings.Contains(done, "1 written") {
		t.Fatalf("the job's block after the job ended, without a reload: %q", done)
	}
	typed, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("lq")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(typed, "typed meanwhile") {
		t.Fatalf("search box %q: the page was reloaded", typed)
	}
}
