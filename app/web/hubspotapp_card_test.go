package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// cardEnv is linehub with the HubSpot app set up, as the card reaches it.
type cardEnv struct {
	*env
	fetch hubspottest.CardFetch
}

func newCardEnv(t *testing.T) *cardEnv {
	t.Helper()
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	e.secrets = append(e.secrets, appSecret)
	if st, m := e.api("PUT", "/api/v1/hubspot", map[string]any{"token": hubspotToken}); st != 200 {
		t.Fatalf("save HubSpot key: %d %v", st, m)
	}
	if st, m := e.api("PUT", "/api/v1/hubspot/app", map[string]any{"app_id": "77", "client_secret": appSecret}); st != 200 {
		t.Fatalf("save app: %d %v", st, m)
	}
	return &cardEnv{env: e, fetch: hubspottest.CardFetch{ClientSecret: appSecret, PortalID: portalID, UserID: 9001, UserEmail: "staff@example.com"}}
}

// call sends what the card's hubspot.fetch sends, from fetch (its secret,
// portal, age), and reads the answer as hubspot.fetch hands it over.
func (e *cardEnv) call(f hubspottest.CardFetch, method, path string, body any) (int, []byte) {
	e.t.Helper()
	req, err := f.Request(method, publicURL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	out, err := hubspottest.ReadCardResponse(resp)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	e.checkNoSecrets(method, path, out)
	if resp.StatusCode >= 400 && !strings.Contains(string(out), `"error"`) {
		e.t.Errorf("%s %s: %d answer is not {\"error\"}: %s", method, path, resp.StatusCode, out)
	}
	return resp.StatusCode, out
}

type cardAnswer struct {
	ContactID string `json:"contact_id"`
	Friends   []struct {
		ConnectionID   int64  `json:"connection_id"`
		ConnectionName string `json:"connection_name"`
		UserID         string `json:"user_id"`
		DisplayName    string `json:"display_name"`
		PictureURL     string `json:"picture_url"`
		Following      bool   `json:"following"`
		Unanswered     bool   `json:"unanswered"`
		ChatURL        string `json:"chat_url"`
		More           bool   `json:"more"`
		Messages       []struct {
			ID        int64  `json:"id"`
			Direction string `json:"direction"`
			Via       string `json:"via"`
			Timestamp int64  `json:"timestamp"`
			Parts     []struct {
				Type       string `json:"type"`
				Text       string `json:"text"`
				URL        string `json:"url"`
				PreviewURL string `json:"preview_url"`
				StickerID  string `json:"sticker_id"`
			} `json:"parts"`
		} `json:"messages"`
	} `json:"friends"`
}

func (e *cardEnv) card(contactID string) cardAnswer {
	e.t.Helper()
	st, out := e.call(e.fetch, "GET", "/hubspot/app/card?contactId="+contactID, nil)
	if st != 200 {
		e.t.Fatalf("card %s: %d %s", contactID, st, out)
	}
	var a cardAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		e.t.Fatalf("card %s: %v %s", contactID, err, out)
	}
	return a
}

// sent is every message LINE accepted for the channel: replies and pushes.
func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

func sent(e *env, c conn) int { return len(e.ln.Replies(c.ch.token)) + len(e.ln.Pushes(c.ch.token)) }

