package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// waitText polls the text of sel until it contains want: the page changes
// by itself (app.js polls the broadcast's progress).
func (b *browser) waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var last string
		for {
			text, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
			if err == nil && strings.Contains(text, want) {
				return nil
			}
			if err == nil {
				last = text
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never showed %q (last %q): %w", sel, want, last, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// waitJS polls a JavaScript condition until it is true, across page loads
// (a form's answer replaces the page the condition first sees).
func (b *browser) waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			if ok, err := chromedp.Evaluate[bool](expr)(ctx, tg); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never held: %w", expr, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// TestBrowserBroadcast composes and sends a segment broadcast in headless
// Chromium against the real binary: the list is found by name, the
// preview counts who gets it, the report page follows the progress
// without a reload, and the LINE double receives the multicasts. It then
// visits the chat (replying through the form), the template editor and
// the workflow panel, with a screenshot of each step.
func TestBrowserBroadcast(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	shots := newShooter(t, "broadcast-")
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	c := e.connect("Shop Tokyo")
	if !c.PropertiesReady {
		t.Fatalf("properties not ready: %+v", c)
	}

	// 1,200 list members: 1,100 with this connection's LINE id (50 of them
	// blocked the account), 100 without.
	hs := hubspot.New(hubspot.Config{BaseURL: e.HS.URL(), Token: hubspotToken})
	var in []hubspot.ContactInput
	recipients := map[string]bool{}
	serial := strconv.Itoa(c.Serial)
	for i := range 1200 {
		props := map[string]string{"firstname": fmt.Sprintf("Member %d", i)}
		if i < 1100 {
			uid := linetest.NewUserID()
			props["line_user_id_"+serial] = uid
			props["line_follow_"+serial] = "Yes"
			if i < 50 {
				props["line_follow_"+serial] = "No"
			} else {
				recipients[uid] = true
			}
		}
		in = append(in, hubspot.ContactInput{Ref: strconv.Itoa(i), Email: fmt.Sprintf("vip%d@example.com", i), Properties: props})
	}
	res, err := hs.BatchCreateContacts(context.Background(), in)
	if err != nil || len(res.Contacts) != 1200 {
		t.Fatalf("seed contacts: %v, %d created", err, len(res.Contacts))
	}
	var ids []string
	for _, ct := range res.Contacts {
		ids = append(ids, ct.ID)
	}
	e.HS.AddList("Newsletter (all)", ids[:10])
	listID := e.HS.AddList("VIP customers", ids)

	// The second multicast waits until the report has shown the first
	// one's progress, so the live update is seen (and photographed).
	second, release := make(chan struct{}), make(chan struct{})
	n := 0
	e.LINE.SetMulticastHook(c.token, func(linetest.Multicast) {
		n++
		if n == 2 {
			close(second)
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	b.run("compose",
		chromedp.Click(chromedp.ID("nav-broadcasts")),
		chromedp.WaitVisible(chromedp.ID("list-q")),
		chromedp.SendKeys(chromedp.ID("list-q"), "VIP"),
		chromedp.Click(chromedp.ID("list-search")),
		// The first page offers every list; the answer only the match.
		b.waitJS(`document.querySelectorAll("#lists input").length === 1 && !!document.getElementById("list-`+listID+`")`),
		b.contains("#lists", "VIP customers"),
		chromedp.Click(chromedp.ID("list-"+listID)),
		chromedp.SetValue(chromedp.ID("connection"), strconv.FormatInt(c.ID, 10)),
		chromedp.SendKeys(chromedp.ID("text"), "Members-only sale this weekend: 20% off everything."),
		shots.shot("compose"),
		chromedp.Click(chromedp.ID("preview")),
		chromedp.WaitVisible(chromedp.ID("preview-result")),
		b.contains("#pv-recipients", "1050"),
		b.contains("#pv-noid", "100"),
		b.contains("#pv-blocked", "50"),
		b.contains("#quota-ok", "quota"),
		chromedp.ScrollIntoView(chromedp.ID("preview-result")),
		shots.shot("preview"),
	)
	if got := e.LINE.Multicasts(c.token); len(got) != 0 {
		t.Fatalf("the preview sent %d multicasts", len(got))
	}
	b.run("send", chromedp.Click(chromedp.ID("confirm-send")), chromedp.Click(chromedp.ID("send")), chromedp.WaitVisible(chromedp.ID("report")))
	select {
	case <-second:
	case <-time.After(60 * time.Second):
		t.Fatalf("the second multicast never came:\n%s", e.logs.tail(40))
	}
	b.run("live progress",
		b.waitText("#r-sent", "500"),
		b.contains("#status", "sending"),
		shots.shot("sending"),
	)
	close(release)
	b.run("report",
		b.waitText("#status", "done"),
		chromedp.WaitVisible(chromedp.ID("counts")),
		b.contains("#r-sent", "1050"),
		b.contains("#r-noid", "100"),
		b.contains("#r-blocked", "50"),
		b.contains("#r-failed", "0"),
		b.contains("#r-pending", "0"),
		shots.shot("report"),
	)
	ms := e.LINE.Multicasts(c.token)
	if len(ms) != 3 || len(ms[0].To) != 500 || len(ms[1].To) != 500 || len(ms[2].To) != 50 {
		t.Fatalf("%d multicasts, want 500 + 500 + 50", len(ms))
	}
	got := map[string]int{}
	for _, m := range ms {
		if m.RetryKey == "" || len(m.Texts) != 1 || m.Texts[0] != "Members-only sale this weekend: 20% off everything." {
			t.Fatalf("multicast %+v", m.Texts)
		}
		for _, u := range m.To {
			got[u]++
		}
	}
	for u, k := range got {
		if k != 1 || !recipients[u] {
			t.Fatalf("%s got the message %d times (recipient: %v)", u, k, recipients[u])
		}
	}
	if len(got) != len(recipients) {
		t.Fatalf("%d recipients reached, want %d", len(got), len(recipients))
	}
	b.run("history", chromedp.Navigate(e.url("/broadcasts")), chromedp.WaitVisible(chromedp.ID("broadcasts")),
		b.contains("#broadcasts", "1050 / 1050"), b.contains("#broadcasts", "VIP customers"),
		chromedp.ScrollIntoView(chromedp.ID("broadcasts")), shots.shot("history"))

	// 1:1 chat: a friend writes; the reply through the form uses the token.
	friend := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: friend, DisplayName: "Yamada Hanako"})
	ev := linetest.TextMessageEvent(friend, "Is the sale on in the Shibuya store too?", time.Now())
	e.LINE.IssueReplyTokens(c.token, ev)
	if st := e.deliver(c, ev); st != 200 {
		t.Fatalf("deliver message: %d", st)
	}
	e.settled()
	b.run("chat",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d", c.ID))),
		chromedp.Click(chromedp.ID("chat-link")),
		chromedp.WaitVisible(chromedp.ID("conversations")),
		b.contains("#conversations", "Yamada Hanako"),
		b.contains("#conversations", "unanswered"),
		shots.shot("chats"),
		chromedp.Click(chromedp.CSS("#conversations a.fname")),
		chromedp.WaitVisible(chromedp.ID("reply-text")),
		b.contains("#messages", "Shibuya"),
		chromedp.SendKeys(chromedp.ID("reply-text"), "Yes, every store until Sunday!"),
		chromedp.Click(chromedp.ID("reply-send")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
		b.contains(".flash", "reply token"),
		b.contains("#messages", "every store until Sunday"),
		shots.shot("chat"),
	)
	if r := e.LINE.Replies(c.token); len(r) != 1 || r[0].UserID != friend || r[0].Texts[0] != "Yes, every store until Sunday!" {
		t.Fatalf("replies: %+v", r)
	}

	// Template editor: write, preview with a sample property, save.
	b.run("template",
		chromedp.Click(chromedp.ID("nav-templates")),
		chromedp.WaitVisible(chromedp.ID("new-template")),
		chromedp.Click(chromedp.ID("new-template")),
		chromedp.WaitVisible(chromedp.ID("tpl-name")),
		chromedp.SendKeys(chromedp.ID("tpl-name"), "welcome"),
		chromedp.SendKeys(chromedp.ID("tpl-text"), "Hello {{firstname|there}}, thanks for following Shop Tokyo!"),
		chromedp.SendKeys(chromedp.ID("tpl-props"), "firstname=Hanako"),
		chromedp.Click(chromedp.ID("tpl-preview")),
		chromedp.WaitVisible(chromedp.ID("tpl-preview-out")),
		b.contains("#tpl-preview-out", "Hello Hanako, thanks for following Shop Tokyo!"),
		shots.shot("template-preview"),
		chromedp.Click(chromedp.ID("tpl-save")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
		chromedp.Click(chromedp.ID("nav-templates")),
		chromedp.WaitVisible(chromedp.ID("templates")),
		b.contains("#templates", "welcome"),
		shots.shot("templates"),
	)

	// Workflow panel: the key is shown once, with the HubSpot instructions.
	b.run("workflow",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d", c.ID))),
		chromedp.Click(chromedp.ID("workflow-link")),
		chromedp.WaitVisible(chromedp.ID("workflow-url")),
		chromedp.Click(chromedp.ID("workflow-rotate")),
		chromedp.WaitVisible(chromedp.ID("workflow-key")),
		b.contains("#workflow-steps", "Send a webhook"),
		b.contains("#workflow-steps", "X-Linehub-Key"),
		shots.shot("workflow"),
	)
	key, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("workflow-key")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "lhw_") {
		t.Fatalf("workflow key %q", key)
	}
	b.run("key not shown again", chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d/workflow", c.ID))), chromedp.WaitVisible(chromedp.ID("workflow-key-last4")))
	html, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, key) {
		t.Fatal("the workflow key is shown again after a reload")
	}
	for _, secret := range []string{hubspotToken, c.secret, c.token, key} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log contains a secret ending %q", secret[len(secret)-4:])
		}
	}
}
