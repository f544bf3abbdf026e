package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

type hookCall struct {
	key, apiKey, secret, query string
	body                       map[string]any
	age                        time.Duration // how old the timestamp is
	badSig                     bool
	signFor                    string            // base URL signed instead of the public URL
	header                     map[string]string // more request headers ("Host" sets the Host)
}

func (e *env) hook(h hookCall) (int, http.Header, map[string]any) {
	e.t.Helper()
	body, _ := json.Marshal(h.body)
	path := "/hooks/hubspot/send/" + h.key
	if h.query != "" {
		path += "?" + h.query
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if h.apiKey != "" {
		hdr["X-Linehub-Key"] = h.apiKey
	}
	for k, v := range h.header {
		hdr[k] = v
	}
	if h.secret != "" {
		ts := strconv.FormatInt(time.Now().Add(-h.age).UnixMilli(), 10)
		signed := publicURL
		if h.signFor != "" {
			signed = h.signFor
		}
		sig := hubspot.SignV3(h.secret, "POST", signed+path, body, ts)
		if h.badSig {
			sig = hubspot.SignV3(h.secret+"x", "POST", signed+path, body, ts)
		}
		hdr["X-HubSpot-Request-Timestamp"], hdr["X-HubSpot-Signature-v3"] = ts, sig
	}
	status, rh, out := e.do("POST", path, hdr, body)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return status, rh, m
}

// friendWithContact makes friend uid write to the connection and syncs it,
// so it has a HubSpot contact; it returns the contact id.
func (e *env) friendWithContact(c conn, uid, name string) string {
	e.t.Helper()
	e.ln.AddFriend(c.ch.token, line.Profile{UserID: uid, DisplayName: name})
	e.deliver(c, linetest.TextMessageEvent(uid, "hello from "+name, time.Now()))
	if err := e.sync.SyncPending(e.ctx); err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	f, err := e.st.Friend(e.ctx, mustID(c.id), uid)
	if err != nil || f.ContactID == "" {
		e.t.Fatalf("friend %s has no contact: %v %+v", uid, err, f)
	}
	return f.ContactID
}

func mustID(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func TestWorkflowHook(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(c, uid, "Hanako")
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); !f.Unanswered {
		t.Fatal("friend should be unanswered after writing")
	}

	status, key := e.api("POST", "/api/v1/connections/"+c.id+"/workflow/key", nil)
	if status != 201 || !strings.HasPrefix(fmt.Sprint(key["key"]), store.HookKeyPrefix) {
		t.Fatalf("rotate key: %d %v", status, key)
	}
	apiKey := key["key"].(string)
	e.secrets = append(e.secrets, apiKey)
	if !strings.HasSuffix(fmt.Sprint(key["url"]), "/hooks/hubspot/send/"+c.key) || key["header"] != "X-Linehub-Key" {
		t.Fatalf("key info: %v", key)
	}
	// Without a signing secret the key is required.
	keyOnly := map[string]any{"objectId": contact, "callbackId": "ap-0", "properties": map[string]any{"line_user_id_" + strconv.Itoa(c.serial): uid}}
	for name, h := range map[string]hookCall{
		"no key":    {key: c.key, query: "text=x", body: keyOnly},
		"wrong key": {key: c.key, apiKey: apiKey + "x", query: "text=x", body: keyOnly},
	} {
		if st, _, out := e.hook(h); st != 401 {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}
	const appSecret = "hubspot-app-client-secret-0001"
	e.secrets = append(e.secrets, appSecret)
	if st, out := e.api("PUT", "/api/v1/connections/"+c.id+"/workflow/signing-secret", map[string]string{"secret": appSecret}); st != 200 || out["signature_required"] != true {
		t.Fatalf("signing secret: %d %v", st, out)
	}
	if st, out := e.api("GET", "/api/v1/connections/"+c.id+"/workflow", nil); st != 200 || out["key"] != nil || out["auth"] != "signature" || out["key_last4"] != apiKey[len(apiKey)-4:] {
		t.Fatalf("workflow info shows %v", out)
	}

	payload := map[string]any{
		"objectId":   contact,
		"callbackId": "ap-1234-5678",
		"properties": map[string]any{
			"firstname":                              map[string]any{"value": "Hanako"},
			"line_user_id_" + strconv.Itoa(c.serial): uid,
			"line_follow_" + strconv.Itoa(c.serial):  "Yes",
		},
	}
	good := hookCall{key: c.key, apiKey: apiKey, secret: appSecret, query: "text=" + url.QueryEscape("Hello {{firstname}}, your order shipped"), body: payload}

	// Rejected calls send nothing.
	for name, h := range map[string]hookCall{
		"wrong key":       {key: c.key, apiKey: apiKey + "x", secret: appSecret, query: good.query, body: payload},
		"bad signature":   {key: c.key, apiKey: apiKey, secret: appSecret, query: good.query, body: payload, badSig: true},
		"unsigned":        {key: c.key, apiKey: apiKey, query: good.query, body: payload},
		"stale timestamp": {key: c.key, apiKey: apiKey, secret: appSecret, query: good.query, body: payload, age: 6 * time.Minute},
		// Signed for another site's URL (a request HubSpot sent there,
		// replayed here with that site's name as Host): only the public
		// URL counts.
		"signed for the Host sent": {key: c.key, apiKey: apiKey, secret: appSecret, query: good.query, body: payload,
			signFor: "https://attacker.example", header: map[string]string{"Host": "attacker.example"}},
		"signed for X-Forwarded-Host": {key: c.key, apiKey: apiKey, secret: appSecret, query: good.query, body: payload,
			signFor: "https://attacker.example", header: map[string]string{"X-Forwarded-Host": "attacker.example"}},
		"signed for http": {key: c.key, apiKey: apiKey, secret: appSecret, query: good.query, body: payload,
			signFor: "http://example.com"},
	} {
		if st, _, out := e.hook(h); st != 401 {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}
	if st, _, _ := e.hook(hookCall{key: "nope", apiKey: apiKey, secret: appSecret, query: good.query, body: payload}); st != 404 {
		t.Errorf("unknown connection: %d", st)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 0 {
		t.Fatalf("rejected calls pushed: %+v", p)
	}

	st, _, out := e.hook(good)
	if st != 200 || out["status"] != "sent" {
		t.Fatalf("signed call: %d %v", st, out)
	}
	p := e.ln.Pushes(c.ch.token)
	if len(p) != 1 || p[0].To != uid || len(p[0].Texts) != 1 || p[0].Texts[0] != "Hello Hanako, your order shipped" || p[0].RetryKey == "" {
		t.Fatalf("pushes: %+v", p)
	}
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); f.Unanswered || f.Dirty&(1<<5) == 0 {
		t.Fatalf("Unanswered not flipped to No: %+v", f)
	}

	// HubSpot retries (a later timestamp, same callback): nothing more.
	st, _, out = e.hook(good)
	if st != 200 || out["status"] != "duplicate" {
		t.Fatalf("retry: %d %v", st, out)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 1 {
		t.Fatalf("retry pushed again: %d pushes", len(p))
	}

	// Without a callback id, the same message to the same contact is a retry.
	noCB := map[string]any{"objectId": contact, "properties": payload["properties"]}
	for range 2 {
		if st, _, out := e.hook(hookCall{key: c.key, apiKey: apiKey, secret: appSecret, query: "text=Sale", body: noCB}); st != 200 {
			t.Fatalf("hash-keyed call: %d %v", st, out)
		}
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 2 || p[1].Texts[0] != "Sale" {
		t.Fatalf("hash-keyed calls: %+v", p)
	}

	// HubSpot's "request signature" authentication sends no key: the
	// signature alone is enough.
	sigOnly := map[string]any{"objectId": contact, "callbackId": "ap-sig", "properties": payload["properties"]}
	if st, _, out := e.hook(hookCall{key: c.key, secret: appSecret, query: "text=Signed", body: sigOnly}); st != 200 || out["status"] != "sent" {
		t.Fatalf("signature only: %d %v", st, out)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 3 || p[2].Texts[0] != "Signed" {
		t.Fatalf("signature only: %d pushes", len(p))
	}

	// A saved template, named in the URL.
	if st, out := e.api("POST", "/api/v1/templates", map[string]any{"name": "welcome", "messages": []any{
		map[string]any{"type": "text", "text": "Welcome {{firstname|friend}}!"},
		map[string]any{"type": "sticker", "packageId": "446", "stickerId": "1988"},
	}}); st != 201 {
		t.Fatalf("create template: %d %v", st, out)
	}
	tmplBody := map[string]any{"objectId": contact, "callbackId": "ap-2", "properties": payload["properties"]}
	if st, _, out := e.hook(hookCall{key: c.key, apiKey: apiKey, secret: appSecret, query: "template=welcome", body: tmplBody}); st != 200 {
		t.Fatalf("template call: %d %v", st, out)
	}
	p = e.ln.Pushes(c.ch.token)
	if len(p) != 4 || len(p[3].Messages) != 2 || p[3].Texts[0] != "Welcome Hanako!" {
		t.Fatalf("template push: %+v", p[len(p)-1])
	}

	// LINE rate limits: 429 with Retry-After in ms; the retry sends once.
	e.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if r.URL.Path == "/v2/bot/message/push" {
			return 429, `{"message":"The API rate limit has been exceeded. Try again later."}`, true
		}
		return 0, "", false
	})
	rl := hookCall{key: c.key, apiKey: apiKey, secret: appSecret, query: "text=Limited", body: map[string]any{"objectId": contact, "callbackId": "ap-3", "properties": payload["properties"]}}
	st, h, out := e.hook(rl)
	if st != 429 || h.Get("Retry-After") != "60000" {
		t.Fatalf("rate limited: %d %q %v", st, h.Get("Retry-After"), out)
	}
	e.ln.SetFault(nil)
	if st, _, out := e.hook(rl); st != 200 || out["status"] != "sent" {
		t.Fatalf("after rate limit: %d %v", st, out)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 5 || p[4].Texts[0] != "Limited" {
		t.Fatalf("after rate limit: %d pushes", len(p))
	}

	// A contact without this connection's LINE id: 422, HubSpot does not retry.
	st, _, out = e.hook(hookCall{key: c.key, apiKey: apiKey, secret: appSecret, query: "text=x", body: map[string]any{"objectId": "999999", "callbackId": "ap-4", "properties": map[string]any{"firstname": "X"}}})
	if st != 422 || !strings.Contains(fmt.Sprint(out["error"]), "no LINE user id") {
		t.Fatalf("no LINE id: %d %v", st, out)
	}
	// A blocked friend: 422, nothing sent.
	e.deliver(c, linetest.UnfollowEvent(uid, time.Now()))
	st, _, _ = e.hook(hookCall{key: c.key, apiKey: apiKey, secret: appSecret, query: "text=y", body: map[string]any{"objectId": contact, "callbackId": "ap-5", "properties": payload["properties"]}})
	if st != 422 {
		t.Fatalf("blocked: %d", st)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 5 {
		t.Fatalf("blocked friend got a push")
	}
	// Bad message input: 400.
	if st, _, _ := e.hook(hookCall{key: c.key, apiKey: apiKey, secret: appSecret, body: map[string]any{"objectId": contact}}); st != 400 {
		t.Fatalf("no message: %d", st)
	}
}

func TestTemplatesAPI(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	st, out := e.api("POST", "/api/v1/templates", map[string]any{"name": "promo", "text": "Hi {{firstname}}, 10% off at {{lastname|our shop}}"})
	if st != 201 {
		t.Fatalf("create: %d %v", st, out)
	}
	id := fmt.Sprint(out["id"])
	if ph := fmt.Sprint(out["placeholders"]); ph != "[firstname lastname]" {
		t.Fatalf("placeholders %s", ph)
	}
	if st, out := e.api("POST", "/api/v1/templates", map[string]any{"name": "promo", "text": "x"}); st != 400 || !strings.Contains(fmt.Sprint(out["error"]), "exists") {
		t.Fatalf("duplicate: %d %v", st, out)
	}
	for _, bad := range []map[string]any{
		{"name": "", "text": "x"},
		{"name": "n"},
		{"name": "img", "messages": []any{map[string]any{"type": "image", "originalContentUrl": "http://insecure/a.jpg", "previewImageUrl": "https://x/p.jpg"}}},
		{"name": "vid", "messages": []any{map[string]any{"type": "video"}}},
		{"name": "flex", "messages": []any{map[string]any{"type": "flex", "contents": map[string]any{"type": "bubble"}}}},
	} {
		if st, out := e.api("POST", "/api/v1/templates", bad); st != 400 {
			t.Errorf("%v: %d %v", bad, st, out)
		}
	}
	st, out = e.api("POST", "/api/v1/templates/"+id+"/preview", map[string]any{"properties": map[string]string{"firstname": "Ken"}})
	if st != 200 || !strings.Contains(fmt.Sprint(out["messages"]), "Hi Ken, 10% off at our shop") || fmt.Sprint(out["missing"]) != "[lastname]" {
		t.Fatalf("preview: %d %v", st, out)
	}
	// Preview from a real contact.
	hs := hubspot.New(hubspot.Config{BaseURL: e.hs.URL(), Token: hubspotToken})
	ct, err := hs.CreateContact(e.ctx, map[string]string{"email": "ken@example.com", "firstname": "Ken", "lastname": "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	st, out = e.api("POST", "/api/v1/templates/"+id+"/preview", map[string]any{"contact_id": ct.ID})
	if st != 200 || !strings.Contains(fmt.Sprint(out["messages"]), "Hi Ken, 10% off at ACME") {
		t.Fatalf("contact preview: %d %v", st, out)
	}
	if st, out := e.api("PUT", "/api/v1/templates/"+id, map[string]any{"name": "promo2", "text": "Bye"}); st != 200 || out["name"] != "promo2" {
		t.Fatalf("update: %d %v", st, out)
	}
	if st, out := e.api("GET", "/api/v1/templates", nil); st != 200 || len(out["templates"].([]any)) != 1 {
		t.Fatalf("list: %d %v", st, out)
	}
	if st, _ := e.api("DELETE", "/api/v1/templates/"+id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := e.api("GET", "/api/v1/templates/"+id, nil); st != 404 {
		t.Fatalf("get deleted: %d", st)
	}
}

// seedList creates a HubSpot list of n contacts: the first withID have the
// connection's LINE id (of whom `blocked` have Follow = No), the rest none.
func (e *env) seedList(c conn, n, withID, blocked int) (listID string, recipients []string) {
	e.t.Helper()
	hs := hubspot.New(hubspot.Config{BaseURL: e.hs.URL(), Token: hubspotToken, Window: 200 * time.Millisecond})
	var in []hubspot.ContactInput
	for i := range n {
		props := map[string]string{"firstname": fmt.Sprintf("Member %d", i)}
		if i < withID {
			uid := linetest.NewUserID()
			props["line_user_id_"+strconv.Itoa(c.serial)] = uid
			props["line_follow_"+strconv.Itoa(c.serial)] = "Yes"
			if i < blocked {
				props["line_follow_"+strconv.Itoa(c.serial)] = "No"
			} else {
				recipients = append(recipients, uid)
			}
		}
		in = append(in, hubspot.ContactInput{Ref: strconv.Itoa(i), Email: fmt.Sprintf("m%d@example.com", i), Properties: props})
	}
	res, err := hs.BatchCreateContacts(e.ctx, in)
	if err != nil || len(res.Contacts) != n {
		e.t.Fatalf("seed contacts: %v (%d created)", err, len(res.Contacts))
	}
	var ids []string
	for i := range n {
		ids = append(ids, res.Contacts[strconv.Itoa(i)].ID)
	}
	return e.hs.AddList("Spring campaign", ids), recipients
}

func TestBroadcast(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	listID, want := e.seedList(c, 1200, 1100, 50)

	st, out := e.api("GET", "/api/v1/hubspot/lists?q=spring", nil)
	if st != 200 || !strings.Contains(fmt.Sprint(out["lists"]), listID) {
		t.Fatalf("search lists: %d %v", st, out)
	}
	st, out = e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts/preview", map[string]any{"list_id": listID})
	if st != 200 || out["recipients"] != float64(1050) || out["skipped_no_line_id"] != float64(100) || out["skipped_blocked"] != float64(50) || out["multicasts"] != float64(3) {
		t.Fatalf("preview: %d %v", st, out)
	}
	if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts/preview", map[string]any{"list_id": "31337"}); st != 400 || !strings.Contains(fmt.Sprint(out["error"]), "no list") {
		t.Fatalf("unknown list: %d %v", st, out)
	}
	if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts", map[string]any{"list_id": listID, "text": "Hi {{firstname}}"}); st != 400 {
		t.Fatalf("placeholders in a broadcast: %d %v", st, out)
	}
	st, out = e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts", map[string]any{"list_id": listID, "list_name": "Spring campaign", "text": "Spring sale starts today"})
	if st != 201 || out["status"] != "preparing" {
		t.Fatalf("create: %d %v", st, out)
	}
	bid := fmt.Sprint(out["id"])
	e.msg.SendPending(e.ctx)

	ms := e.ln.Multicasts(c.ch.token)
	if len(ms) != 3 || len(ms[0].To) != 500 || len(ms[1].To) != 500 || len(ms[2].To) != 50 {
		t.Fatalf("multicasts: %d", len(ms))
	}
	got := map[string]bool{}
	keys := map[string]bool{}
	for _, m := range ms {
		keys[m.RetryKey] = true
		for _, u := range m.To {
			if got[u] {
				t.Fatalf("%s got the message twice", u)
			}
			got[u] = true
		}
	}
	if len(keys) != 3 || keys[""] {
		t.Fatalf("retry keys %v", keys)
	}
	for _, u := range want {
		if !got[u] {
			t.Fatalf("recipient %s missed", u)
		}
	}
	st, out = e.api("GET", "/api/v1/broadcasts/"+bid, nil)
	prog, _ := out["progress"].(map[string]any)
	if st != 200 || out["status"] != "done" || out["recipients"] != float64(1050) || out["members"] != float64(1200) ||
		out["skipped_no_line_id"] != float64(100) || out["skipped_blocked"] != float64(50) || prog["sent"] != float64(1050) || prog["failed"] != float64(0) {
		t.Fatalf("report: %d %v", st, out)
	}

	// Each recipient's chat shows the broadcast, whose messages are stored
	// once (with the broadcast), not once per recipient.
	st, out = e.api("GET", "/api/v1/connections/"+c.id+"/conversations/"+want[7]+"/messages", nil)
	if msgs := fmt.Sprint(out["messages"]); st != 200 || !strings.Contains(msgs, "Spring sale starts today") || !strings.Contains(msgs, "via:broadcast") || !strings.Contains(msgs, "type:text") {
		t.Fatalf("a recipient's chat: %d %v", st, out)
	}
	db, err := gorm.Open(sqlite.Open(e.st.Path()), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var rows, copies int64
	if err := db.Raw("SELECT COUNT(*), COUNT(NULLIF(messages, '')) FROM chat_messages WHERE via = 'broadcast'").Row().Scan(&rows, &copies); err != nil || rows != 1050 || copies != 0 {
		t.Fatalf("%d broadcast chat rows, %d holding their own copy of the messages (%v)", rows, copies, err)
	}

	// A crash after LINE accepted chunk 1 but before it was recorded: the
	// restart sends it again with the stored retry key and LINE refuses
	// (409), so nobody gets it twice and the report stays right.
	if err := db.Exec("UPDATE broadcast_chunks SET status = 'pending', sent_at = NULL WHERE broadcast_id = ? AND seq = 1", bid).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE broadcasts SET status = 'sending', finished_at = NULL WHERE id = ?", bid).Error; err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
	e.msg.SendPending(e.ctx)
	if ms := e.ln.Multicasts(c.ch.token); len(ms) != 3 {
		t.Fatalf("after restart: %d multicasts", len(ms))
	}
	_, out = e.api("GET", "/api/v1/broadcasts/"+bid, nil)
	if prog := out["progress"].(map[string]any); out["status"] != "done" || prog["sent"] != float64(1050) {
		t.Fatalf("report after restart: %v", out)
	}

	// Quota too small: refused with a clear message, nothing sent.
	e.ln.SetQuota(c.ch.token, 2000, 1050)
	st, out = e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts/preview", map[string]any{"list_id": listID})
	if st != 200 || out["would_exceed_quota"] != true || out["quota_remaining"] != float64(950) {
		t.Fatalf("preview with quota: %v", out)
	}
	_, out = e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts", map[string]any{"list_id": listID, "text": "Again"})
	bid2 := fmt.Sprint(out["id"])
	e.msg.SendPending(e.ctx)
	_, out = e.api("GET", "/api/v1/broadcasts/"+bid2, nil)
	if out["status"] != "failed" || !strings.Contains(fmt.Sprint(out["error"]), "950 messages left") {
		t.Fatalf("quota refusal: %v", out)
	}
	if ms := e.ln.Multicasts(c.ch.token); len(ms) != 3 {
		t.Fatalf("quota refusal sent: %d", len(ms))
	}
	e.ln.SetQuota(c.ch.token, 2000, 2000)
	if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts", map[string]any{"list_id": listID, "text": "Again"}); st != 409 || !strings.Contains(fmt.Sprint(out["error"]), "quota") {
		t.Fatalf("quota used up: %d %v", st, out)
	}
	if st, out := e.api("GET", "/api/v1/connections/"+c.id+"/quota", nil); st != 200 || out["remaining"] != float64(0) {
		t.Fatalf("quota: %d %v", st, out)
	}

	// Scheduled for later: nothing happens now; it can be canceled.
	e.ln.SetQuota(c.ch.token, -1, 0)
	_, out = e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts", map[string]any{"list_id": listID, "text": "Later", "scheduled_at": time.Now().Add(time.Hour).Format(time.RFC3339)})
	bid3 := fmt.Sprint(out["id"])
	e.msg.SendPending(e.ctx)
	if ms := e.ln.Multicasts(c.ch.token); len(ms) != 3 || out["status"] != "scheduled" {
		t.Fatalf("scheduled broadcast went out: %d %v", len(ms), out)
	}
	if st, out := e.api("POST", "/api/v1/broadcasts/"+bid3+"/cancel", nil); st != 200 || out["status"] != "canceled" {
		t.Fatalf("cancel: %d %v", st, out)
	}
	if st, out := e.api("GET", "/api/v1/connections/"+c.id+"/broadcasts", nil); st != 200 || len(out["broadcasts"].([]any)) != 3 {
		t.Fatalf("list: %d %v", st, out)
	}
	// A scheduled broadcast whose time has come is sent by the next pass.
	past := time.Now().Add(-time.Second).UTC()
	due := &store.Broadcast{ConnectionID: mustID(c.id), ListID: listID, Messages: `[{"type":"text","text":"Due"}]`, Status: store.BroadcastScheduled, ScheduledAt: &past}
	if err := e.st.CreateBroadcast(e.ctx, due); err != nil {
		t.Fatal(err)
	}
	e.msg.SendPending(e.ctx)
	if ms := e.ln.Multicasts(c.ch.token); len(ms) != 6 || ms[5].Texts[0] != "Due" {
		t.Fatalf("due broadcast: %d multicasts", len(ms))
	}
}

func TestReplyAndNotes(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(c, uid, "Aiko")

	// A fresh message: the reply uses its token (free), not a push.
	ev := linetest.TextMessageEvent(uid, "Is it in stock?", time.Now())
	e.ln.IssueReplyTokens(c.ch.token, ev)
	e.deliver(c, ev)
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); !f.Unanswered {
		t.Fatal("not unanswered after message")
	}
	st, out := e.api("GET", "/api/v1/connections/"+c.id+"/conversations", nil)
	if st != 200 || !strings.Contains(fmt.Sprint(out["conversations"]), "unanswered:true") {
		t.Fatalf("conversations: %d %v", st, out)
	}
	st, out = e.api("POST", "/api/v1/connections/"+c.id+"/conversations/"+uid+"/reply", map[string]any{"text": "Yes, it is!"})
	if st != 200 || out["via"] != "reply" {
		t.Fatalf("reply: %d %v", st, out)
	}
	if r := e.ln.Replies(c.ch.token); len(r) != 1 || r[0].Texts[0] != "Yes, it is!" || r[0].UserID != uid {
		t.Fatalf("replies: %+v", r)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 0 {
		t.Fatalf("pushed: %+v", p)
	}
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); f.Unanswered {
		t.Fatal("Unanswered not No after reply")
	}

	// The token is used: the next reply is a push.
	if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/conversations/"+uid+"/reply", map[string]any{"text": "Anything else?"}); st != 200 || out["via"] != "push" {
		t.Fatalf("second reply: %d %v", st, out)
	}
	// A token LINE has expired: reply refused, push instead.
	ev = linetest.TextMessageEvent(uid, "When do you open?", time.Now())
	e.ln.IssueReplyTokens(c.ch.token, ev)
	e.deliver(c, ev)
	e.ln.ExpireReplyTokens(c.ch.token)
	if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/conversations/"+uid+"/reply", map[string]any{"text": "At 10."}); st != 200 || out["via"] != "push" {
		t.Fatalf("expired token: %d %v", st, out)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 2 || p[1].Texts[0] != "At 10." {
		t.Fatalf("pushes: %+v", p)
	}
	if r := e.ln.Replies(c.ch.token); len(r) != 1 {
		t.Fatalf("replies: %d", len(r))
	}
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); f.Unanswered {
		t.Fatal("Unanswered not No after push")
	}

	// The conversation, newest last.
	st, out = e.api("GET", "/api/v1/connections/"+c.id+"/conversations/"+uid+"/messages", nil)
	msgs, _ := out["messages"].([]any)
	var seq []string
	for _, m := range msgs {
		m := m.(map[string]any)
		seq = append(seq, fmt.Sprint(m["direction"], ":", m["text"]))
	}
	wantSeq := []string{"in:hello from Aiko", "in:Is it in stock?", "out:Yes, it is!", "out:Anything else?", "in:When do you open?", "out:At 10."}
	if st != 200 || strings.Join(seq, "|") != strings.Join(wantSeq, "|") {
		t.Fatalf("conversation: %d %v", st, seq)
	}

	// Every message lands on the contact's timeline as a note.
	e.msg.SendPending(e.ctx)
	notes := e.hs.Notes(contact)
	if len(notes) != len(wantSeq) {
		t.Fatalf("%d notes, want %d: %+v", len(notes), len(wantSeq), notes)
	}
	if !strings.Contains(notes[0].Body, "received") || !strings.Contains(notes[0].Body, "hello from Aiko") || !strings.Contains(notes[2].Body, "sent") {
		t.Fatalf("notes: %+v", notes)
	}
	e.msg.SendPending(e.ctx)
	if n := len(e.hs.Notes(contact)); n != len(wantSeq) {
		t.Fatalf("notes written twice: %d", n)
	}

	// HubSpot learns that the chat is answered.
	if err := e.sync.SyncPending(e.ctx); err != nil {
		t.Fatal(err)
	}
	if ct, ok := e.hs.Contact(contact); !ok || ct.Properties["line_unanswered_"+strconv.Itoa(c.serial)] != "No" {
		t.Fatalf("contact after replies: %+v", ct.Properties)
	}

	// The "messages" form of the send API with a client idempotency key.
	body := map[string]any{"to": uid, "messages": []any{map[string]any{"type": "sticker", "packageId": "446", "stickerId": "1988"}}, "idempotency_key": "order-77"}
	for range 2 {
		if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/messages", body); st != 202 {
			t.Fatalf("send messages: %d %v", st, out)
		}
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 3 {
		t.Fatalf("idempotent send pushed %d times", len(p)-2)
	}
}

// TestWorkflowRetryAfterCrash: linehub recorded the send and its retry key,
// LINE accepted the push, and linehub died before recording that. HubSpot's
// retry must not deliver the message a second time.
func TestWorkflowRetryAfterCrash(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(c, uid, "Jun")
	_, key := e.api("POST", "/api/v1/connections/"+c.id+"/workflow/key", nil)
	apiKey := key["key"].(string)
	e.secrets = append(e.secrets, apiKey)

	msgs := []json.RawMessage{line.TextMessage("Your appointment is tomorrow")}
	raw, _ := json.Marshal(msgs)
	row := &store.Send{ConnectionID: mustID(c.id), IdemKey: "cb:ap-crash", Kind: "workflow", UserID: uid, Messages: string(raw), RetryKey: "0d1c7a52-8f44-4b0e-9a51-3f0f1c2b7d11"}
	if _, created, err := e.st.ClaimSend(e.ctx, row, 0); err != nil || !created {
		t.Fatalf("claim: %v %v", created, err)
	}
	lc, err := line.NewClient(line.Options{Token: c.ch.token, APIBaseURL: e.ln.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Push(e.ctx, uid, msgs, row.RetryKey); err != nil {
		t.Fatalf("first push: %v", err)
	}
	body := map[string]any{"objectId": contact, "callbackId": "ap-crash", "properties": map[string]any{"line_user_id_" + strconv.Itoa(c.serial): uid}}
	st, _, out := e.hook(hookCall{key: c.key, apiKey: apiKey, query: "text=" + url.QueryEscape("Your appointment is tomorrow"), body: body})
	if st != 200 || out["status"] != "sent" {
		t.Fatalf("retry: %d %v", st, out)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 1 {
		t.Fatalf("%d pushes, want 1", len(p))
	}
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); f.Unanswered {
		t.Fatal("Unanswered not No")
	}
	// And now it is recorded: one more retry is a duplicate.
	if st, _, out := e.hook(hookCall{key: c.key, apiKey: apiKey, query: "text=x", body: body}); st != 200 || out["status"] != "duplicate" {
		t.Fatalf("second retry: %d %v", st, out)
	}
}

// TestNotesWaitForHubSpot: while HubSpot fails, notes wait (any number of
// passes) and are written once it is back, each exactly once.
func TestNotesWaitForHubSpot(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(c, uid, "Ren")
	e.hs.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.Contains(r.URL.Path, "/notes/") {
			return 503, `{"status":"error","message":"Service Unavailable","category":"SERVICE_UNAVAILABLE"}`, true
		}
		return 0, "", false
	})
	for range 15 {
		e.msg.SendPending(e.ctx)
	}
	if n := len(e.hs.Notes(contact)); n != 0 {
		t.Fatalf("%d notes while HubSpot fails", n)
	}
	notesStatus := func() map[string]any {
		_, out := e.api("GET", "/api/v1/status", nil)
		n, _ := out["notes"].(map[string]any)
		return n
	}
	if n := notesStatus(); n["pending"] != float64(1) || n["given_up"] != float64(0) {
		t.Fatalf("status while HubSpot fails: notes %v, want 1 pending", n)
	}
	e.hs.SetFault(nil)
	e.msg.SendPending(e.ctx)
	if notes := e.hs.Notes(contact); len(notes) != 1 || !strings.Contains(notes[0].Body, "hello from Ren") {
		t.Fatalf("notes after recovery: %+v", notes)
	}
	if n := notesStatus(); n["pending"] != float64(0) {
		t.Fatalf("status after recovery: notes %v", n)
	}
}

// TestRetryKeyExpiry: LINE honours a retry key for 24 h after the first
// attempt. A send or broadcast chunk whose first attempt got no clear
// answer and is older than that is given up, not sent a second time.
func TestRetryKeyExpiry(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	db, err := gorm.Open(sqlite.Open(e.st.Path()), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	exec := func(q string, args ...any) {
		t.Helper()
		if err := db.Exec(q, args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	dayAgo := time.Now().Add(-25 * time.Hour).UTC()

	// A workflow send whose first attempt hit a LINE 500 a day ago.
	uid := linetest.NewUserID()
	contact := e.friendWithContact(c, uid, "Jun")
	_, key := e.api("POST", "/api/v1/connections/"+c.id+"/workflow/key", nil)
	apiKey := key["key"].(string)
	e.secrets = append(e.secrets, apiKey)
	e.ln.SetFault(func(r *http.Request) (int, string, bool) {
		return 500, `{"message":"An error occurred in the server"}`, strings.HasPrefix(r.URL.Path, "/v2/bot/message/")
	})
	body := map[string]any{"objectId": contact, "callbackId": "cb-old", "properties": map[string]any{"line_user_id_" + strconv.Itoa(c.serial): uid}}
	if st, _, out := e.hook(hookCall{key: c.key, apiKey: apiKey, query: "text=Hello", body: body}); st < 500 {
		t.Fatalf("first attempt during a LINE 500: %d %v", st, out)
	}
	e.ln.SetFault(nil)
	exec("UPDATE sends SET created_at = ? WHERE idem_key = ?", dayAgo, "cb:cb-old")
	st, _, out := e.hook(hookCall{key: c.key, apiKey: apiKey, query: "text=Hello", body: body})
	if st != 422 || !strings.Contains(fmt.Sprint(out["error"]), "retry key") {
		t.Fatalf("retry a day later: %d %v", st, out)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 0 {
		t.Fatalf("%d pushes after the retry key expired", len(p))
	}

	// A broadcast whose first chunk met a LINE 500 a day ago: that chunk is
	// reported failed, the chunks never tried go out.
	listID, _ := e.seedList(c, 1200, 1200, 0)
	e.ln.SetFault(func(r *http.Request) (int, string, bool) {
		return 500, `{"message":"An error occurred in the server"}`, r.URL.Path == "/v2/bot/message/multicast"
	})
	_, out = e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts", map[string]any{"list_id": listID, "text": "Sale"})
	bid := fmt.Sprint(out["id"])
	e.msg.SendPending(e.ctx)
	e.ln.SetFault(nil)
	exec("UPDATE broadcast_chunks SET tried_at = ? WHERE broadcast_id = ? AND tried_at IS NOT NULL", dayAgo, bid)
	e.msg.SendPending(e.ctx)
	ms := e.ln.Multicasts(c.ch.token)
	_, out = e.api("GET", "/api/v1/broadcasts/"+bid, nil)
	prog, _ := out["progress"].(map[string]any)
	if len(ms) != 2 || out["status"] != "done" || prog["sent"] != float64(700) || prog["failed"] != float64(500) {
		t.Fatalf("%d multicasts, report %v", len(ms), out)
	}
}

// TestBroadcastWithoutListsScope: a token made with only the contact
// scopes gets a message naming the missing scope, not a bare 403, and a
// broadcast stops with it instead of retrying for ever.
func TestBroadcastWithoutListsScope(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true, HubSpotScopes: []string{"crm.objects.contacts.read", "crm.objects.contacts.write"}})
	c := e.createConn("Shop", true, true)
	for _, call := range []struct{ method, path string }{
		{"GET", "/api/v1/hubspot/lists?q=vip"},
		{"POST", "/api/v1/connections/" + c.id + "/broadcasts/preview"},
	} {
		st, out := e.api(call.method, call.path, map[string]any{"list_id": "1"})
		if st != 400 || !strings.Contains(fmt.Sprint(out["error"]), "lacks the scope crm.lists.read") {
			t.Fatalf("%s %s: %d %v", call.method, call.path, st, out)
		}
	}
	_, out := e.api("POST", "/api/v1/connections/"+c.id+"/broadcasts", map[string]any{"list_id": "1", "text": "Hi"})
	bid := fmt.Sprint(out["id"])
	e.msg.SendPending(e.ctx)
	if _, out = e.api("GET", "/api/v1/broadcasts/"+bid, nil); out["status"] != "failed" || !strings.Contains(fmt.Sprint(out["error"]), "crm.lists.read") {
		t.Fatalf("broadcast: %v", out)
	}
}

// TestReplyIdempotent: the same answer sent twice with one idempotency key
// (a double submit, a client retry) goes out once, whether it went as a
// reply or, after LINE refused an expired token, as a push.
func TestReplyIdempotent(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	e.friendWithContact(c, uid, "Aiko")
	path := "/api/v1/connections/" + c.id + "/conversations/" + uid + "/reply"

	ev := linetest.TextMessageEvent(uid, "Is it in stock?", time.Now())
	e.ln.IssueReplyTokens(c.ch.token, ev)
	e.deliver(c, ev)
	body := map[string]any{"text": "Yes, it is!", "idempotency_key": "form-1"}
	if st, out := e.api("POST", path, body); st != 200 || out["via"] != "reply" {
		t.Fatalf("reply: %d %v", st, out)
	}
	if st, out := e.api("POST", path, body); st != 200 || out["status"] != "duplicate" || out["via"] != "reply" {
		t.Fatalf("same key again: %d %v", st, out)
	}
	if r, p := e.ln.Replies(c.ch.token), e.ln.Pushes(c.ch.token); len(r) != 1 || len(p) != 0 {
		t.Fatalf("%d replies, %d pushes; want 1 reply", len(r), len(p))
	}

	ev = linetest.TextMessageEvent(uid, "When do you open?", time.Now())
	e.ln.IssueReplyTokens(c.ch.token, ev)
	e.deliver(c, ev)
	e.ln.ExpireReplyTokens(c.ch.token)
	body = map[string]any{"text": "At 10.", "idempotency_key": "form-2"}
	for i := range 2 {
		if st, out := e.api("POST", path, body); st != 200 || out["via"] != "push" || (i == 1) != (out["status"] == "duplicate") {
			t.Fatalf("expired token, attempt %d: %d %v", i, st, out)
		}
	}
	if r, p := e.ln.Replies(c.ch.token), e.ln.Pushes(c.ch.token); len(r) != 1 || len(p) != 1 {
		t.Fatalf("%d replies, %d pushes; want 1 each", len(r), len(p))
	}
}
