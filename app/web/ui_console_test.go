package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// section returns the part of body from the element with id onwards, up to
// the next section.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element %q in:\n%s", id, body)
	}
	rest := body[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// The connection page reads back from LINE what it can (bot, webhook URL,
// "Use webhook"), at most once a minute unless asked again, and warns
// when LINE would send nothing.
func TestUIConnectionChecklistLive(t *testing.T) {
	u, b, c := messagingUI(t)
	var endpointReads atomic.Int32
	u.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if r.Method == http.MethodGet && r.URL.Path == "/v2/bot/channel/webhook/endpoint" {
			endpointReads.Add(1)
		}
		return 0, "", false
	})
	path := "/connections/" + c.id

	// Nothing registered yet: said so, and the bot answers the token.
	list := section(t, b.wantPage(path, 200), "checklist")
	for _, w := range []string{"LINE has no webhook URL yet", "LINE answered this token (bot: Shop)", `href="https://manager.line.biz/"`, `href="https://developers.line.biz/console/"`, `id="recheck"`} {
		if !strings.Contains(list, w) {
			t.Fatalf("checklist before registering lacks %q:\n%s", w, list)
		}
	}
	if strings.Contains(list, "Response mode") || strings.Contains(list, "応答モード") {
		t.Error("the checklist still names the response-mode switch LINE removed")
	}

	if st, _, _ := b.post(path+"/webhook", url.Values{}); st != 303 {
		t.Fatalf("register: %d", st)
	}
	body := b.wantPage(path, 200)
	list = section(t, body, "checklist")
	if !strings.Contains(list, "LINE has this URL") || !strings.Contains(list, "It is on") || strings.Contains(body, `id="webhook-inactive"`) {
		t.Fatalf("registered and active:\n%s", list)
	}

	// "Use webhook" turned off in LINE's console: the cached answer stands
	// for a minute, "Check again" asks LINE at once.
	u.ln.SetWebhookActive(c.ch.token, false)
	reads := endpointReads.Load()
	if body := b.wantPage(path, 200); strings.Contains(body, `id="webhook-inactive"`) || endpointReads.Load() != reads {
		t.Fatalf("a second page load within a minute asked LINE again (%d reads, %d before)", endpointReads.Load(), reads)
	}
	st, _, loc := b.post(path+"/check", url.Values{})
	if st != 303 || loc != path+"#checklist" {
		t.Fatalf("check again: %d %q", st, loc)
	}
	body = b.wantPage(path, 200, `id="webhook-inactive"`, "“Use webhook” is off at LINE")
	if list := section(t, body, "checklist"); !strings.Contains(list, "It is off: LINE sends no events") {
		t.Fatalf("inactive webhook not in the checklist:\n%s", list)
	}
	if endpointReads.Load() != reads+1 {
		t.Errorf("check again read the endpoint %d times, want once", endpointReads.Load()-reads)
	}

	// Japanese: the same warning, in Japanese.
	b.get("/lang/ja")
	b.wantPage(path, 200, "「Webhookの利用」がオフです", "LINE Official Account Manager", "チャットと Webhook は同時に使えます")
}

// The test server's public URL is http://127.0.0.1:…: the page says LINE
// cannot reach it and where to fix it.
func TestUIConnectionWarnsLocalWebhookURL(t *testing.T) {
	u, b, c := messagingUI(t)
	_ = u
	body := b.wantPage("/connections/"+c.id, 200, `id="url-warning"`, `href="/settings#domain"`)
	if w := section(t, body, "url-warning"); !strings.Contains(w, "localhost, 127.0.0.1") {
		t.Fatalf("warning: %s", w)
	}
}

