package web_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"linehub/app/line/linetest"
)

// TestUIInboxAcrossAccounts: one inbox lists every account's conversations,
// unanswered first, each with its account's name, and the menu counts
// the unanswered ones on every page.
func TestUIInboxAcrossAccounts(t *testing.T) {
	u, b, shop := messagingUI(t)
	cafe := u.createConn("Cafe", true, true)
	aiko, ren, mio := linetest.NewUserID(), linetest.NewUserID(), linetest.NewUserID()
	u.friendWithContact(shop, aiko, "Aiko")
	u.friendWithContact(cafe, ren, "Ren")
	u.friendWithContact(cafe, mio, "Mio")
	// Aiko is answered; Ren and Mio (the other account) wait.
	if st, out := u.api("POST", "/api/v1/connections/"+shop.id+"/conversations/"+aiko+"/reply", map[string]any{"text": "Thanks!"}); st != 200 {
		t.Fatalf("api reply: %d %v", st, out)
	}
	body := b.wantPage("/chats", 200, "hello from Aiko", "hello from Ren", "hello from Mio", ">Cafe</a>", ">Shop</a>",
		`href="/connections/`+cafe.id+`/chat/`+ren+`"`)
	if strings.Index(body, "hello from Aiko") < strings.Index(body, "hello from Ren") || strings.Index(body, "hello from Aiko") < strings.Index(body, "hello from Mio") {
		t.Fatal("the answered conversation is listed before unanswered ones")
	}
	for _, page := range []string{"/", "/chats", "/templates", "/connections/" + shop.id + "/chat/" + aiko} {
		b.wantPage(page, 200, `id="unanswered-count"`, ">2</span>")
	}
	// Answering Ren lowers the count; a deleted account's friends do not count.
	if st, out := u.api("POST", "/api/v1/connections/"+cafe.id+"/conversations/"+ren+"/reply", map[string]any{"text": "Hi"}); st != 200 {
		t.Fatalf("api reply: %d %v", st, out)
	}
	b.wantPage("/", 200, ">1</span>")
	if st, out := u.api("DELETE", "/api/v1/connections/"+cafe.id, nil); st != 200 && st != 204 {
		t.Fatalf("delete connection: %d %v", st, out)
	}
	body = b.wantPage("/chats", 200, "hello from Aiko")
	if strings.Contains(body, `id="unanswered-count"`) || strings.Contains(body, "hello from Mio") {
		t.Fatal("a deleted account's conversation is still listed or counted")
	}
	b.header = http.Header{"Accept-Language": {"ja"}}
	b.wantPage("/chats", 200, "すべてのチャット", "アカウント")
}

// TestUIUnansweredCountEndpoint: the menu's badge asks for the count of
// conversations waiting for an answer, with its label in the admin's
// language; only a signed-in admin gets it (others go to sign-in, and a
// fetch that follows no redirect gets nothing).
func TestUIUnansweredCountEndpoint(t *testing.T) {
	u, b, shop := messagingUI(t)
	u.friendWithContact(shop, linetest.NewUserID(), "Aiko")
	u.friendWithContact(shop, linetest.NewUserID(), "Ren")
	get := func(b *browser) (int, map[string]any) {
		req, _ := http.NewRequest("GET", b.abs("/chats/unanswered"), nil)
		req.Header.Set("Accept", "application/json")
		st, body, _ := b.do(req)
		var out map[string]any
		_ = json.Unmarshal([]byte(body), &out)
		return st, out
	}
	b.header = http.Header{"Accept-Language": {"ja"}}
	st, out := get(b)
	if st != 200 || out["count"] != float64(2) || !strings.Contains(out["label"].(string), "2") {
		t.Errorf("unanswered count: %d %v, want 200 with count 2 and a label", st, out)
	}
	if st, out := get(u.browser(t)); st != 303 || out != nil {
		t.Errorf("without a session: %d %v, want a redirect to sign-in and no count", st, out)
	}
}

