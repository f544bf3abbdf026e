package web_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"linehub/app/line/linetest"
)

// From the contact card: find a friend, link it to the signed contact
// (the friend's dummy contact merged into it), unlink it; the HubSpot user
// who signed is recorded; another contact's card cannot unlink it.
func TestCardLinkAndUnlink(t *testing.T) {
	e := newCardEnv(t)
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	dummy := e.friendWithContact(c, uid, "Hanako")
	real, err := e.hs.AddContact(map[string]string{"email": "hanako@customer.example", "firstname": "Hanako"})
	if err != nil {
		t.Fatal(err)
	}
	st, out := e.call(e.fetch, "GET", "/hubspot/app/card/link/friends?contactId="+real+"&q="+url.QueryEscape("hana"), nil)
	var found struct {
		Friends []struct {
			UserID    string `json:"user_id"`
			ContactID string `json:"contact_id"`
		} `json:"friends"`
	}
	if st != 200 || json.Unmarshal(out, &found) != nil || len(found.Friends) != 1 || found.Friends[0].UserID != uid || found.Friends[0].ContactID != dummy {
		t.Fatalf("friends: %d %s", st, out)
	}
	body := map[string]any{"contactId": real, "connectionId": mustID(c.id), "userId": uid}
	st, out = e.call(e.fetch, "POST", "/hubspot/app/card/link?contactId="+real, body)
	var ans struct {
		Outcome, ContactID, Merged string
	}
	_ = json.Unmarshal(out, &ans)
	merged := e.hs.MergedInto(real)
	if st != 200 || ans.Outcome != "linked" || merged == "" || e.hs.MergedInto(dummy) != merged {
		t.Fatalf("link: %d %s", st, out)
	}
	recs, _ := e.st.LinkRecordsOf(e.ctx, mustID(c.id), uid, 10)
	if len(recs) != 1 || recs[0].By != "HubSpot user staff@example.com" {
		t.Fatalf("records = %+v", recs)
	}
	// A body naming another contact than the signed one is refused.
	other, _ := e.hs.AddContact(map[string]string{"email": "other@customer.example"})
	if st, _ := e.call(e.fetch, "POST", "/hubspot/app/card/link?contactId="+real, map[string]any{"contactId": other, "connectionId": mustID(c.id), "userId": uid}); st != 400 {
		t.Fatalf("body for another contact: %d", st)
	}
	// Another contact's card cannot unlink this friend.
	if st, _ := e.call(e.fetch, "POST", "/hubspot/app/card/unlink?contactId="+other, map[string]any{"connectionId": mustID(c.id), "userId": uid}); st != 404 {
		t.Fatalf("unlink from another contact's card: %d", st)
	}
	// An unknown LINE user id links nothing.
	if st, _ := e.call(e.fetch, "POST", "/hubspot/app/card/link?contactId="+other, map[string]any{"connectionId": mustID(c.id), "userId": linetest.NewUserID()}); st != 404 {
		t.Fatalf("unknown friend: %d", st)
	}
	st, out = e.call(e.fetch, "POST", "/hubspot/app/card/unlink?contactId="+merged, map[string]any{"connectionId": mustID(c.id), "userId": uid, "reason": "wrong"})
	if st != 200 || !strings.Contains(string(out), `"unlinked"`) {
		t.Fatalf("unlink: %d %s", st, out)
	}
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); f.ContactID != "" {
		t.Fatal("still linked")
	}
}