// Verify and Register answer with a redirect to the page (a reload does
// not post again), which shows the outcome once, at the top.
func TestUIVerifyRedirectsWithResultOnTop(t *testing.T) {
	_, b, c := messagingUI(t)
	path := "/connections/" + c.id
	b.get(path)
	st, body, loc := b.post(path+"/verify", url.Values{})
	if st != http.StatusSeeOther || loc != path+"#result" {
		t.Fatalf("verify: %d %q, want 303 to %s#result\n%s", st, loc, path, body)
	}
	page := b.wantPage(path, 200, `id="verified"`)
	if r, w := strings.Index(page, `id="result"`), strings.Index(page, `id="webhook-url"`); r < 0 || r > w {
		t.Fatalf("the result is not above the first card (result at %d, webhook URL at %d)", r, w)
	}
	if !strings.Contains(section(t, page, "result"), "Shop") {
		t.Error("the result does not name the bot")
	}
	// Shown once: a reload is the plain page.
	if page := b.wantPage(path, 200); strings.Contains(page, `id="result"`) {
		t.Fatal("the result shows again on reload")
	}

	// Register: the same way, and so is a refusal.
	st, _, loc = b.post(path+"/webhook", url.Values{})
	if st != http.StatusSeeOther || loc != path+"#result" {
		t.Fatalf("register: %d %q", st, loc)
	}
	b.wantPage(path, 200, `id="webhook-result"`, "reached linehub")
	b.u.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if r.Method == http.MethodPut {
			return 500, `{"message":"An error occurred in the server"}`, true
		}
		return 0, "", false
	})
	st, _, loc = b.post(path+"/webhook", url.Values{})
	if st != http.StatusSeeOther || loc != path+"#result" {
		t.Fatalf("register refused by LINE: %d %q", st, loc)
	}
	b.u.ln.SetFault(nil)
	if r := section(t, b.wantPage(path, 200), "result"); !strings.Contains(r, `id="result-error"`) {
		t.Fatalf("refusal not shown: %s", r)
	}
	// Another admin session does not see this one's result.
	other := b.u.browser(t)
	if st, _ := other.login(adminEmail, adminPass); st != 303 {
		t.Fatalf("second sign-in: %d", st)
	}
	b.post(path+"/verify", url.Values{})
	if page := other.wantPage(path, 200); strings.Contains(page, `id="result"`) {
		t.Fatal("a result shows in another session")
	}
	b.wantPage(path, 200, `id="verified"`)
}

// The wizard does not take an empty public URL when nothing else gives
// one: every webhook URL would point at localhost.
func TestUIWizardRefusesEmptyPublicURL(t *testing.T) {
	u := newUIEnv(t, envOpts{NoPublicURL: true})
	b := u.claim(t)
	body := b.wantPage("/wizard/domain", 200, `id="domain-facts"`, `required`)
	if strings.Contains(body, "A/AAAA") || strings.Contains(body, "config.yaml") {
		t.Error("the public-URL step still speaks server-admin")
	}
	st, body, _ := b.post("/settings/domain", url.Values{"step": {"domain"}, "public_url": {"  "}})
	if st != 400 || !strings.Contains(body, "Enter the public URL") {
		t.Fatalf("empty public URL: %d\n%s", st, body)
	}
	if got := u.cfg.WebhookBaseURL(); !strings.HasPrefix(got, "http://localhost") {
		t.Fatalf("an empty URL was applied: %q", got)
	}
	b.get("/lang/ja")
	b.get("/wizard/domain")
	if st, body, _ := b.post("/settings/domain", url.Values{"step": {"domain"}, "public_url": {""}}); st != 400 || !strings.Contains(body, "公開 URL を入力してください") {
		t.Fatalf("empty public URL in Japanese: %d", st)
	}
	b.wantPage("/wizard/hubspot", 200, "サービスキー", "開発（Development）→ キー → サービスキー")
}

