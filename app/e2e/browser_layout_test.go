package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestBrowserNarrowScreen visits every page the navigation reaches, in
// both languages, on a 375-px-wide phone, with the long unbroken texts a
// shop's data holds (a connection name, a friend's last message): no page
// may be wider than the screen, since a sideways-scrolling page hides
// its buttons and columns.
func TestBrowserNarrowScreen(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{HubSpot: hubspottest.Options{TimeZone: "Asia/Tokyo"}})
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")

	long := strings.Repeat("LongShopName", 8) // the 100-byte limit
	friend := linetest.NewUserID()
	c := e.connectWith(long, true, func(token string) {
		e.LINE.AddFriend(token, line.Profile{UserID: friend, DisplayName: strings.Repeat("山田太郎Yamada", 8)})
	})
	now := time.Now()
	if st := e.deliver(c, linetest.FollowEvent(friend, false, now.Add(-time.Minute)),
		linetest.TextMessageEvent(friend, strings.Repeat("https://example.com/a-very-long-link-without-breaks/", 8)+" 予約をお願いします", now)); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	e.settled()
	var run struct {
		RunID int64 `json:"run_id"`
	}
	if st := e.api("POST", fmt.Sprintf("/connections/%d/import", c.ID), nil, &run); st != 202 || run.RunID == 0 {
		t.Fatalf("import: %d %+v", st, run)
	}
	var tpl struct {
		ID int64 `json:"id"`
	}
	if st := e.api("POST", "/templates", map[string]string{"name": "welcome", "text": "こんにちは {{firstname}} さん、" + strings.Repeat("お知らせ", 30)}, &tpl); st != 201 {
		t.Fatalf("template: %d", st)
	}
	// A broadcast scheduled for tomorrow, to a list with a long name.
	list := e.HS.AddList(strings.Repeat("VIPCustomersList", 6), nil)
	var bc struct {
		ID int64 `json:"id"`
	}
	if st := e.api("POST", fmt.Sprintf("/connections/%d/broadcasts", c.ID), map[string]string{"list_id": list,
		"text": strings.Repeat("セール開催中", 40), "scheduled_at": now.Add(24 * time.Hour).Format(time.RFC3339)}, &bc); st != 201 || bc.ID == 0 {
		t.Fatalf("broadcast: %d %+v", st, bc)
	}

	// The HubSpot app set up: Settings shows its "Inside HubSpot" download
	// and the app's id and secret, saved, with the button to remove them;
	// a person's edits of the friend's LINE properties in HubSpot show on
	// the friends page and in the chat's header.
	hooks := e.setUpHubSpotApp()
	ct := e.friendContact(c, friend)
	e.deliverHook(hooks, hooks.PropertyChange(ct, fmt.Sprintf("line_follow_%d", c.Serial), "No", "CRM_UI", "userId:7"),
		hooks.PropertyChange(ct, fmt.Sprintf("line_last_response_%d", c.Serial), strings.Repeat("電話で対応済み、", 12), "CRM_UI", "userId:7"))
	for deadline := time.Now().Add(10 * time.Second); e.hubspotEventsPending() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the app's webhook events were not applied")
		}
	}

	shots := newShooter(t, "layout-")
	pages := []string{
		"/",
		fmt.Sprintf("/connections/%d", c.ID),
		fmt.Sprintf("/connections/%d/friends", c.ID),
		fmt.Sprintf("/connections/%d/chat", c.ID),
		fmt.Sprintf("/connections/%d/chat/%s", c.ID, friend),
		"/broadcasts",
		fmt.Sprintf("/broadcasts/%d", bc.ID),
		fmt.Sprintf("/connections/%d/workflow", c.ID),
		"/connections/new",
		"/templates/new",
		"/templates",
		fmt.Sprintf("/templates/%d", tpl.ID),
		"/jobs",
		fmt.Sprintf("/jobs/runs/%d", run.RunID),
		"/settings",
		"/tokens",
		"/chats",
		"/connections/999", // the error page
		"/no-such-page",
	}
	b.run("phone viewport", chromedp.EmulateViewport(375, 740, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
		p.Mobile = true
	}))
	for _, lang := range []string{"ja", "en"} {
		b.run("language "+lang, chromedp.Navigate(e.url("/lang/"+lang+"?back=/")), chromedp.WaitVisible(chromedp.ID("connect")))
		for _, p := range pages {
			b.run(lang+" "+p, chromedp.Navigate(e.url(p)), chromedp.WaitReady("footer"))
			width, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			if err != nil {
				t.Fatal(err)
			}
			status, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("h1") ? "" : document.body.innerText.slice(0, 200)`))
			if err != nil {
				t.Fatal(err)
			}
			// Short labels stay on one line: "フォロー中" must not
			// become a column of single characters.
			broken, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](brokenLabelsJS))
			if err != nil {
				t.Fatal(err)
			}
			if len(broken) > 0 {
				t.Errorf("%s %s: labels broken over lines: %q", lang, p, broken)
			}
			if status != "" {
				t.Errorf("%s %s: not a page: %q", lang, p, status)
			}
			if p == "/settings" {
				// Settings is checked with the HubSpot app's sections (with
				// this http public URL, the download's place says why).
				n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#hubspot-app-export, #hubspot-app-https, #hubspot-app, #hubspot-app-ok, #remove-hubspot-app").length`))
				if err != nil || n != 5 {
					t.Errorf("%s /settings: %d of the HubSpot app's 5 parts shown (%v)", lang, n, err)
				}
				b.run(lang+" settings shot", shots.shot("hubspot-app-"+lang))
			}
			if p == fmt.Sprintf("/connections/%d/friends", c.ID) || p == fmt.Sprintf("/connections/%d/chat/%s", c.ID, friend) {
				n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(".edited .edit, .edited li").length`))
				if err != nil || n != 2 {
					t.Errorf("%s %s: %d of 2 edits in HubSpot shown (%v)", lang, p, n, err)
				}
				if strings.HasSuffix(p, "/friends") {
					b.run(lang+" friends shot", shots.shot("friends-edited-"+lang))
				}
			}
			if width > 375 {
				t.Errorf("%s %s: the page is %d px wide on a 375 px screen", lang, p, width)
			}
		}
	}
}

// brokenLabelsJS lists the table headings, buttons and state labels
// whose text wraps.
const brokenLabelsJS = `Array.from(document.querySelectorAll("th, button, .button, .state, td .ok, td .muted")).filter(function (el) {
  var t = Array.from(el.childNodes).find(function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
  if (!t || el.offsetParent === null) return false;
  var r = document.createRange(); r.selectNodeContents(t);
  var tops = new Set(Array.from(r.getClientRects()).map(function (c) { return Math.round(c.top); }));
  return tops.size > 1;
}).map(function (el) { return el.textContent.trim(); })`