// TestUIChatHeadingWithoutProfile: a friend whose LINE profile linehub
// could not read is named "LINE user U1234…" instead of a blank heading.
func TestUIChatHeadingWithoutProfile(t *testing.T) {
	u, b, c := messagingUI(t)
	uid := linetest.NewUserID() // not a friend the LINE double knows: no profile
	u.deliver(c, linetest.TextMessageEvent(uid, "who am I", time.Now()))
	want := "LINE user " + uid[:5] + "…"
	b.wantPage("/connections/"+c.id+"/chat/"+uid, 200, `<h2 id="friend-name">`+want+`</h2>`, "who am I")
	b.wantPage("/connections/"+c.id+"/chat", 200, want)
	b.wantPage("/chats", 200, want)
	b.header = http.Header{"Accept-Language": {"ja"}}
	b.wantPage("/connections/"+c.id+"/chat/"+uid, 200, `<h2 id="friend-name">LINE ユーザー `+uid[:5]+"…</h2>")
}

// TestUIChatTemplatePicker: a saved template is rendered for this friend
// (their LINE name, their HubSpot contact's properties) into the reply
// form, and sent as shown.
func TestUIChatTemplatePicker(t *testing.T) {
	u, b, c := messagingUI(t)
	uid := linetest.NewUserID()
	contact := u.friendWithContact(c, uid, "Aiko")
	u.hs.EditContact(contact, map[string]string{"firstname": "Aiko", "lastname": ""})
	b.get("/templates/new")
	if st, _, _ := b.post("/templates", url.Values{"name": {"thanks"}, "text": {"{{display_name}}さん、{{firstname}} {{lastname|様}} ありがとうございます"}, "action": {"save"}}); st != 303 {
		t.Fatalf("save template: %d", st)
	}
	b.get("/templates/new")
	if st, _, _ := b.post("/templates", url.Values{"name": {"two"}, "messages": {`[{"type":"text","text":"Hi {{display_name}}"},{"type":"sticker","packageId":"446","stickerId":"1988"}]`}}); st != 303 {
		t.Fatalf("save template: %d", st)
	}
	ts, _ := u.msg.Templates(u.ctx)
	ids := map[string]string{}
	for _, tp := range ts {
		ids[tp.Name] = jsonNum(tp.ID)
	}
	chat := "/connections/" + c.id + "/chat/" + uid
	b.wantPage(chat, 200, `id="reply-template"`, ">thanks</option>", ">two</option>")

	st, body, _ := b.post(chat+"/template", url.Values{"template": {ids["thanks"]}})
	if st != 200 || !strings.Contains(body, ">Aikoさん、Aiko 様 ありがとうございます</textarea>") || !strings.Contains(body, `id="reply-missing"`) {
		t.Fatalf("picked template: %d\n%s", st, body)
	}
	// Several messages: shown as a preview and sent as rendered.
	st, body, _ = b.post(chat+"/template", url.Values{"template": {ids["two"]}})
	if st != 200 || !strings.Contains(body, `id="reply-preview"`) || !strings.Contains(body, "<p>Hi Aiko</p>") {
		t.Fatalf("picked a two-message template: %d\n%s", st, body)
	}
	msgs := hiddenValue(t, body, "messages")
	// A refused send keeps the template's messages, shown as before.
	if st, body, _ := b.post(chat+"/reply", url.Values{"messages": {msgs}, "image": {"ftp://x/a.jpg"}}); st != 400 || !strings.Contains(body, "<p>Hi Aiko</p>") || hiddenValue(t, body, "messages") != msgs {
		t.Fatalf("refused template send: %d\n%s", st, body)
	}
	if st, _, loc := b.post(chat+"/reply", url.Values{"messages": {msgs}, "idem": {"tpl-1"}}); st != 303 {
		t.Fatalf("send the template: %d %s", st, loc)
	}
	if p := u.ln.Pushes(c.ch.token); len(p) != 1 || len(p[0].Messages) != 2 || p[0].Texts[0] != "Hi Aiko" || p[0].To != uid {
		t.Fatalf("pushes: %+v", p)
	}
	b.wantPage(chat, 200, "<p>Hi Aiko</p>", "<p>[Sticker]</p>")

	// No template chosen: said so, nothing sent.
	if st, body, _ := b.post(chat+"/template", url.Values{"template": {""}}); st != 400 || !strings.Contains(body, "Choose a template") {
		t.Fatalf("no template chosen: %d", st)
	}
	// An image URL must be HTTPS.
	if st, body, _ := b.post(chat+"/reply", url.Values{"text": {"look"}, "image": {"http://example.com/a.jpg"}}); st != 400 || !strings.Contains(body, "must start with https://") {
		t.Fatalf("http image: %d", st)
	}
	if st, _, _ := b.post(chat+"/reply", url.Values{"text": {"look"}, "image": {"https://example.com/a.jpg"}, "idem": {"img-1"}}); st != 303 {
		t.Fatalf("reply with an image: %d", st)
	}
	b.wantPage(chat, 200, "<p>look</p>", "<p>[Image]</p>")
	if p := u.ln.Pushes(c.ch.token); len(p) != 2 || len(p[1].Messages) != 2 || !strings.Contains(string(p[1].Messages[1]), `"originalContentUrl":"https://example.com/a.jpg"`) {
		t.Fatalf("pushes: %+v", p)
	}
}