// chatRows is how many messages the conversation with uid records.
func chatRows(t *testing.T, e *env, c conn, uid string) int {
	t.Helper()
	ms, err := e.st.ChatMessages(e.ctx, mustID(c.id), uid, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// The card shows, per connection, the contact's friend, its Follow and
// Unanswered, and the conversation newest last with stickers and images as
// what they are; a contact that is no friend gets an empty list.
func TestCardShowsTheContactsFriends(t *testing.T) {
	e := newCardEnv(t)
	shop := e.createConn("Shop Shibuya", true, true)
	other := e.createConn("Shop Umeda", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(shop, uid, "Aiko")
	e.deliver(shop, linetest.StickerMessageEvent(uid, "446", "1988", time.Now()),
		linetest.ImageMessageEvent(uid, time.Now()))
	if st, out := e.api("POST", "/api/v1/connections/"+shop.id+"/conversations/"+uid+"/reply",
		map[string]any{"messages": []any{map[string]any{"type": "image", "originalContentUrl": "https://cdn.example.com/menu.jpg", "previewImageUrl": "https://cdn.example.com/menu-s.jpg"}}}); st != 200 {
		t.Fatalf("send image: %d %v", st, out)
	}
	e.deliver(shop, linetest.TextMessageEvent(uid, "Thanks!", time.Now().Add(time.Minute)))
	// The same person is a friend of the other shop, linked to the same contact.
	uid2 := linetest.NewUserID()
	e.friendWithContact(other, uid2, "Aiko U")
	if _, err := e.st.UpdateFriend(e.ctx, mustID(other.id), uid2, func(f *store.Friend) error { f.ContactID = contact; return nil }); err != nil {
		t.Fatal(err)
	}
	// A third friend with another contact must not show.
	strangerUID := linetest.NewUserID()
	stranger := e.friendWithContact(shop, strangerUID, "Ben")

	a := e.card(contact)
	if a.ContactID != contact || len(a.Friends) != 2 {
		t.Fatalf("card: %+v", a)
	}
	f := a.Friends[0]
	if f.ConnectionName != "Shop Shibuya" || f.UserID != uid || f.DisplayName != "Aiko" || !f.Following || !f.Unanswered ||
		f.ChatURL != publicURL+"/connections/"+shop.id+"/chat/"+uid || f.More {
		t.Fatalf("friend: %+v", f)
	}
	var seq []string
	for i, m := range f.Messages {
		if i > 0 && m.Timestamp < f.Messages[i-1].Timestamp {
			t.Fatalf("not newest last: %+v", f.Messages)
		}
		p := m.Parts[0]
		seq = append(seq, m.Direction+":"+p.Type+":"+p.Text+p.StickerID+p.PreviewURL)
	}
	want := []string{"in:text:hello from Aiko", "in:sticker:1988", "in:image:", "out:image:https://cdn.example.com/menu-s.jpg", "in:text:Thanks!"}
	if strings.Join(seq, "|") != strings.Join(want, "|") {
		t.Fatalf("conversation:\n got %v\nwant %v", seq, want)
	}
	if a.Friends[1].ConnectionName != "Shop Umeda" || a.Friends[1].UserID != uid2 {
		t.Fatalf("second friend: %+v", a.Friends[1])
	}
	if b := e.card(stranger); len(b.Friends) != 1 || b.Friends[0].DisplayName != "Ben" {
		t.Fatalf("stranger's card: %+v", b)
	}
	// A contact deleted in HubSpot no longer has its friend on the card.
	if _, err := e.st.UpdateFriend(e.ctx, mustID(shop.id), strangerUID, func(f *store.Friend) error { f.ContactGone = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if b := e.card(stranger); len(b.Friends) != 0 {
		t.Fatalf("deleted contact's card: %+v", b)
	}
	// A contact with no LINE friend: an empty list, nobody else's data.
	if b := e.card("987654321"); b.ContactID != "987654321" || b.Friends == nil || len(b.Friends) != 0 {
		t.Fatalf("no friend: %+v", b)
	}
}

// Only what HubSpot signed with the app's secret, recently, for linehub's
// portal and for the contact the card shows is answered; everything else
// is refused and sends nothing.
func TestCardRefusesWhatWasNotSignedForIt(t *testing.T) {
	e := newCardEnv(t)
	shop := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(shop, uid, "Aiko")
	other := e.friendWithContact(shop, linetest.NewUserID(), "Ben")

	good := e.fetch
	badSecret := good
	badSecret.ClientSecret = "another-app-secret-0000"
	stale := good
	stale.Age = 6 * time.Minute
	otherPortal := good
	otherPortal.PortalID = 9999
	replyTo := func(contactID string) map[string]any {
		return map[string]any{"contactId": contactID, "connectionId": mustID(shop.id), "userId": uid, "text": "Hello", "key": "k-" + contactID}
	}

	for _, tc := range []struct {
		name   string
		f      hubspottest.CardFetch
		method string
		path   string
		body   any
		tamper func(r *http.Request) // after signing
		want   int
	}{
		{name: "other secret", f: badSecret, method: "GET", path: "/hubspot/app/card?contactId=" + contact, want: 401},
		{name: "stale", f: stale, method: "GET", path: "/hubspot/app/card?contactId=" + contact, want: 401},
		{name: "other portal", f: otherPortal, method: "GET", path: "/hubspot/app/card?contactId=" + contact, want: 403},
		{name: "contact changed after signing", f: good, method: "GET", path: "/hubspot/app/card?contactId=" + other,
			tamper: func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, other, contact, 1) }, want: 401},
		{name: "no contact", f: good, method: "GET", path: "/hubspot/app/card", want: 400},
		{name: "contact not a number", f: good, method: "GET", path: "/hubspot/app/card?contactId=abc", want: 400},
		{name: "reply, other secret", f: badSecret, method: "POST", path: "/hubspot/app/card/reply?contactId=" + contact, body: replyTo(contact), want: 401},
		{name: "reply, stale", f: stale, method: "POST", path: "/hubspot/app/card/reply?contactId=" + contact, body: replyTo(contact), want: 401},
		{name: "reply, other portal", f: otherPortal, method: "POST", path: "/hubspot/app/card/reply?contactId=" + contact, body: replyTo(contact), want: 403},
		{name: "reply, body changed after signing", f: good, method: "POST", path: "/hubspot/app/card/reply?contactId=" + contact, body: replyTo(contact),
			tamper: func(r *http.Request) {
				b, _ := json.Marshal(map[string]any{"contactId": contact, "connectionId": mustID(shop.id), "userId": uid, "text": "Pay here", "key": "k-" + contact})
				r.Body = readCloser(b)
				r.ContentLength = int64(len(b))
			}, want: 401},
		// Signed correctly, but from the card of another contact.
		{name: "reply from another contact's card", f: good, method: "POST", path: "/hubspot/app/card/reply?contactId=" + other, body: replyTo(other), want: 404},
		{name: "reply, body names another contact", f: good, method: "POST", path: "/hubspot/app/card/reply?contactId=" + other, body: replyTo(contact), want: 400},
		{name: "reply without key", f: good, method: "POST", path: "/hubspot/app/card/reply?contactId=" + contact,
			body: map[string]any{"connectionId": mustID(shop.id), "userId": uid, "text": "Hello"}, want: 400},
		{name: "reply, text and template", f: good, method: "POST", path: "/hubspot/app/card/reply?contactId=" + contact,
			body: map[string]any{"connectionId": mustID(shop.id), "userId": uid, "text": "Hello", "templateId": 1, "key": "k"}, want: 400},
		{name: "preview, other portal", f: otherPortal, method: "GET", path: "/hubspot/app/card/templates/preview?contactId=" + contact + "&templateId=1", want: 403},
		{name: "templates, unsigned secret", f: badSecret, method: "GET", path: "/hubspot/app/card/templates?contactId=" + contact, want: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, rows := sent(e.env, shop), chatRows(t, e.env, shop, uid)
			req, err := tc.f.Request(tc.method, publicURL+tc.path, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(req)
			}
			resp, err := e.app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := hubspottest.ReadCardResponse(resp)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, tc.want, out)
			}
			if strings.Contains(string(out), "Aiko") || strings.Contains(string(out), uid) {
				t.Fatalf("refused answer shows the friend: %s", out)
			}
			if sent(e.env, shop) != before || chatRows(t, e.env, shop, uid) != rows {
				t.Fatalf("a refused request sent something (%d → %d LINE sends, %d → %d chat rows)", before, sent(e.env, shop), rows, chatRows(t, e.env, shop, uid))
			}
		})
	}
}

