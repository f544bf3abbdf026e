package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestBrowserChatLive opens a conversation in headless Chromium, has the
// friend write again through a webhook signed as LINE signs it, and sees
// the message appear without a reload; then the combined inbox with its
// menu count, and the reply form's template picker, in English and
// Japanese.
func TestBrowserChatLive(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	shots := newShooter(t, "chat-")
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	shop := e.connect("Shop Tokyo")
	cafe := e.connect("Cafe Osaka")
	if st := e.api("POST", "/templates", map[string]string{"name": "お礼", "text": "{{display_name}}さん、ご連絡ありがとうございます。"}, nil); st != 201 && st != 200 {
		t.Fatalf("create template: %d", st)
	}

	friend, stranger := linetest.NewUserID(), linetest.NewUserID()
	e.LINE.AddFriend(shop.token, line.Profile{UserID: friend, DisplayName: "Yamada Hanako"})
	if st := e.deliver(shop, linetest.TextMessageEvent(friend, "Is the sale on in Shibuya too?", time.Now())); st != 200 {
		t.Fatalf("deliver message: %d", st)
	}
	// A friend whose profile LINE does not give: named by the shortened id.
	if st := e.deliver(cafe, linetest.TextMessageEvent(stranger, "Open on Sunday?", time.Now())); st != 200 {
		t.Fatalf("deliver message: %d", st)
	}
	e.settled()

	chat := e.url(fmt.Sprintf("/connections/%d/chat/%s", shop.ID, friend))
	b.run("open the conversation",
		chromedp.Navigate(chat),
		chromedp.WaitVisible(chromedp.ID("reply-text")),
		b.contains("#messages", "Shibuya"),
		// Set on this page only: a reload would clear it.
		b.waitJS(`(window.notReloaded = true)`),
	)
	if st := e.deliver(shop, linetest.TextMessageEvent(friend, "And does it include shoes?", time.Now())); st != 200 {
		t.Fatalf("deliver message: %d", st)
	}
	b.run("the new message appears by itself",
		b.waitText("#messages", "does it include shoes?"),
		b.waitJS(`window.notReloaded === true`),
		b.waitJS(`document.querySelectorAll("#messages .bubble.in").length === 2`),
		b.waitJS(`!document.getElementById("chat-live").hidden`),
		b.contains("#unanswered-count", "2"),
		shots.shot("live"),
	)

	b.run("template picker",
		chromedp.SetValue(chromedp.ID("reply-template"), "1"),
		chromedp.Click(chromedp.ID("reply-use-template")),
		chromedp.WaitVisible(chromedp.ID("reply-text")),
		b.waitJS(`document.getElementById("reply-text").value === "Yamada Hanakoさん、ご連絡ありがとうございます。"`),
		chromedp.ScrollIntoView(chromedp.ID("reply")),
		shots.shot("template"),
	)

	b.run("combined inbox",
		chromedp.Click(chromedp.ID("nav-chats")),
		chromedp.WaitVisible(chromedp.ID("inbox")),
		b.contains("#inbox", "Yamada Hanako"),
		b.contains("#inbox", "Shop Tokyo"),
		b.contains("#inbox", "Cafe Osaka"),
		b.contains("#inbox", "LINE user "+stranger[:5]+"…"),
		shots.shot("inbox"),
		chromedp.Navigate(e.url("/lang/ja?back=/chats")),
		chromedp.WaitVisible(chromedp.ID("inbox")),
		b.contains("h1", "すべてのチャット"),
		b.contains("#inbox", "LINE ユーザー "+stranger[:5]+"…"),
		shots.shot("inbox-ja"),
		chromedp.Navigate(chat),
		chromedp.WaitVisible(chromedp.ID("reply-text")),
		shots.shot("chat-ja"),
	)
}

// TestBrowserUnansweredBadgeLive: while another page (the templates) is
// open, a friend writes: the menu's count of conversations waiting for an
// answer appears without a reload, by the page's own polling; an answer
// sent meanwhile makes it go away when the tab is shown again.
func TestBrowserUnansweredBadgeLive(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	shots := newShooter(t, "badge-")
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	shop := e.connect("Shop Tokyo")
	friend := linetest.NewUserID()
	e.LINE.AddFriend(shop.token, line.Profile{UserID: friend, DisplayName: "Yamada Hanako"})

	b.run("open the templates page",
		chromedp.Navigate(e.url("/lang/ja?back=/templates")),
		chromedp.WaitVisible(chromedp.ID("nav-chats")),
		b.waitJS(`document.getElementById("unanswered-count") === null`),
		b.waitJS(`(window.notReloaded = true)`),
	)
	if st := e.deliver(shop, linetest.TextMessageEvent(friend, "Is the sale on in Shibuya too?", time.Now())); st != 200 {
		t.Fatalf("deliver message: %d", st)
	}
	b.run("the count appears by itself",
		b.waitText("#unanswered-count", "1"),
		b.waitJS(`window.notReloaded === true && !document.getElementById("unanswered-count").hidden`),
		b.waitJS(`document.getElementById("unanswered-count").title.indexOf("1") >= 0`),
		shots.shot("live"),
	)
	if st := e.api("POST", fmt.Sprintf("/connections/%d/conversations/%s/reply", shop.ID, friend), map[string]any{"text": "Yes, in every shop."}, nil); st != 200 {
		t.Fatalf("api reply: %d", st)
	}
	b.run("answered: the count goes when the tab is shown again",
		b.waitJS(`(document.dispatchEvent(new Event("visibilitychange")), true)`),
		b.waitJS(`document.getElementById("unanswered-count").hidden`),
		b.waitJS(`window.notReloaded === true`),
	)
}