// TestUIChatPollAfter: the open conversation's poll returns only messages
// newer than the last shown, rendered as the page renders them, for this
// connection's friend only, and nothing to a signed-out browser.
func TestUIChatPollAfter(t *testing.T) {
	u, b, c := messagingUI(t)
	other := u.createConn("Other", true, true)
	uid := linetest.NewUserID()
	u.friendWithContact(c, uid, "Aiko")
	poll := func(b *browser, conn, after string) (int, map[string]any) {
		st, body := b.get("/connections/" + conn + "/chat/" + uid + "/after?after=" + after)
		var out map[string]any
		_ = json.Unmarshal([]byte(body), &out)
		return st, out
	}
	st, out := poll(b, c.id, "0")
	if st != 200 || out["count"] != float64(1) || !strings.Contains(out["html"].(string), "hello from Aiko") {
		t.Fatalf("first poll: %d %v", st, out)
	}
	last := jsonNum(int64(out["last"].(float64)))
	if st, out = poll(b, c.id, last); st != 200 || out["count"] != float64(0) || out["html"] != "" {
		t.Fatalf("nothing new: %d %v", st, out)
	}
	u.deliver(c, linetest.TextMessageEvent(uid, "<b>are you there?</b>", time.Now()))
	st, out = poll(b, c.id, last)
	if html, _ := out["html"].(string); st != 200 || out["count"] != float64(1) || !strings.Contains(html, "&lt;b&gt;are you there?&lt;/b&gt;") || strings.Contains(html, "hello from Aiko") {
		t.Fatalf("new message: %d %v", st, out)
	}
	// The same friend id under another connection has no conversation.
	if st, out = poll(b, other.id, "0"); st != 200 || out["count"] != float64(0) {
		t.Fatalf("other connection: %d %v", st, out)
	}
	if st, _ := b.get("/connections/" + c.id + "/chat/" + uid + "/after?after=x"); st != 400 {
		t.Fatalf("bad after: %d", st)
	}
	stranger := u.browser(t)
	st, body := stranger.get("/connections/" + c.id + "/chat/" + uid + "/after?after=0")
	if st == 200 || strings.Contains(body, "are you there") || strings.Contains(body, "hello from Aiko") {
		t.Fatalf("signed out: %d %s", st, body)
	}
}

func jsonNum(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// hiddenValue reads a hidden form field of a page.
func hiddenValue(t *testing.T, body, name string) string {
	t.Helper()
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		if m[1] == name {
			return html.UnescapeString(m[2])
		}
	}
	t.Fatalf("no hidden field %q", name)
	return ""
}