// A reply goes out with the fresh reply token, else by push; one key is
// one message, whatever repeats it: a second click, HubSpot's own retry of
// a 5xx, or both at once.
func TestCardReplySendsOncePerKey(t *testing.T) {
	e := newCardEnv(t)
	shop := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(shop, uid, "Aiko")
	path := "/hubspot/app/card/reply?contactId=" + contact
	reply := func(text, key string) (int, map[string]any) {
		st, out := e.call(e.fetch, "POST", path, map[string]any{"contactId": contact, "connectionId": mustID(shop.id), "userId": uid, "text": text, "key": key})
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		return st, m
	}

	ev := linetest.TextMessageEvent(uid, "Is it in stock?", time.Now())
	e.ln.IssueReplyTokens(shop.ch.token, ev)
	e.deliver(shop, ev)
	if st, m := reply("Yes, it is!", "c1"); st != 200 || m["via"] != "reply" || m["duplicate"] != false {
		t.Fatalf("reply: %d %v", st, m)
	}
	if st, m := reply("Yes, it is!", "c1"); st != 200 || m["duplicate"] != true {
		t.Fatalf("clicked again: %d %v", st, m)
	}
	if r, p := len(e.ln.Replies(shop.ch.token)), len(e.ln.Pushes(shop.ch.token)); r != 1 || p != 0 {
		t.Fatalf("%d replies, %d pushes; want one reply", r, p)
	}
	if f, _ := e.st.Friend(e.ctx, mustID(shop.id), uid); f.Unanswered {
		t.Fatal("still unanswered after the reply")
	}

	// No fresh token: a push. LINE fails every attempt of the first
	// request (linehub's client retries too), so linehub answers 5xx and
	// HubSpot's proxy sends the same request again, which goes through.
	var mu sync.Mutex
	lineDown, faults := true, 0
	e.ln.SetFault(func(r *http.Request) (int, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/v2/bot/message/push" && lineDown {
			faults++
			return 500, `{"message":"An error occurred in the backend"}`, true
		}
		return 0, "", false
	})
	body := map[string]any{"contactId": contact, "connectionId": mustID(shop.id), "userId": uid, "text": "We open at 10.", "key": "c2"}
	raw, _ := json.Marshal(body)
	req, err := e.fetch.Request("POST", publicURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	var first int
	resp, err := hubspottest.Retry5xx(func(r *http.Request) (*http.Response, error) {
		resp, err := e.app.Test(r, -1)
		mu.Lock()
		defer mu.Unlock()
		if lineDown && err == nil {
			first, lineDown = resp.StatusCode, false
		}
		return resp, err
	}, req, raw)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := hubspottest.ReadCardResponse(resp)
	if first < 500 || faults == 0 || resp.StatusCode != 200 {
		t.Fatalf("first answer %d after %d LINE faults; after HubSpot's retry: %d %s", first, faults, resp.StatusCode, out)
	}
	// And the person clicks twice more, at the same time.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, m := reply("We open at 10.", "c2"); st != 200 || m["duplicate"] != true {
				t.Errorf("click again: %d %v", st, m)
			}
		}()
	}
	wg.Wait()
	if p := e.ln.Pushes(shop.ch.token); len(p) != 1 || p[0].Texts[0] != "We open at 10." {
		t.Fatalf("pushes: %+v", p)
	}
	// The key belongs to that message: reused for another text, nothing goes out.
	if st, m := reply("Something else", "c2"); st != 409 {
		t.Fatalf("key reused: %d %v", st, m)
	}
	if sent(e.env, shop) != 2 {
		t.Fatalf("%d sends, want 2", sent(e.env, shop))
	}
}

