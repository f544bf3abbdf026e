package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// messagingUI is a signed-in admin with HubSpot configured and one
// verified connection.
func messagingUI(t *testing.T) (*uiEnv, *browser, conn) {
	t.Helper()
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	c := u.createConn("Shop", true, true)
	return u, b, c
}

// wantPage fetches a page and checks its status and that it holds every
// want string.
func (b *browser) wantPage(path string, status int, want ...string) string {
	b.t.Helper()
	st, body := b.get(path)
	if st != status {
		b.t.Fatalf("GET %s: %d, want %d\n%s", path, st, status, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			b.t.Fatalf("GET %s does not contain %q:\n%s", path, w, body)
		}
	}
	return body
}

func (u *uiEnv) broadcasts(t *testing.T) []store.Broadcast {
	t.Helper()
	bs, err := u.st.Broadcasts(u.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

var locationID = regexp.MustCompile(`^/broadcasts/(\d+)\?`)

func TestUIMessagingPagesRender(t *testing.T) {
	u, b, c := messagingUI(t)
	uid := linetest.NewUserID()
	u.friendWithContact(c, uid, "Hanako")
	for path, want := range map[string][]string{
		"/broadcasts":                           {`id="compose"`, `id="list-q"`, `id="broadcasts"`, "Shop (#1)"},
		"/templates":                            {`id="templates"`, `id="new-template"`},
		"/templates/new":                        {`id="tpl-name"`, `id="tpl-preview"`},
		"/connections/" + c.id + "/chat":        {`id="conversations"`, "Hanako", "unanswered"},
		"/connections/" + c.id + "/chat/" + uid: {`id="messages"`, "hello from Hanako", `id="reply-text"`},
		"/connections/" + c.id + "/workflow":    {`id="workflow-url"`, "/hooks/hubspot/send/" + c.key, `id="workflow-steps"`, "X-Linehub-Key"},
		"/connections/" + c.id:                  {`id="chat-link"`, `id="workflow-link"`, `href="/broadcasts?connection=` + c.id + `"`},
		"/connections/" + c.id + "/friends":     {`href="/connections/` + c.id + `/chat/` + uid + `"`},
	} {
		b.wantPage(path, 200, want...)
	}
	// Japanese.
	b.get("/lang/ja")
	b.wantPage("/broadcasts", 200, "一斉配信", "配信対象を確認")
	b.wantPage("/connections/"+c.id+"/workflow", 200, "Webhook を送信")
	b.get("/lang/en")

	// Unknown ids are 404, pages need a session.
	for _, p := range []string{"/broadcasts/999", "/templates/999", "/connections/999/chat", "/connections/999/workflow", "/connections/" + c.id + "/chat/" + linetest.NewUserID()} {
		if st, _ := b.get(p); st != 404 {
			t.Errorf("GET %s: %d, want 404", p, st)
		}
	}
	anon := u.browser(t)
	for _, p := range []string{"/broadcasts", "/templates", "/connections/" + c.id + "/chat", "/connections/" + c.id + "/workflow", "/broadcasts/1/progress"} {
		if st, _ := anon.get(p); st != 303 {
			t.Errorf("GET %s without a session: %d, want a redirect to sign in", p, st)
		}
	}
}

func TestUIBroadcast(t *testing.T) {
	u, b, c := messagingUI(t)
	// 30 members: 25 with the LINE id (5 of them blocked), 5 without.
	listID, want := u.seedList(c, 30, 25, 5)

	// Search by name: the list is offered as a choice.
	b.get("/broadcasts")
	st, body, _ := b.post("/broadcasts", url.Values{"action": {"search"}, "q": {"spring"}})
	if st != 200 || !strings.Contains(body, `value="`+listID+`|Spring campaign"`) {
		t.Fatalf("list search: %d\n%s", st, body)
	}
	st, body, _ = b.post("/broadcasts", url.Values{"action": {"search"}, "q": {"no such list"}})
	if st != 200 || strings.Contains(body, listID+"|") || !strings.Contains(body, "No list matches") {
		t.Fatalf("search for a missing list: %d", st)
	}
	form := func(action string, extra ...string) url.Values {
		v := url.Values{"action": {action}, "q": {"spring"}, "list": {listID + "|Spring campaign"}, "connection": {c.id}, "text": {"Spring sale starts today"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}

	// Preview: who gets it and who is skipped.
	st, body, _ = b.post("/broadcasts", form("preview"))
	for _, w := range []string{`id="pv-recipients">20<`, `id="pv-noid">5<`, `id="pv-blocked">5<`, `id="pv-members">30<`, `id="quota-ok"`, "Spring sale starts today"} {
		if st != 200 || !strings.Contains(body, w) {
			t.Fatalf("preview: %d, missing %q\n%s", st, w, body)
		}
	}

	// No CSRF token: refused, nothing created.
	req, _ := http.NewRequest("POST", b.abs("/broadcasts"), strings.NewReader(form("send").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, _, _ := b.do(req); st != 403 {
		t.Fatalf("send without CSRF: %d", st)
	}
	if n := len(u.broadcasts(t)); n != 0 {
		t.Fatalf("a form without CSRF created %d broadcasts", n)
	}

	// Bad input: clear errors, nothing created.
	for name, tc := range map[string]struct {
		form url.Values
		want string
	}{
		"no list":      {form("send", "list", ""), "Pick a HubSpot list"},
		"no account":   {form("send", "connection", ""), "Pick the LINE account"},
		"placeholder":  {form("send", "text", "Hi {{firstname}}"), "cannot fill {{firstname}}"},
		"both":         {form("send", "template", "1"), "not both"},
		"no message":   {form("send", "text", ""), "a message is required"},
		"past time":    {form("schedule", "scheduled_at", "2020-01-01T09:00"), "has passed"},
		"no time":      {form("schedule"), "date and time"},
		"unknown list": {form("preview", "list", "31337|Gone"), "no list 31337"},
	} {
		st, body, _ := b.post("/broadcasts", tc.form)
		if st < 400 || st >= 500 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d, want a 4xx with %q\n%s", name, st, tc.want, body)
		}
	}
	if n := len(u.broadcasts(t)); n != 0 {
		t.Fatalf("bad input created %d broadcasts", n)
	}

	// Quota too small: the preview and the send refuse with the numbers.
	u.ln.SetQuota(c.ch.token, 100, 90)
	st, body, _ = b.post("/broadcasts", form("preview"))
	if st != 200 || !strings.Contains(body, `id="quota-refused"`) || !strings.Contains(body, "has 10 messages left this month and the broadcast needs 20") ||
		!regexp.MustCompile(`id="send"[^>]*disabled`).MatchString(body) {
		t.Fatalf("preview over quota: %d\n%s", st, body)
	}
	st, body, _ = b.post("/broadcasts", form("send"))
	if st != 409 || !strings.Contains(body, "has 10 messages left this month and the broadcast needs 20. Nothing was sent.") {
		t.Fatalf("send over quota: %d\n%s", st, body)
	}
	if n := len(u.broadcasts(t)); n != 0 || len(u.ln.Multicasts(c.ch.token)) != 0 {
		t.Fatalf("over quota: %d broadcasts stored", n)
	}
	u.ln.SetQuota(c.ch.token, -1, 0)

	// Preview, then send now: the report page, then the worker's pass,
	// then the report. The list is read from HubSpot once for all three.
	u.hs.ResetCounters()
	if st, body, _ := b.post("/broadcasts", form("preview")); st != 200 || !strings.Contains(body, `id="pv-recipients">20<`) {
		t.Fatalf("preview before sending: %d\n%s", st, body)
	}
	// A recipient blocks the account between preview and send: linehub's
	// own follow state still counts, whatever list read is reused.
	u.deliver(c, linetest.UnfollowEvent(want[0], time.Now()))
	// The tick was for 20: the send asks again for the 19 of now.
	st, body, _ = b.post("/broadcasts", form("send", "confirm_send", "yes", "confirm_n", "20"))
	if st != 409 || !strings.Contains(body, `id="confirm-needed"`) || !strings.Contains(body, "changed since you confirmed (now 19)") || !strings.Contains(body, `name="confirm_n" value="19"`) {
		t.Fatalf("send confirmed for an older count: %d\n%s", st, body)
	}
	if n := len(u.broadcasts(t)); n != 0 {
		t.Fatalf("a send confirmed for another count created %d broadcasts", n)
	}
	st, _, loc := b.post("/broadcasts", form("send", "confirm_send", "yes", "confirm_n", "19"))
	m := locationID.FindStringSubmatch(loc)
	if st != 303 || m == nil {
		t.Fatalf("send: %d %q", st, loc)
	}
	bid := m[1]
	b.wantPage(loc, 200, "Broadcast started", `data-active`, `data-progress="/broadcasts/`+bid+`/progress"`)
	u.msg.SendPending(u.ctx)
	reqs := u.hs.RequestsByPath()
	if n := reqs["GET /crm/lists/"+hubspot.APIVersion+"/"+listID+"/memberships"]; n != 1 {
		t.Errorf("preview, send and plan read the list %d times, want once: %v", n, reqs)
	}
	b.wantPage("/broadcasts/"+bid, 200, `id="r-sent">19<`, `id="r-noid">5<`, `id="r-blocked">6<`, `id="r-failed">0<`, `value="100"`, ">done<")
	if body := b.wantPage("/broadcasts/"+bid, 200); strings.Contains(body, "data-active") || strings.Contains(body, `id="cancel"`) {
		t.Fatal("a finished broadcast still polls or offers cancel")
	}
	// The page reloads itself at the same address when sending ends: the
	// note after Send must then say it finished, not that it started.
	if body := b.wantPage(loc, 200, "The broadcast has finished"); strings.Contains(body, "Broadcast started") {
		t.Error("a finished broadcast's report still says Broadcast started")
	}
	_, body = b.get("/broadcasts/" + bid + "/progress")
	var prog map[string]any
	if err := json.Unmarshal([]byte(body), &prog); err != nil || prog["sent"] != float64(19) || prog["status"] != "done" || prog["active"] != false || prog["cancelable"] != false || prog["skipped_blocked"] != float64(6) {
		t.Fatalf("progress JSON: %v %s", err, body)
	}
	ms := u.ln.Multicasts(c.ch.token)
	if len(ms) != 1 || len(ms[0].To) != 19 || ms[0].Texts[0] != "Spring sale starts today" {
		t.Fatalf("multicasts: %+v", ms)
	}
	got := map[string]bool{}
	for _, uid := range ms[0].To {
		got[uid] = true
	}
	for i, uid := range want {
		if got[uid] == (i == 0) {
			t.Fatalf("recipient %d (%s): sent %v", i, uid, got[uid])
		}
	}
	b.wantPage("/broadcasts", 200, `href="/broadcasts/`+bid+`"`, "19 / 19")

	// A saved template, scheduled for later, then canceled.
	b.get("/templates/new")
	if st, _, _ := b.post("/templates", url.Values{"name": {"sale"}, "text": {"Sale!"}}); st != 303 {
		t.Fatalf("create template: %d", st)
	}
	ts, _ := u.msg.Templates(u.ctx)
	b.get("/broadcasts")
	later := time.Now().Add(2 * time.Hour).UTC().Format("2006-01-02T15:04")
	st, _, loc = b.post("/broadcasts", form("schedule", "text", "", "template", fmt.Sprint(ts[0].ID), "scheduled_at", later, "tz_offset", "0"))
	m = locationID.FindStringSubmatch(loc)
	if st != 303 || m == nil {
		t.Fatalf("schedule: %d %q", st, loc)
	}
	b.wantPage(loc, 200, "Broadcast scheduled", ">scheduled<", `id="cancel"`, "Sale!")
	u.msg.SendPending(u.ctx)
	if n := len(u.ln.Multicasts(c.ch.token)); n != 1 {
		t.Fatalf("a scheduled broadcast went out early: %d multicasts", n)
	}
	st, _, loc = b.post("/broadcasts/"+m[1]+"/cancel", url.Values{})
	if st != 303 {
		t.Fatalf("cancel: %d", st)
	}
	b.wantPage(loc, 200, "Broadcast canceled", ">canceled<")
	// Canceling again: a clear refusal on the report page.
	if st, body, _ := b.post("/broadcasts/"+m[1]+"/cancel", url.Values{}); st != 400 || !strings.Contains(body, "Only a broadcast that has not started") {
		t.Fatalf("cancel twice: %d\n%s", st, body)
	}
}

func TestUITemplates(t *testing.T) {
	u, b, _ := messagingUI(t)
	b.get("/templates/new")
	st, _, loc := b.post("/templates", url.Values{"name": {"promo"}, "text": {"Hi {{firstname}}, 10% off at {{lastname|our shop}}"}, "action": {"save"}})
	if st != 303 || !strings.HasPrefix(loc, "/templates/") {
		t.Fatalf("create: %d %q", st, loc)
	}
	path := strings.SplitN(loc, "?", 2)[0]
	b.wantPage(loc, 200, "Template saved", `value="promo"`, "Hi {{firstname}}, 10% off at {{lastname|our shop}}")
	b.wantPage("/templates", 200, ">promo<", "<code>{{firstname}}</code>", "<code>{{lastname}}</code>")

	// Duplicate name and bad JSON: the form comes back with what was typed.
	b.get("/templates/new")
	if st, body, _ := b.post("/templates", url.Values{"name": {"promo"}, "text": {"Other"}}); st != 400 || !strings.Contains(body, "exists already") || !strings.Contains(body, ">Other</textarea>") {
		t.Fatalf("duplicate: %d\n%s", st, body)
	}
	if st, body, _ := b.post("/templates", url.Values{"name": {"pic"}, "messages": {`[{"type":"image","originalContentUrl":"http://insecure/a.jpg","previewImageUrl":"https://x/p.jpg"}]`}}); st != 400 || !strings.Contains(body, "messages[0]") {
		t.Fatalf("bad message JSON: %d\n%s", st, body)
	}

	// Preview from sample properties, from a contact id and from an email.
	b.get(path)
	st, body, _ := b.post(path, url.Values{"name": {"promo"}, "text": {"Hi {{firstname}}, 10% off at {{lastname|our shop}}"}, "action": {"preview"}, "props": {"firstname=Ken\n"}})
	if st != 200 || !strings.Contains(body, "Hi Ken, 10% off at our shop") || !strings.Contains(body, `id="tpl-missing"`) {
		t.Fatalf("preview with properties: %d\n%s", st, body)
	}
	hs := hubspot.New(hubspot.Config{BaseURL: u.hs.URL(), Token: hubspotToken})
	ct, err := hs.CreateContact(u.ctx, map[string]string{"email": "ken@example.com", "firstname": "Ken", "lastname": "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sample := range []string{ct.ID, "Ken@Example.com"} {
		st, body, _ = b.post(path, url.Values{"name": {"promo"}, "text": {"Hi {{firstname}}, 10% off at {{lastname|our shop}}"}, "action": {"preview"}, "sample": {sample}})
		if st != 200 || !strings.Contains(body, "Hi Ken, 10% off at ACME") || !strings.Contains(body, "HubSpot contact "+ct.ID) {
			t.Fatalf("preview from contact %s: %d\n%s", sample, st, body)
		}
	}
	if st, body, _ := b.post(path, url.Values{"name": {"promo"}, "text": {"x {{firstname}}"}, "action": {"preview"}, "sample": {"99999"}}); st != 400 || !strings.Contains(body, "no contact 99999") {
		t.Fatalf("preview from a missing contact: %d\n%s", st, body)
	}

	// Edit: renamed, new text.
	if st, _, _ := b.post(path, url.Values{"name": {"promo2"}, "text": {"Bye {{firstname}}"}, "action": {"save"}}); st != 303 {
		t.Fatalf("edit: %d", st)
	}
	ts, _ := u.msg.Templates(u.ctx)
	if len(ts) != 1 || ts[0].Name != "promo2" || !strings.Contains(string(ts[0].Messages[0]), "Bye {{firstname}}") {
		t.Fatalf("after edit: %+v", ts)
	}
	// A JSON template opens in the JSON field.
	b.get("/templates/new")
	if st, _, _ := b.post("/templates", url.Values{"name": {"sticker"}, "messages": {`{"type":"sticker","packageId":"446","stickerId":"1988"}`}}); st != 303 {
		t.Fatalf("sticker template: %d", st)
	}

	// Delete needs the confirmation box.
	if st, body, _ := b.post(path+"/delete", url.Values{}); st != 400 || !strings.Contains(body, "Tick the box") {
		t.Fatalf("delete without confirmation: %d", st)
	}
	req, _ := http.NewRequest("POST", b.abs(path+"/delete"), strings.NewReader("confirm=yes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, _, _ := b.do(req); st != 403 {
		t.Fatalf("delete without CSRF: %d", st)
	}
	b.get(path)
	if st, _, loc := b.post(path+"/delete", url.Values{"confirm": {"yes"}}); st != 303 || !strings.HasPrefix(loc, "/templates?ok=") {
		t.Fatalf("delete: %d %q", st, loc)
	}
	if ts, _ := u.msg.Templates(u.ctx); len(ts) != 1 || ts[0].Name != "sticker" {
		t.Fatalf("after delete: %+v", ts)
	}
	if st, _ := b.get(path); st != 404 {
		t.Fatalf("deleted template page: %d", st)
	}
}

var workflowKeyRE = regexp.MustCompile(`id="workflow-key" value="(` + store.HookKeyPrefix + `[^"]+)"`)

func TestUIWorkflowKeyShownOnce(t *testing.T) {
	u, b, c := messagingUI(t)
	uid := linetest.NewUserID()
	contact := u.friendWithContact(c, uid, "Jun")
	wf := "/connections/" + c.id + "/workflow"
	b.wantPage(wf, 200, `id="workflow-no-key"`, "Generate key", `id="workflow-https"`)

	st, body, _ := b.post(wf+"/key", url.Values{})
	m := workflowKeyRE.FindStringSubmatch(body)
	if st != 200 || m == nil {
		t.Fatalf("generate: %d\n%s", st, body)
	}
	key := m[1]
	u.secrets = append(u.secrets, key) // from now on no page may show it
	body = b.wantPage(wf, 200, "…"+key[len(key)-4:], "Rotate key")
	if strings.Contains(body, `id="workflow-key"`) {
		t.Fatal("the key field is shown again")
	}
	// The key works for the workflow endpoint.
	call := func(k string) int {
		st, _, _ := u.hook(hookCall{key: c.key, apiKey: k, query: "text=Hi", body: map[string]any{"objectId": contact, "callbackId": "cb-" + k[len(k)-6:],
			"properties": map[string]any{fmt.Sprintf("line_user_id_%d", c.serial): uid}}})
		return st
	}
	if st := call(key); st != 200 {
		t.Fatalf("workflow call with the new key: %d", st)
	}

	// Rotating needs the confirmation; the old key then stops working.
	if st, body, _ := b.post(wf+"/key", url.Values{}); st != 400 || workflowKeyRE.MatchString(body) {
		t.Fatalf("rotate without confirmation: %d", st)
	}
	st, body, _ = b.post(wf+"/key", url.Values{"confirm": {"yes"}})
	m = workflowKeyRE.FindStringSubmatch(body)
	if st != 200 || m == nil || m[1] == key {
		t.Fatalf("rotate: %d", st)
	}
	u.secrets = append(u.secrets, m[1])
	if st := call(key); st != 401 {
		t.Fatalf("old key after rotation: %d", st)
	}

	// The HubSpot app secret: saved, never shown, switches the instructions.
	const appSecret = "hubspot-app-client-secret-ui-0001"
	u.secrets = append(u.secrets, appSecret)
	if st, body, _ := b.post(wf+"/secret", url.Values{"secret": {""}}); st != 400 || !strings.Contains(body, "Paste the app") {
		t.Fatalf("empty secret: %d", st)
	}
	st, _, loc := b.post(wf+"/secret", url.Values{"secret": {appSecret}})
	if st != 303 {
		t.Fatalf("save secret: %d", st)
	}
	b.wantPage(loc, 200, "App secret saved", "Signature required", "Include request signature in header", `id="workflow-secret-clear"`)
	if logs := u.logs.String(); strings.Contains(logs, appSecret) || strings.Contains(logs, key) || strings.Contains(logs, m[1]) {
		t.Fatal("the log shows a workflow secret")
	}
	st, _, loc = b.post(wf+"/secret", url.Values{"clear": {"yes"}})
	if st != 303 {
		t.Fatalf("clear secret: %d", st)
	}
	b.wantPage(loc, 200, "App secret removed", `API key name: X-Linehub-Key`)
	if st, _, _ := b.post(wf+"/key", url.Values{"csrf": {"wrong"}, "confirm": {"yes"}}); st != 403 {
		t.Fatalf("rotate with a wrong CSRF token: %d", st)
	}
}

func TestUIChatReply(t *testing.T) {
	u, b, c := messagingUI(t)
	answered, waiting := linetest.NewUserID(), linetest.NewUserID()
	u.friendWithContact(c, answered, "Aiko")
	u.friendWithContact(c, waiting, "Ren")
	// Aiko gets an answer through the API; Ren waits and must come first.
	if st, out := u.api("POST", "/api/v1/connections/"+c.id+"/conversations/"+answered+"/reply", map[string]any{"text": "Thanks!"}); st != 200 {
		t.Fatalf("api reply: %d %v", st, out)
	}
	body := b.wantPage("/connections/"+c.id+"/chat", 200, "hello from Aiko", "hello from Ren")
	if strings.Index(body, "hello from Ren") > strings.Index(body, "hello from Aiko") {
		t.Fatal("the unanswered friend is not listed first")
	}

	// A fresh message: the form's reply goes with the reply token.
	ev := linetest.TextMessageEvent(waiting, "Is it in stock?", time.Now())
	u.ln.IssueReplyTokens(c.ch.token, ev)
	u.deliver(c, ev)
	chat := "/connections/" + c.id + "/chat/" + waiting
	b.get(chat)
	st, _, loc := b.post(chat+"/reply", url.Values{"text": {"Yes, it is!"}})
	if st != 303 {
		t.Fatalf("reply: %d", st)
	}
	b.wantPage(loc, 200, "Sent with the reply token (free).", "Yes, it is!", "· reply token")
	if r := u.ln.Replies(c.ch.token); len(r) != 1 || r[0].Texts[0] != "Yes, it is!" || r[0].UserID != waiting {
		t.Fatalf("replies: %+v", r)
	}
	if f, _ := u.st.Friend(u.ctx, mustID(c.id), waiting); f.Unanswered {
		t.Fatal("Unanswered not No after the reply")
	}

	// The token is used: the next answer is a push; the same form sent
	// twice (double click) pushes once.
	b.get(chat)
	form := url.Values{"text": {"Anything else?"}, "idem": {"form-once-1"}}
	st, _, loc = b.post(chat+"/reply", form)
	if st != 303 {
		t.Fatalf("second reply: %d", st)
	}
	b.wantPage(loc, 200, "Sent as a push message", "· push")
	if st, _, loc := b.post(chat+"/reply", form); st != 303 || !strings.Contains(loc, "chat.sent_duplicate") {
		t.Fatalf("resubmitted form: %d %q", st, loc)
	}
	if p := u.ln.Pushes(c.ch.token); len(p) != 2 || p[1].Texts[0] != "Anything else?" || p[1].To != waiting {
		t.Fatalf("pushes: %+v", p)
	}

	// Bad input and LINE refusing: clear errors, the text stays in the box.
	if st, body, _ := b.post(chat+"/reply", url.Values{"text": {"  "}}); st != 400 || !strings.Contains(body, "Write a reply, pick a template or give an image") {
		t.Fatalf("empty reply: %d", st)
	}
	// LINE refuses (monthly quota used up): no retry would help; said so.
	u.ln.SetQuota(c.ch.token, 10, 10)
	if st, body, _ := b.post(chat+"/reply", url.Values{"text": {"Still there?"}}); st != 429 || !strings.Contains(body, "monthly message quota") || !strings.Contains(body, ">Still there?</textarea>") {
		t.Fatalf("reply over quota: %d\n%s", st, body)
	}
	u.ln.SetQuota(c.ch.token, -1, 0)
	if st, body, _ := b.post("/connections/"+c.id+"/chat/nobody/reply", url.Values{"text": {"x"}}); st != 400 || !strings.Contains(body, "not a LINE user ID") {
		t.Fatalf("bad user id: %d\n%s", st, body)
	}
	// CSRF required.
	req, _ := http.NewRequest("POST", b.abs(chat+"/reply"), strings.NewReader("text=forged"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, _, _ := b.do(req); st != 403 {
		t.Fatalf("reply without CSRF: %d", st)
	}
	if p := u.ln.Pushes(c.ch.token); len(p) != 2 {
		t.Fatalf("refused replies pushed: %d pushes", len(p))
	}
}

// A reply LINE does not answer (a 5xx, a timeout) may have arrived: it is
// not pushed instead (that could answer twice), the conversation shows it
// marked as maybe not delivered, and the friend stays unanswered.
func TestUIChatUnconfirmedReply(t *testing.T) {
	u, b, c := messagingUI(t)
	uid := linetest.NewUserID()
	u.friendWithContact(c, uid, "Ren")
	ev := linetest.TextMessageEvent(uid, "Is it in stock?", time.Now())
	u.ln.IssueReplyTokens(c.ch.token, ev)
	u.deliver(c, ev)
	u.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/message/reply") {
			return 500, `{"message":"An error occurred in the server"}`, true
		}
		return 0, "", false
	})
	chat := "/connections/" + c.id + "/chat/" + uid
	b.get(chat)
	if st, body, _ := b.post(chat+"/reply", url.Values{"text": {"Yes, it is!"}, "idem": {"form-u-1"}}); st < 500 || !strings.Contains(body, "may not have been delivered") {
		t.Fatalf("reply LINE did not answer: %d\n%s", st, body)
	}
	u.ln.SetFault(nil)
	if n := len(u.ln.Pushes(c.ch.token)); n != 0 {
		t.Fatalf("%d pushes after an unclear reply", n)
	}
	b.wantPage(chat, 200, "Yes, it is!", "· reply token · <strong class=\"unconfirmed\">may not have been delivered</strong>")
	if f, _ := u.st.Friend(u.ctx, mustID(c.id), uid); !f.Unanswered {
		t.Fatal("Unanswered reset by an answer nobody knows arrived")
	}
	// The same form again sends nothing.
	b.get(chat)
	b.post(chat+"/reply", url.Values{"text": {"Yes, it is!"}, "idem": {"form-u-1"}})
	if n := len(u.ln.Pushes(c.ch.token)) + len(u.ln.Replies(c.ch.token)); n != 0 {
		t.Fatalf("the resubmitted form sent %d messages", n)
	}
	b.get("/lang/ja")
	b.wantPage(chat, 200, "届いていない可能性があります")
}
