package web_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"linehub/app/hubspot/hubspottest"
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

// A friend that follows another customer's contact (not its own dummy)
// cannot be taken by this contact's card: the answer says it is linked
// elsewhere, with a code the card translates, and nothing moves. The
// friends page, where an admin signs in, may still move it by hand.
func TestCardLinkLeavesAnotherContactsFriend(t *testing.T) {
	e := newCardEnv(t)
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	e.friendWithContact(c, uid, "Hanako")
	first, err := e.hs.AddContact(map[string]string{"email": "hanako@customer.example", "firstname": "Hanako"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.hs.AddContact(map[string]string{"email": "someone@customer.example", "firstname": "Someone"})
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"connectionId": mustID(c.id), "userId": uid}
	if st, out := e.call(e.fetch, "POST", "/hubspot/app/card/link?contactId="+first, body); st != 200 || !strings.Contains(string(out), `"linked"`) {
		t.Fatalf("link to the first contact: %d %s", st, out)
	}
	f, _ := e.st.Friend(e.ctx, mustID(c.id), uid)
	owner := f.ContactID
	recs, _ := e.st.LinkRecordsOf(e.ctx, mustID(c.id), uid, 10)

	st, out := e.call(e.fetch, "POST", "/hubspot/app/card/link?contactId="+second, body)
	var refusal struct{ Error, Code string }
	_ = json.Unmarshal(out, &refusal)
	if st != 409 || refusal.Code != "linked_elsewhere" || refusal.Error == "" {
		t.Fatalf("link from another contact's card: %d %s", st, out)
	}
	if f, _ := e.st.Friend(e.ctx, mustID(c.id), uid); f.ContactID != owner {
		t.Fatalf("the friend moved to %s (was %s)", f.ContactID, owner)
	}
	if again, _ := e.st.LinkRecordsOf(e.ctx, mustID(c.id), uid, 10); len(again) != len(recs) {
		t.Fatalf("a refused link was recorded: %+v", again)
	}
	// Linking again from the first contact's card is a harmless retry.
	if st, out := e.call(e.fetch, "POST", "/hubspot/app/card/link?contactId="+owner, body); st != 200 || !strings.Contains(string(out), `"already"`) {
		t.Fatalf("retry from the owner's card: %d %s", st, out)
	}
}

// Every refusal of the card's link routes carries a code from a small set
// the card translates; the English text stays as the detail.
func TestCardLinkRefusalsHaveCodes(t *testing.T) {
	e := newCardEnv(t)
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	dummy := e.friendWithContact(c, uid, "Hanako")
	other, _ := e.hs.AddContact(map[string]string{"email": "other@customer.example"})
	otherPortal := e.fetch
	otherPortal.PortalID = portalID + 1
	badSecret := e.fetch
	badSecret.ClientSecret = "not-the-secret"
	for _, tc := range []struct {
		name string
		f    hubspottest.CardFetch
		path string
		body any
		st   int
		code string
	}{
		{"unsigned", badSecret, "/hubspot/app/card/link?contactId=" + other, map[string]any{"connectionId": mustID(c.id), "userId": uid}, 401, "bad_signature"},
		{"other portal", otherPortal, "/hubspot/app/card/link?contactId=" + other, map[string]any{"connectionId": mustID(c.id), "userId": uid}, 403, "other_portal"},
		{"no friend", e.fetch, "/hubspot/app/card/link?contactId=" + other, map[string]any{"connectionId": mustID(c.id), "userId": linetest.NewUserID()}, 404, "no_friend"},
		{"body for another contact", e.fetch, "/hubspot/app/card/link?contactId=" + other, map[string]any{"contactId": dummy, "connectionId": mustID(c.id), "userId": uid}, 400, "bad_request"},
		{"unlink another contact's friend", e.fetch, "/hubspot/app/card/unlink?contactId=" + other, map[string]any{"connectionId": mustID(c.id), "userId": uid, "reason": "x"}, 404, "not_linked"},
		{"search without words", e.fetch, "/hubspot/app/card/link/friends?contactId=" + other + "&q=", nil, 400, "bad_request"},
		{"reply to another contact's friend", e.fetch, "/hubspot/app/card/reply?contactId=" + other, map[string]any{"connectionId": mustID(c.id), "userId": uid, "text": "hi", "key": "k1"}, 404, "not_linked"},
	} {
		method := "POST"
		if tc.body == nil {
			method = "GET"
		}
		st, out := e.call(tc.f, method, tc.path, tc.body)
		var ans struct{ Error, Code string }
		_ = json.Unmarshal(out, &ans)
		if st != tc.st || ans.Code != tc.code || ans.Error == "" {
			t.Errorf("%s: %d %s, want %d with code %s", tc.name, st, out, tc.st, tc.code)
		}
	}
}