// The template picker lists templates, previews one for the contact the
// card shows, and sends it filled in; a template the contact lacks values
// for is refused before anything goes out.
func TestCardTemplates(t *testing.T) {
	e := newCardEnv(t)
	shop := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	contact := e.friendWithContact(shop, uid, "Aiko")
	e.hs.EditContact(contact, map[string]string{"firstname": "Aiko"})
	st, tpl := e.api("POST", "/api/v1/templates", map[string]any{"name": "hours", "text": "Hello {{firstname}}, we open at 10."})
	if st != 201 && st != 200 {
		t.Fatalf("template: %d %v", st, tpl)
	}
	st, tpl2 := e.api("POST", "/api/v1/templates", map[string]any{"name": "coupon", "text": "Your code: {{coupon_code}}"})
	if st != 201 && st != 200 {
		t.Fatalf("template: %d %v", st, tpl2)
	}
	id, id2 := fmt.Sprint(tpl["id"]), fmt.Sprint(tpl2["id"])

	st, out := e.call(e.fetch, "GET", "/hubspot/app/card/templates?contactId="+contact, nil)
	if st != 200 || !strings.Contains(string(out), `"name":"hours"`) || !strings.Contains(string(out), `"name":"coupon"`) {
		t.Fatalf("templates: %d %s", st, out)
	}
	st, out = e.call(e.fetch, "GET", "/hubspot/app/card/templates/preview?contactId="+contact+"&templateId="+id, nil)
	if st != 200 || string(out) != `{"parts":[{"type":"text","text":"Hello Aiko, we open at 10."}],"missing":[]}` {
		t.Fatalf("preview: %d %s", st, out)
	}
	st, out = e.call(e.fetch, "GET", "/hubspot/app/card/templates/preview?contactId="+contact+"&templateId="+id2, nil)
	if st != 200 || !strings.Contains(string(out), `"missing":["coupon_code"]`) {
		t.Fatalf("preview with a gap: %d %s", st, out)
	}

	send := func(tid string) (int, []byte) {
		return e.call(e.fetch, "POST", "/hubspot/app/card/reply?contactId="+contact,
			map[string]any{"connectionId": mustID(shop.id), "userId": uid, "templateId": mustID(tid), "key": "t-" + tid})
	}
	if st, out := send(id2); st != 422 || !strings.Contains(string(out), "coupon_code") {
		t.Fatalf("template with a gap: %d %s", st, out)
	}
	if sent(e.env, shop) != 0 {
		t.Fatal("a template with a gap was sent")
	}
	if st, out := send(id); st != 200 {
		t.Fatalf("send template: %d %s", st, out)
	}
	if p := e.ln.Pushes(shop.ch.token); len(p) != 1 || p[0].Texts[0] != "Hello Aiko, we open at 10." {
		t.Fatalf("pushes: %+v", p)
	}
}

