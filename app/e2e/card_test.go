package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// The contact card against the real binary: HubSpot's signed card fetches
// read the contact's LINE friend and answer it once per key, however often
// the same reply arrives; a bad or stale signature, another portal or
// another contact's card reads nothing and sends nothing.
func TestCardAgainstBinary(t *testing.T) {
	const public = "https://linehub.example.test"
	const secret = "0f6c3a52-7d1e-4b8a-9c2f-5e4d3c2b1a09"
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_PUBLIC_URL=" + public}})
	e.configureHubSpot("starter")
	var app map[string]any
	if st := e.api("PUT", "/hubspot/app", map[string]string{"app_id": "77", "client_secret": secret}, &app); st != 200 {
		t.Fatalf("PUT /hubspot/app: %d %v", st, app)
	}
	c := e.connect("Card Shop")
	local := strings.Replace(c.WebhookURL, public, "http://"+e.addr, 1)
	uid := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "Sora"})
	ev := linetest.TextMessageEvent(uid, "Do you deliver?", time.Now())
	e.LINE.IssueReplyTokens(c.token, ev)
	if st, err := e.LINE.Deliver(context.Background(), local, c.token, linetest.FollowEvent(uid, false, time.Now()), ev); err != nil || st != 200 {
		t.Fatalf("webhook: %d %v", st, err)
	}
	prop := "line_user_id_" + strconv.Itoa(c.Serial)
	var contactID string
	e.eventually("contact created", func() bool {
		for _, ct := range e.HS.Contacts() {
			if ct.Properties[prop] == uid {
				contactID = ct.ID
				return true
			}
		}
		return false
	})
	otherID, err := e.HS.AddContact(map[string]string{"email": "ken@example.com", "firstname": "Ken"})
	if err != nil {
		t.Fatal(err)
	}

	f := hubspottest.CardFetch{ClientSecret: secret, PortalID: 4242, UserID: 9001, UserEmail: "staff@example.com"}
	call := func(f hubspottest.CardFetch, method, path string, body any) (int, string) {
		t.Helper()
		req, err := f.Request(method, public+path, body)
		if err != nil {
			t.Fatal(err)
		}
		// Signed for the public URL, delivered to the listener.
		req.URL.Scheme, req.URL.Host = "http", e.addr
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, err := hubspottest.ReadCardResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(out)
	}

	st, out := call(f, "GET", "/hubspot/app/card?contactId="+contactID, nil)
	if st != 200 || !strings.Contains(out, `"display_name":"Sora"`) || !strings.Contains(out, `"unanswered":true`) ||
		!strings.Contains(out, "Do you deliver?") || !strings.Contains(out, public+fmt.Sprintf("/connections/%d/chat/%s", c.ID, uid)) {
		t.Fatalf("card: %d %s", st, out)
	}
	if st, out := call(f, "GET", "/hubspot/app/card?contactId="+otherID, nil); st != 200 || !strings.Contains(out, `"friends":[]`) {
		t.Fatalf("a contact that is no friend: %d %s", st, out)
	}

	reply := map[string]any{"contactId": contactID, "connectionId": c.ID, "userId": uid, "text": "Yes, anywhere in town.", "key": "card-e2e-1"}
	bad, stale, elsewhere := f, f, f
	bad.ClientSecret = "not-the-app-secret"
	stale.Age = 6 * time.Minute
	elsewhere.PortalID = 5555
	for _, tc := range []struct {
		name string
		f    hubspottest.CardFetch
		path string
		body map[string]any
		want int
	}{
		{"bad signature", bad, "/hubspot/app/card/reply?contactId=" + contactID, reply, 401},
		{"stale", stale, "/hubspot/app/card/reply?contactId=" + contactID, reply, 401},
		{"other portal", elsewhere, "/hubspot/app/card/reply?contactId=" + contactID, reply, 403},
		{"another contact's card", f, "/hubspot/app/card/reply?contactId=" + otherID,
			map[string]any{"connectionId": c.ID, "userId": uid, "text": "Yes, anywhere in town.", "key": "card-e2e-x"}, 404},
	} {
		if st, out := call(tc.f, "POST", tc.path, tc.body); st != tc.want || strings.Contains(out, "Sora") {
			t.Fatalf("%s: %d %s, want %d", tc.name, st, out, tc.want)
		}
		if len(e.LINE.Replies(c.token))+len(e.LINE.Pushes(c.token)) != 0 {
			t.Fatalf("%s: something was sent", tc.name)
		}
	}
	if st, out := call(bad, "GET", "/hubspot/app/card?contactId="+contactID, nil); st != 401 || strings.Contains(out, "Sora") {
		t.Fatalf("bad signature read: %d %s", st, out)
	}

	// The same reply five times, three of them at once: one answer, with
	// the fresh reply token.
	var wg sync.WaitGroup
	results := make(chan string, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, out := call(f, "POST", "/hubspot/app/card/reply?contactId="+contactID, reply)
			results <- fmt.Sprint(st, out)
		}()
		if i >= 2 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(results)
	for r := range results {
		if !strings.HasPrefix(r, "200") && !strings.HasPrefix(r, "422") {
			t.Fatalf("reply attempt: %s", r)
		}
	}
	if r, p := e.LINE.Replies(c.token), e.LINE.Pushes(c.token); len(r) != 1 || len(p) != 0 || r[0].Texts[0] != "Yes, anywhere in town." {
		t.Fatalf("%d replies, %d pushes; want the one reply", len(r), len(p))
	}
	e.eventually("Unanswered = No", func() bool {
		ct, _ := e.HS.Contact(contactID)
		return ct.Properties["line_unanswered_"+strconv.Itoa(c.Serial)] == "No"
	})
	var card struct {
		Friends []struct {
			Unanswered bool `json:"unanswered"`
			Messages   []struct {
				Direction string `json:"direction"`
				Via       string `json:"via"`
			} `json:"messages"`
		} `json:"friends"`
	}
	_, out = call(f, "GET", "/hubspot/app/card?contactId="+contactID, nil)
	if err := json.Unmarshal([]byte(out), &card); err != nil || len(card.Friends) != 1 || card.Friends[0].Unanswered {
		t.Fatalf("card after the reply: %v %s", err, out)
	}
	ms := card.Friends[0].Messages
	if last := ms[len(ms)-1]; last.Direction != "out" || last.Via != "reply" {
		t.Fatalf("newest message: %+v", last)
	}
}