// The broadcast preview shows the message, and refuses a placeholder no
// broadcast can fill (the check Send makes) before anything is sent.
func TestUIBroadcastPreviewShowsMessage(t *testing.T) {
	u, b, c := messagingUI(t)
	listID, _ := u.seedList(c, 5, 5, 0)
	b.get("/broadcasts")
	form := url.Values{"action": {"preview"}, "list": {listID + "|Spring campaign"}, "connection": {c.id}, "text": {"Spring sale starts today"}}
	_, body, _ := b.post("/broadcasts", form)
	if m := section(t, body, "pv-message"); !strings.Contains(m, `class="bubble out">Spring sale starts today<`) {
		t.Fatalf("the preview does not show the message:\n%s", m)
	}

	b.get("/templates/new")
	if st, _, _ := b.post("/templates", url.Values{"name": {"personal"}, "text": {"Dear {{lastname}}, spring sale!"}}); st != 303 {
		t.Fatalf("template: %d", st)
	}
	ts, _ := u.msg.Templates(u.ctx)
	form.Set("text", "")
	form.Set("template", fmt.Sprint(ts[0].ID))
	st, body, _ := b.post("/broadcasts", form)
	if st < 400 || st >= 500 || !strings.Contains(body, "cannot fill {{lastname}}") {
		t.Fatalf("preview of an unfillable template: %d\n%s", st, body)
	}
	if !strings.Contains(body, `id="pv-recipients">5<`) {
		t.Error("the counts are gone with the message error")
	}
}

// "Send now" sends nothing until the admin has ticked that it goes to N
// people; a scheduled broadcast shows when, not an empty bar.
func TestUIBroadcastSendNeedsConfirmation(t *testing.T) {
	u, b, c := messagingUI(t)
	listID, _ := u.seedList(c, 4, 4, 0)
	b.get("/broadcasts")
	form := url.Values{"action": {"send"}, "list": {listID + "|Spring campaign"}, "connection": {c.id}, "text": {"Sale"}}
	st, body, _ := b.post("/broadcasts", form)
	if st != http.StatusConflict || !strings.Contains(body, `id="confirm-needed"`) || !strings.Contains(body, "I understand this sends to 4 people now") {
		t.Fatalf("send without confirmation: %d\n%s", st, body)
	}
	if !strings.Contains(section(t, body, "pv-message"), ">Sale<") {
		t.Error("the confirmation step does not show the message")
	}
	u.msg.SendPending(u.ctx)
	if n, m := len(u.broadcasts(t)), len(u.ln.Multicasts(c.ch.token)); n != 0 || m != 0 {
		t.Fatalf("unconfirmed send: %d broadcasts, %d multicasts", n, m)
	}
	b.get("/lang/ja")
	if _, body, _ := b.post("/broadcasts", form); !strings.Contains(body, "まだ何も送っていません") {
		t.Error("the confirmation step is not in Japanese")
	}
	b.get("/lang/en")
	form.Set("confirm_send", "yes")
	form.Set("confirm_n", "4")
	if st, _, loc := b.post("/broadcasts", form); st != 303 || !locationID.MatchString(loc) {
		t.Fatalf("confirmed send: %d %q", st, loc)
	}
	u.msg.SendPending(u.ctx)
	if ms := u.ln.Multicasts(c.ch.token); len(ms) != 1 || len(ms[0].To) != 4 {
		t.Fatalf("confirmed send: %+v", ms)
	}

	// Scheduled: no confirmation needed (it can be canceled), and its page
	// says when, without a bar or counts that are not known yet.
	later := time.Now().Add(3 * time.Hour).UTC().Format("2006-01-02T15:04")
	st, _, loc := b.post("/broadcasts", url.Values{"action": {"schedule"}, "list": {listID + "|Spring campaign"}, "connection": {c.id}, "text": {"Later"}, "scheduled_at": {later}, "tz_offset": {"0"}})
	if st != 303 {
		t.Fatalf("schedule: %d", st)
	}
	page := b.wantPage(loc, 200, `id="scheduled-for"`, `id="scheduled-note"`, `data-interval="60000"`)
	for _, no := range []string{"<progress", `id="r-members"`} {
		if strings.Contains(page, no) {
			t.Errorf("a scheduled broadcast's page shows %q", no)
		}
	}
}