// However long the conversations, the card's answer stays under
// hubspot.fetch's 1 MB: the oldest messages give way.
func TestCardAnswerBounded(t *testing.T) {
	e := newCardEnv(t)
	shop := e.createConn("Shop", true, true)
	contact := e.friendWithContact(shop, linetest.NewUserID(), "Aiko")
	long := strings.Repeat("あ", 5000) // LINE's longest text
	var rows []store.ChatMessage
	err := e.st.Apply(e.ctx, func(tx *store.ApplyTx) error {
		for i := range 12 {
			uid := linetest.NewUserID()
			if err := tx.SaveFriend(&store.Friend{ConnectionID: mustID(shop.id), UserID: uid, DisplayName: fmt.Sprint("friend ", i), ContactID: contact, Following: true}); err != nil {
				return err
			}
			for j := range 30 {
				rows = append(rows, store.ChatMessage{ConnectionID: mustID(shop.id), SourceKey: fmt.Sprintf("ev:%d-%d", i, j), UserID: uid,
					Direction: store.ChatIn, Text: long, Messages: `[{"type":"text","text":"` + long + `"}]`, Timestamp: int64(1000 + j)})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddChatMessagesBulk(e.ctx, rows); err != nil {
		t.Fatal(err)
	}
	st, out := e.call(e.fetch, "GET", "/hubspot/app/card?contactId="+contact, nil)
	if st != 200 || len(out) > 1<<20 {
		t.Fatalf("%d, %d bytes", st, len(out))
	}
	var a cardAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Friends) != 10 {
		t.Fatalf("%d friends shown, want the first 10", len(a.Friends))
	}
	for _, f := range a.Friends {
		if f.DisplayName == "Aiko" {
			// Her short conversation is not cut for the long ones.
			if len(f.Messages) != 1 || f.More {
				t.Fatalf("Aiko: %d messages, more %v", len(f.Messages), f.More)
			}
			continue
		}
		if !f.More || len(f.Messages) < 10 || f.Messages[len(f.Messages)-1].Timestamp != 1029 {
			t.Fatalf("%s: more %v, %d messages, newest %d", f.DisplayName, f.More, len(f.Messages), f.Messages[len(f.Messages)-1].Timestamp)
		}
	}
	t.Logf("answer: %d bytes", len(out))
}
