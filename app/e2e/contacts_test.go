package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestContactSemantics proves docs/design.md §2 and §3 against the real binary.
func TestContactSemantics(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c1 := e.connect("Shop One")
	c2 := e.connect("Shop Two")
	if c1.Serial != 1 || c2.Serial != 2 {
		t.Fatalf("serials %d, %d; want 1, 2", c1.Serial, c2.Serial)
	}

	t.Run("property sets exist exactly as designed", func(t *testing.T) {
		for _, serial := range []int{1, 2} {
			checkProperties(t, e.HS, serial)
		}
	})

	t.Run("third connection on starter is refused", func(t *testing.T) {
		e.LINE.AddChannel(linetest.Channel{Secret: "s3-0123456789", Token: "t3-0123456789", BotUserID: linetest.NewUserID(), DisplayName: "Three"})
		var out map[string]string
		st := e.api("POST", "/connections", map[string]string{"name": "Three", "channel_access_token": "t3-0123456789"}, &out)
		if st != 409 || !strings.Contains(out["error"], "starter") {
			t.Fatalf("third connection: %d %v", st, out)
		}
	})

	t.Run("secrets are masked in the API", func(t *testing.T) {
		if c1.ChannelSecret != "****"+c1.secret[len(c1.secret)-4:] || strings.Contains(c1.ChannelToken, "token-") {
			t.Fatalf("secrets not masked: %q %q", c1.ChannelSecret, c1.ChannelToken)
		}
	})

	base := time.Now().Add(-time.Hour)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	alice := linetest.NewUserID()
	e.LINE.AddFriend(c1.token, line.Profile{UserID: alice, DisplayName: "Alice", PictureURL: "https://profile.line-scdn.net/alice"})
	p1 := func(key string) string { return fmt.Sprintf("%s_%d", key, c1.Serial) }

	t.Run("follow creates a contact with profile, Follow=Yes, sync date and dummy email", func(t *testing.T) {
		if st := e.deliver(c1, linetest.FollowEvent(alice, false, at(1))); st != 200 {
			t.Fatalf("webhook: %d", st)
		}
		e.settled()
		ct := mustContact(t, e.HS, alice)
		want := map[string]string{
			"email": strings.ToLower(alice) + "@line.example.com", "firstname": "Alice",
			p1("line_user_id"): alice, p1("line_user_name"): "Alice",
			p1("line_user_picture"): "https://profile.line-scdn.net/alice", p1("line_follow"): "Yes",
		}
		expectProps(t, ct, want)
		if ct.Properties[p1("line_id_sync_date")] == "" {
			t.Error("sync date not set")
		}
		for _, k := range []string{p1("line_unanswered"), p1("line_last_response")} {
			if ct.Properties[k] != "" {
				t.Errorf("%s = %q on a follow", k, ct.Properties[k])
			}
		}
	})

	t.Run("message sets Last Response and Unanswered=Yes", func(t *testing.T) {
		e.deliver(c1, linetest.TextMessageEvent(alice, "hello there", at(2)))
		e.settled()
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_last_response"): "hello there", p1("line_unanswered"): "Yes"})
	})

	t.Run("non-text messages get readable stand-ins", func(t *testing.T) {
		cases := []struct {
			ev   json.RawMessage
			want string
		}{
			{linetest.StickerMessageEvent(alice, "446", "1988", at(3)), "[Sticker]"},
			{linetest.ImageMessageEvent(alice, at(4)), "[Image]"},
			{linetest.LocationMessageEvent(alice, "Office", "1-1 Marunouchi, Tokyo", at(5)), "[Location] 1-1 Marunouchi, Tokyo"},
		}
		for _, c := range cases {
			e.deliver(c1, c.ev)
			e.settled()
			expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_last_response"): c.want})
		}
	})

	t.Run("a message linehub sends sets Unanswered=No", func(t *testing.T) {
		if st := e.api("POST", fmt.Sprintf("/connections/%d/messages", c1.ID), map[string]string{"to": alice, "text": "Thanks!"}, nil); st != 202 {
			t.Fatalf("send: %d", st)
		}
		e.settled()
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_unanswered"): "No"})
		if n := len(e.LINE.Pushes(c1.token)); n != 1 {
			t.Fatalf("pushes %d, want 1", n)
		}
		// A push to a friend linehub has never seen records no friend.
		unseen := linetest.NewUserID()
		e.LINE.AddFriend(c1.token, line.Profile{UserID: unseen, DisplayName: "Unseen"})
		if st := e.api("POST", fmt.Sprintf("/connections/%d/messages", c1.ID), map[string]string{"to": unseen, "text": "hi"}, nil); st != 202 {
			t.Fatalf("send to unseen friend: %d", st)
		}
		var page struct {
			Friends []struct {
				UserID string `json:"user_id"`
			}
		}
		e.api("GET", fmt.Sprintf("/connections/%d/friends", c1.ID), nil, &page)
		for _, f := range page.Friends {
			if f.UserID == unseen {
				t.Fatal("a push recorded a friend linehub had never seen")
			}
		}
	})

	t.Run("a redelivered event changes nothing, even after a human edit", func(t *testing.T) {
		msg := linetest.TextMessageEvent(alice, "are you open today?", at(6))
		e.deliver(c1, msg)
		e.settled()
		ct := mustContact(t, e.HS, alice)
		e.HS.EditContact(ct.ID, map[string]string{p1("line_unanswered"): "No"})
		before := e.HS.Requests()
		e.deliver(c1, linetest.Redelivered(msg))
		e.deliver(c1, msg)
		e.settled()
		time.Sleep(300 * time.Millisecond) // give a wrong write the chance to happen
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_unanswered"): "No", p1("line_last_response"): "are you open today?"})
		if after := e.HS.Requests(); after != before {
			t.Fatalf("redelivery caused %d HubSpot requests", after-before)
		}
	})

	t.Run("a human edit survives until a new LINE event changes that value", func(t *testing.T) {
		ct := mustContact(t, e.HS, alice)
		e.HS.EditContact(ct.ID, map[string]string{"firstname": "Alice Smith", p1("line_unanswered"): "No"})
		// Block and unblock: Follow changes, Unanswered and firstname must not.
		e.deliver(c1, linetest.UnfollowEvent(alice, at(7)))
		e.deliver(c1, linetest.FollowEvent(alice, true, at(8)))
		e.settled()
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{"firstname": "Alice Smith", p1("line_unanswered"): "No", p1("line_follow"): "Yes"})
		// A new message is a new event: Unanswered becomes Yes again.
		e.deliver(c1, linetest.TextMessageEvent(alice, "one more question", at(9)))
		e.settled()
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_unanswered"): "Yes", "firstname": "Alice Smith"})
	})

	t.Run("unfollow sets Follow=No and never creates a contact", func(t *testing.T) {
		stranger := linetest.NewUserID()
		e.deliver(c1, linetest.UnfollowEvent(alice, at(10)), linetest.UnfollowEvent(stranger, at(10)))
		e.settled()
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_follow"): "No"})
		if _, ok := contactOf(e.HS, stranger); ok {
			t.Fatal("unfollow created a contact")
		}
	})

	t.Run("events apply in timestamp order: a late older follow loses", func(t *testing.T) {
		e.deliver(c1, linetest.FollowEvent(alice, true, at(9))) // older than the unfollow at 10
		e.settled()
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_follow"): "No"})
		e.deliver(c1, linetest.FollowEvent(alice, true, at(11)))
		e.settled()
		expectProps(t, mustContact(t, e.HS, alice), map[string]string{p1("line_follow"): "Yes"})
	})

	bob := linetest.NewUserID()
	e.LINE.AddFriend(c1.token, line.Profile{UserID: bob, DisplayName: "Bob"})

	t.Run("a message from an existing friend with no contact creates it", func(t *testing.T) {
		e.deliver(c1, linetest.TextMessageEvent(bob, "hi, I followed you last year", at(12)))
		e.settled()
		expectProps(t, mustContact(t, e.HS, bob), map[string]string{
			"firstname": "Bob", p1("line_user_name"): "Bob", p1("line_follow"): "Yes",
			p1("line_unanswered"): "Yes", p1("line_last_response"): "hi, I followed you last year",
		})
	})

	t.Run("a contact deleted in HubSpot is not recreated by updates, only by a message", func(t *testing.T) {
		ct := mustContact(t, e.HS, bob)
		e.HS.DeleteContact(ct.ID)
		// A push updates Unanswered: the update finds the contact gone and stops.
		e.api("POST", fmt.Sprintf("/connections/%d/messages", c1.ID), map[string]string{"to": bob, "text": "see you"}, nil)
		e.settled()
		if _, ok := contactOf(e.HS, bob); ok {
			t.Fatal("a property update recreated a deleted contact")
		}
		e.deliver(c1, linetest.UnfollowEvent(bob, at(13)))
		e.settled()
		if _, ok := contactOf(e.HS, bob); ok {
			t.Fatal("an unfollow recreated a deleted contact")
		}
		e.deliver(c1, linetest.FollowEvent(bob, true, at(14)))
		e.settled()
		ct2 := mustContact(t, e.HS, bob)
		if ct2.ID == ct.ID {
			t.Fatal("contact id did not change after recreation")
		}
		expectProps(t, ct2, map[string]string{p1("line_follow"): "Yes", p1("line_user_id"): bob, "firstname": "Bob"})
		e.HS.DeleteContact(ct2.ID)
		e.deliver(c1, linetest.TextMessageEvent(bob, "back again", at(15)))
		e.settled()
		expectProps(t, mustContact(t, e.HS, bob), map[string]string{p1("line_last_response"): "back again", p1("line_unanswered"): "Yes"})
	})

	t.Run("the contact id is remembered: an edited email makes no duplicate", func(t *testing.T) {
		ct := mustContact(t, e.HS, alice)
		e.HS.EditContact(ct.ID, map[string]string{"email": "alice@customer.example"})
		e.deliver(c1, linetest.TextMessageEvent(alice, "new address", at(16)))
		e.settled()
		got, ok := e.HS.Contact(ct.ID)
		if !ok || got.Properties[p1("line_last_response")] != "new address" {
			t.Fatalf("message did not reach the known contact: %+v", got)
		}
		if n := countContacts(e.HS, alice); n != 0 {
			t.Fatalf("%d contacts with the dummy email appeared", n)
		}
	})

	t.Run("group and room events never create contacts", func(t *testing.T) {
		carol := linetest.NewUserID()
		e.LINE.AddFriend(c1.token, line.Profile{UserID: carol, DisplayName: "Carol"})
		e.deliver(c1, linetest.GroupTextMessageEvent("C"+strings.Repeat("a", 32), carol, "group hello", at(17)),
			linetest.RoomTextMessageEvent("R"+strings.Repeat("b", 32), carol, "room hello", at(18)))
		e.settled()
		if _, ok := contactOf(e.HS, carol); ok {
			t.Fatal("a group/room message created a contact")
		}
	})

	t.Run("the second connection writes its own property set on the same person", func(t *testing.T) {
		dave := linetest.NewUserID()
		e.LINE.AddFriend(c2.token, line.Profile{UserID: dave, DisplayName: "Dave"})
		e.deliver(c2, linetest.FollowEvent(dave, false, at(19)))
		e.settled()
		ct := mustContact(t, e.HS, dave)
		expectProps(t, ct, map[string]string{"line_follow_2": "Yes", "line_user_id_2": dave})
		if ct.Properties[p1("line_follow")] != "" {
			t.Fatal("connection 2's friend got connection 1's properties")
		}
		// Same LINE user (same provider) on connection 1: one contact, both sets.
		e.LINE.AddFriend(c1.token, line.Profile{UserID: dave, DisplayName: "Dave"})
		e.deliver(c1, linetest.FollowEvent(dave, false, at(20)))
		e.settled()
		ct = mustContact(t, e.HS, dave)
		expectProps(t, ct, map[string]string{"line_follow_2": "Yes", p1("line_follow"): "Yes"})
	})

	t.Run("bad and missing signatures are rejected and store nothing", func(t *testing.T) {
		before := inboxTotal(t, e, c1.ID)
		body := linetest.Body("U0", linetest.TextMessageEvent(alice, "forged", at(21)))
		cases := []struct {
			name string
			sig  string
			want int
		}{
			{"missing", "", 400},
			{"garbage", "not-base64!!", 401},
			{"wrong secret", sign("some-other-secret", body), 401},
			{"body tampered", sign(c1.secret, append([]byte(" "), body...)), 401},
		}
		for _, c := range cases {
			if st := e.postRaw(c1.WebhookURL, body, c.sig); st != c.want {
				t.Errorf("%s signature: status %d, want %d", c.name, st, c.want)
			}
		}
		bad := []byte(`{"destination":"U0","events":[{"type":`)
		if st := e.postRaw(c1.WebhookURL, bad, sign(c1.secret, bad)); st != 400 {
			t.Errorf("bad JSON: %d, want 400", st)
		}
		huge := []byte(`{"destination":"U0","events":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
		if st := e.postRaw(c1.WebhookURL, huge, sign(c1.secret, huge)); st != 413 {
			t.Errorf("huge body: %d, want 413", st)
		}
		if st := e.postRaw(e.url("/webhook/no-such-key"), body, sign(c1.secret, body)); st != 404 {
			t.Errorf("unknown key: %d, want 404", st)
		}
		if after := inboxTotal(t, e, c1.ID); after != before {
			t.Fatalf("rejected requests stored %d events", after-before)
		}
		verify := linetest.Body("U0")
		if st := e.postRaw(c1.WebhookURL, verify, sign(c1.secret, verify)); st != 200 {
			t.Fatalf("LINE's verify request (no events): %d", st)
		}
	})
}

func inboxTotal(t *testing.T, e *env, id int64) int64 {
	var c struct {
		Inbox struct{ Total int64 }
	}
	if st := e.api("GET", fmt.Sprintf("/connections/%d", id), nil, &c); st != 200 {
		t.Fatalf("get connection: %d", st)
	}
	return c.Inbox.Total
}

func checkProperties(t *testing.T, hs *hubspottest.Server, serial int) {
	t.Helper()
	type want struct{ name, label, typ, field string }
	wants := []want{
		{"line_user_id", "LINE User ID", "string", "text"},
		{"line_user_name", "LINE User Name", "string", "text"},
		{"line_user_picture", "LINE User Picture", "string", "text"},
		{"line_follow", "LINE Follow", "enumeration", "radio"},
		{"line_id_sync_date", "LINE ID Sync Date", "datetime", "date"},
		{"line_unanswered", "LINE Unanswered", "enumeration", "radio"},
		{"line_last_response", "LINE Last Response", "string", "textarea"},
	}
	var group string
	for _, w := range wants {
		name := fmt.Sprintf("%s_%d", w.name, serial)
		p, ok := hs.Property(name)
		if !ok {
			t.Errorf("property %s missing", name)
			continue
		}
		label := fmt.Sprintf("%s _ %d", w.label, serial)
		if p.Label != label || p.Type != w.typ || p.FieldType != w.field {
			t.Errorf("property %s = %q %s/%s, want %q %s/%s", name, p.Label, p.Type, p.FieldType, label, w.typ, w.field)
		}
		if w.typ == "enumeration" {
			var vals []string
			for _, o := range p.Options {
				vals = append(vals, o.Value)
			}
			if strings.Join(vals, ",") != "Yes,No" {
				t.Errorf("property %s options %v, want Yes,No", name, vals)
			}
		}
		if group == "" {
			group = p.GroupName
		} else if p.GroupName != group {
			t.Errorf("property %s in group %q, others in %q", name, p.GroupName, group)
		}
	}
	found := false
	for _, g := range hs.PropertyGroups() {
		found = found || g.Name == group
	}
	if !found {
		t.Errorf("property group %q of serial %d missing", group, serial)
	}
}

// contactOf finds the contact whose line_user_id_* equals userID.
func contactOf(hs *hubspottest.Server, userID string) (hubspottest.Contact, bool) {
	for _, c := range hs.Contacts() {
		for k, v := range c.Properties {
			if strings.HasPrefix(k, "line_user_id_") && v == userID {
				return c, true
			}
		}
	}
	return hubspottest.Contact{}, false
}

func countContacts(hs *hubspottest.Server, userID string) int {
	n := 0
	email := strings.ToLower(userID) + "@line.example.com"
	for _, c := range hs.Contacts() {
		if strings.EqualFold(c.Properties["email"], email) {
			n++
		}
	}
	return n
}

func mustContact(t *testing.T, hs *hubspottest.Server, userID string) hubspottest.Contact {
	t.Helper()
	c, ok := contactOf(hs, userID)
	if !ok {
		t.Fatalf("no contact for %s", userID)
	}
	return c
}

func expectProps(t *testing.T, c hubspottest.Contact, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := c.Properties[k]; got != v {
			t.Errorf("contact %s: %s = %q, want %q", c.ID, k, got, v)
		}
	}
}

// TestHubSpotDownAtConnect: a connection made while HubSpot fails still
// takes webhooks; once its properties exist, the friends reach HubSpot.
func TestHubSpotDownAtConnect(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	e.HS.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.Contains(r.URL.Path, "/crm/properties/") {
			return 503, `{"status":"error","message":"Service Unavailable","category":"SERVICE_UNAVAILABLE"}`, true
		}
		return 0, "", false
	})
	c := e.connect("Down Shop")
	if c.PropertiesReady {
		t.Fatal("properties reported ready while HubSpot failed")
	}
	var got struct {
		LastError string `json:"last_error"`
	}
	e.api("GET", fmt.Sprintf("/connections/%d", c.ID), nil, &got)
	if !strings.Contains(got.LastError, "properties") {
		t.Fatalf("last_error %q does not explain the failure", got.LastError)
	}
	erin := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: erin, DisplayName: "Erin"})
	if st := e.deliver(c, linetest.FollowEvent(erin, false, time.Now())); st != 200 {
		t.Fatalf("webhook while properties missing: %d", st)
	}
	e.HS.SetFault(nil)
	var after connection
	if st := e.api("POST", fmt.Sprintf("/connections/%d/properties", c.ID), nil, &after); st != 200 || !after.PropertiesReady {
		t.Fatalf("retry properties: %d %+v", st, after)
	}
	checkProperties(t, e.HS, c.Serial)
	e.settled()
	expectProps(t, mustContact(t, e.HS, erin), map[string]string{"line_follow_1": "Yes", "firstname": "Erin"})
}
