package linking

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

func TestTokenRoundTrip(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	exp := time.Unix(1_900_000_000, 0)
	tok, err := makeToken(key, 3, "123456789012", exp)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 48 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not short and URL-safe", tok)
	}
	got, err := parseToken(key, tok)
	if err != nil || got.connID != 3 || got.contactID != "123456789012" || !got.expires.Equal(exp) {
		t.Fatalf("parse = %+v, %v", got, err)
	}
	// Every single-character change is refused.
	for i := range tok {
		for _, c := range "AQg_-z" {
			alt := tok[:i] + string(c) + tok[i+1:]
			if alt == tok {
				continue
			}
			if p, err := parseToken(key, alt); err == nil && p != got {
				t.Fatalf("altered token %q accepted as %+v", alt, p)
			}
		}
	}
	if _, err := parseToken([]byte("another key, another installation"), tok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token signed with another key: %v", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 40), strings.Repeat("A", 100), tok + "A", "AQ%%"} {
		if _, err := parseToken(key, bad); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("parse(%q) = %v, want ErrTokenInvalid", bad, err)
		}
	}
	if _, err := makeToken(key, 3, "not-a-number", exp); err == nil {
		t.Fatal("token for a non-numeric contact id")
	}
}

func TestCheckToken(t *testing.T) {
	fx := newFixture(t)
	real := fx.customer("alice@customer.example", "Alice")
	u, err := fx.svc.MakeLinkURL(fx.ctx, fx.conn.ID, real)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "https://hub.example.com/link/" + itoa(fx.conn.ID) + "/"
	if !strings.HasPrefix(u, prefix) {
		t.Fatalf("link URL %q does not start with %q", u, prefix)
	}
	tok := strings.TrimPrefix(u, prefix)
	if got, err := fx.svc.CheckToken(fx.ctx, fx.conn.ID, tok); err != nil || got != real {
		t.Fatalf("CheckToken = %q, %v; want %s", got, err, real)
	}
	if _, err := fx.svc.CheckToken(fx.ctx, fx.conn.ID+1, tok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token of another connection: %v", err)
	}
	forged := fx.tokenFor(fx.conn.ID, real, time.Now().Add(time.Hour))
	forged = forged[:len(forged)-2] + "AA"
	if _, err := fx.svc.CheckToken(fx.ctx, fx.conn.ID, forged); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("forged token: %v", err)
	}
	old := fx.tokenFor(fx.conn.ID, real, time.Now().Add(-time.Second))
	if _, err := fx.svc.CheckToken(fx.ctx, fx.conn.ID, old); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	// The expiry setting is honoured.
	fx.svc.now = func() time.Time { return time.Now().Add(91 * 24 * time.Hour) }
	if _, err := fx.svc.CheckToken(fx.ctx, fx.conn.ID, tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("token after 91 days: %v", err)
	}
	fx.svc.now = time.Now
	if err := fx.svc.SetSettings(fx.ctx, fx.conn.ID, false, 90); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.CheckToken(fx.ctx, fx.conn.ID, tok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token while linking is off: %v", err)
	}
}

// The centre of it: a friend with a dummy-email contact opens the link of
// the customer's contact; the dummy is merged into the customer (primary),
// the friend follows the merged record and every later event updates it.
func TestLinkMergesDummyIntoRealContact(t *testing.T) {
	fx := newFixture(t)
	uid, dummy := fx.friend("Alice LINE")
	real := fx.customer("alice@customer.example", "Alice")
	tok := fx.tokenFor(fx.conn.ID, real, time.Now().Add(time.Hour))

	res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid, Name: "Alice LINE"}, Token: tok, How: HowLink})
	if err != nil || res.Outcome != OutcomeLinked || res.Merged != dummy {
		t.Fatalf("Link = %+v, %v", res, err)
	}
	merged := res.ContactID
	if fx.hs.MergedInto(dummy) != merged || fx.hs.MergedInto(real) != merged {
		t.Fatalf("dummy %s and real %s do not both read as %s", dummy, real, merged)
	}
	if got := fx.row(uid).ContactID; got != merged {
		t.Fatalf("friend follows %s, want the merged %s", got, merged)
	}
	fx.pipeline()
	p := fx.contact(merged)
	if p["email"] != "alice@customer.example" || p["firstname"] != "Alice" || p["lastname"] != "Customer" {
		t.Fatalf("the customer's email and name did not survive: %v", p)
	}
	if p[fx.prop("line_user_id")] != uid || p[fx.prop("line_follow")] != "Yes" || p[fx.prop("line_user_name")] != "Alice LINE" {
		t.Fatalf("LINE properties not on the merged contact: %v", p)
	}
	if n := len(fx.hs.Contacts()); n != 1 {
		t.Fatalf("%d contacts, want the merged one only", n)
	}
	// A later message updates the merged contact; no dummy comes back.
	fx.deliver(linetest.TextMessageEvent(uid, "hello after linking", time.Now()))
	if got := fx.contact(merged)[fx.prop("line_last_response")]; got != "hello after linking" {
		t.Fatalf("last response on the merged contact = %q", got)
	}
	if n := len(fx.hs.Contacts()); n != 1 {
		t.Fatalf("%d contacts after a message, want 1", n)
	}
	// The record and its note.
	recs, _ := fx.st.LinkRecordsOf(fx.ctx, fx.conn.ID, uid, 10)
	if len(recs) != 1 || recs[0].State != store.LinkDone || recs[0].How != HowLink || recs[0].MergeID != dummy || recs[0].ResultID != merged {
		t.Fatalf("records = %+v", recs)
	}
	fx.svc.RunOnce(fx.ctx)
	notes := fx.hs.Notes(merged)
	if len(notes) != 1 || !strings.Contains(notes[0].Body, "LINE account linked") || !strings.Contains(notes[0].Body, uid) {
		t.Fatalf("timeline notes = %+v", notes)
	}
	fx.svc.RunOnce(fx.ctx)
	if n := len(fx.hs.Notes(merged)); n != 1 {
		t.Fatalf("%d notes after another pass, want 1", n)
	}

	// The same person with the same link again: already linked; another
	// LINE user with it: refused, nothing moves.
	again, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, Token: tok, How: HowLink})
	if err != nil || again.Outcome != OutcomeAlready {
		t.Fatalf("same user again = %+v, %v", again, err)
	}
	other, _ := fx.friend("Mallory")
	if _, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: other}, Token: tok, How: HowLink}); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("token reused by another LINE user: %v", err)
	}
}

func TestLinkRefusesBadTokensAndChangesNothing(t *testing.T) {
	fx := newFixture(t)
	uid, dummy := fx.friend("Bob")
	real := fx.customer("bob@customer.example", "Bob")
	for name, tc := range map[string]struct {
		conn int64
		tok  string
		want error
	}{
		"forged":           {fx.conn.ID, "AQEB" + strings.Repeat("x", 34), ErrTokenInvalid},
		"expired":          {fx.conn.ID, fx.tokenFor(fx.conn.ID, real, time.Now().Add(-time.Minute)), ErrTokenExpired},
		"other connection": {fx.conn.ID, fx.tokenFor(fx.conn.ID+7, real, time.Now().Add(time.Hour)), ErrTokenInvalid},
	} {
		_, err := fx.svc.Link(fx.ctx, Request{ConnID: tc.conn, Identity: Identity{UserID: uid}, Token: tc.tok, How: HowLink})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// A token's contact is the token's, whatever the request says.
	tok := fx.tokenFor(fx.conn.ID, real, time.Now().Add(time.Hour))
	if _, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, ContactID: "999", Token: tok, How: HowLink}); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("contact other than the token's: %v", err)
	}
	if _, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: "Uevil"}, Token: tok, How: HowLink}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad user id: %v", err)
	}
	if got := fx.row(uid).ContactID; got != dummy {
		t.Fatalf("friend moved to %s", got)
	}
	if fx.hs.MergedInto(dummy) != "" || len(fx.hs.Contacts()) != 2 {
		t.Fatal("a refused link merged something")
	}
	recs, _ := fx.st.LinkRecordsOf(fx.ctx, fx.conn.ID, uid, 10)
	if len(recs) != 0 {
		t.Fatalf("refused links left records: %+v", recs)
	}
}

// A LINE user who logs in for the first time, before any webhook event,
// becomes a known friend linked to the contact; nothing dummy is made.
func TestLinkNewFriendWithoutDummy(t *testing.T) {
	fx := newFixture(t)
	real := fx.customer("carol@customer.example", "Carol")
	uid := linetest.NewUserID()
	res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid, Name: "Carol L", PictureURL: "https://profile.line-scdn.net/x"},
		Token: fx.tokenFor(fx.conn.ID, real, time.Now().Add(time.Hour)), How: HowLink})
	if err != nil || res.ContactID != real || res.Merged != "" {
		t.Fatalf("Link = %+v, %v", res, err)
	}
	fx.pipeline()
	p := fx.contact(real)
	if p[fx.prop("line_user_id")] != uid || p[fx.prop("line_user_name")] != "Carol L" || p["firstname"] != "Carol" {
		t.Fatalf("contact = %v", p)
	}
	// Then the follow arrives (bot_prompt=aggressive): same contact.
	fx.ln.AddFriend(fx.token, lineProfile(uid, "Carol L"))
	fx.deliver(linetest.FollowEvent(uid, false, time.Now()))
	if got := fx.contact(real)[fx.prop("line_follow")]; got != "Yes" {
		t.Fatalf("follow = %q", got)
	}
	if n := len(fx.hs.Contacts()); n != 1 {
		t.Fatalf("%d contacts, want 1", n)
	}
}

func TestLinkByEmail(t *testing.T) {
	fx := newFixture(t)
	t.Run("one contact has it", func(t *testing.T) {
		uid, dummy := fx.friend("Dan")
		real := fx.customer("dan@customer.example", "Dan")
		res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid, Email: "Dan@Customer.example"}, How: HowEmail})
		if err != nil || res.Outcome != OutcomeLinked || res.Merged != dummy || fx.hs.MergedInto(real) != res.ContactID {
			t.Fatalf("Link = %+v, %v", res, err)
		}
	})
	t.Run("none has it", func(t *testing.T) {
		uid, dummy := fx.friend("Eve")
		before := len(fx.hs.Contacts())
		res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid, Name: "Eve", Email: "eve@new.example"}, How: HowEmail})
		if err != nil || res.Outcome != OutcomeCreated {
			t.Fatalf("Link = %+v, %v", res, err)
		}
		fx.pipeline()
		p := fx.contact(res.ContactID)
		if p["email"] != "eve@new.example" || p[fx.prop("line_user_id")] != uid {
			t.Fatalf("new contact = %v", p)
		}
		if fx.hs.MergedInto(dummy) != res.ContactID || len(fx.hs.Contacts()) != before {
			t.Fatalf("the dummy was not merged into the new contact (%d → %d contacts)", before, len(fx.hs.Contacts()))
		}
	})
	t.Run("several have it", func(t *testing.T) {
		uid, dummy := fx.friend("Fay")
		fx.hs.SetFault(func(r *http.Request) (int, string, bool) {
			if strings.HasSuffix(r.URL.Path, "/contacts/search") {
				return 200, `{"total":2,"results":[{"id":"501","properties":{},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","archived":false},{"id":"502","properties":{},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","archived":false}]}`, true
			}
			return 0, "", false
		})
		defer fx.hs.SetFault(nil)
		_, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid, Email: "fay@two.example"}, How: HowEmail})
		if !errors.Is(err, ErrEmailAmbiguous) || fx.row(uid).ContactID != dummy {
			t.Fatalf("ambiguous email: %v, friend on %s", err, fx.row(uid).ContactID)
		}
	})
	t.Run("no email", func(t *testing.T) {
		uid, _ := fx.friend("Gus")
		for _, e := range []string{"", "not-an-email", uid + "@" + fxEmailDomain} {
			if _, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid, Email: e}, How: HowEmail}); !errors.Is(err, ErrNoEmail) {
				t.Fatalf("email %q: %v", e, err)
			}
		}
	})
}

// A person never moves themselves off a real contact; an admin can, the
// record says from where, and the LINE properties there are emptied.
func TestMoveOffRealContact(t *testing.T) {
	fx := newFixture(t)
	uid, _ := fx.friend("Hana")
	first := fx.customer("hana@one.example", "Hana")
	r1, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, Token: fx.tokenFor(fx.conn.ID, first, time.Now().Add(time.Hour)), How: HowLink})
	if err != nil {
		t.Fatal(err)
	}
	fx.pipeline()
	second := fx.customer("hana@two.example", "Hana Two")
	_, err = fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, Token: fx.tokenFor(fx.conn.ID, second, time.Now().Add(time.Hour)), How: HowLink})
	if !errors.Is(err, ErrLinkedElsewhere) || fx.row(uid).ContactID != r1.ContactID {
		t.Fatalf("self-service move: %v", err)
	}
	// A contact card keeps its hands off another contact's friend.
	_, err = fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, ContactID: second, How: HowHand, By: "card user", KeepOthers: true})
	if !errors.Is(err, ErrLinkedElsewhere) || fx.row(uid).ContactID != r1.ContactID {
		t.Fatalf("by hand, keeping others: %v", err)
	}
	if _, err := fx.svc.UnlinkFrom(fx.ctx, fx.conn.ID, uid, second, "card user", "not mine"); !errors.Is(err, ErrNotLinked) || fx.row(uid).ContactID != r1.ContactID {
		t.Fatalf("unlink from another contact: %v", err)
	}
	res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, ContactID: second, How: HowHand, By: "admin@shop.example"})
	if err != nil || res.ContactID != second || res.Merged != "" {
		t.Fatalf("by hand = %+v, %v", res, err)
	}
	fx.pipeline()
	if p := fx.contact(r1.ContactID); p[fx.prop("line_user_id")] != "" || p["email"] != "hana@one.example" {
		t.Fatalf("old contact keeps LINE properties or lost its email: %v", p)
	}
	if p := fx.contact(second); p[fx.prop("line_user_id")] != uid || p["email"] != "hana@two.example" {
		t.Fatalf("new contact = %v", p)
	}
	recs, _ := fx.st.LinkRecordsOf(fx.ctx, fx.conn.ID, uid, 10)
	if len(recs) != 2 || recs[0].By != "admin@shop.example" || recs[0].FromContactID != r1.ContactID || !strings.Contains(recs[0].Reason, r1.ContactID) {
		t.Fatalf("records = %+v", recs)
	}
	// The contact is taken: another friend cannot be linked to it.
	other, _ := fx.friend("Ivan")
	if _, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: other}, ContactID: second, How: HowHand, By: "admin@shop.example"}); !errors.Is(err, ErrContactTaken) {
		t.Fatalf("second friend on one contact: %v", err)
	}
}

func TestUnlink(t *testing.T) {
	fx := newFixture(t)
	uid, _ := fx.friend("Jo")
	real := fx.customer("jo@customer.example", "Jo")
	res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, ContactID: real, How: HowHand, By: "admin@shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	fx.pipeline()
	u, err := fx.svc.Unlink(fx.ctx, fx.conn.ID, uid, "admin@shop.example", "wrong person")
	if err != nil || u.Outcome != OutcomeUnlinked {
		t.Fatalf("Unlink = %+v, %v", u, err)
	}
	f := fx.row(uid)
	if f.ContactID != "" || f.ContactGone {
		t.Fatalf("friend after unlink: contact %q gone %v", f.ContactID, f.ContactGone)
	}
	p := fx.contact(res.ContactID)
	if p[fx.prop("line_user_id")] != "" || p[fx.prop("line_follow")] != "" || p["email"] != "jo@customer.example" {
		t.Fatalf("contact after unlink = %v", p)
	}
	fx.pipeline()
	if got := fx.contact(res.ContactID)[fx.prop("line_user_id")]; got != "" {
		t.Fatalf("sync wrote %q back after unlink", got)
	}
	fx.svc.RunOnce(fx.ctx)
	var bodies []string
	for _, n := range fx.hs.Notes(res.ContactID) {
		bodies = append(bodies, n.Body)
	}
	if len(bodies) != 2 || !strings.Contains(bodies[1], "unlinked") || !strings.Contains(bodies[1], "wrong person") {
		t.Fatalf("notes = %q", bodies)
	}
	if _, err := fx.svc.Unlink(fx.ctx, fx.conn.ID, uid, "admin@shop.example", ""); !errors.Is(err, ErrNotLinked) {
		t.Fatalf("second unlink: %v", err)
	}
	// A new message would create the friend's dummy contact, but HubSpot
	// keeps that email on the contact it was merged into: the conflict
	// must not link the friend back to the contact an admin unlinked.
	fx.deliver(linetest.TextMessageEvent(uid, "hi again", time.Now()))
	if f := fx.row(uid); f.ContactID != "" {
		t.Fatalf("after a message the friend is back on contact %q", f.ContactID)
	}
	if got := fx.contact(res.ContactID)[fx.prop("line_last_response")]; got != "" {
		t.Fatalf("the unlinked contact got the message %q", got)
	}
	// Linked again by hand, it follows that contact once more.
	if _, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, ContactID: res.ContactID, How: HowHand, By: "admin@shop.example"}); err != nil {
		t.Fatal(err)
	}
	fx.pipeline()
	if got := fx.contact(res.ContactID)[fx.prop("line_last_response")]; got != "hi again" {
		t.Fatalf("relinked contact last response = %q", got)
	}
}

// A crash after HubSpot merged but before linehub recorded it: the record
// is pending; the next start finds the merge done and does not merge again.
func TestPendingLinkFinishedAfterCrash(t *testing.T) {
	fx := newFixture(t)
	uid, dummy := fx.friend("Kai")
	real := fx.customer("kai@customer.example", "Kai")
	rec := &store.LinkRecord{ConnectionID: fx.conn.ID, UserID: uid, Action: store.LinkActionLink, How: HowLink,
		ContactID: real, FromContactID: dummy, MergeID: dummy, State: store.LinkPending}
	if err := fx.st.Link(fx.ctx, func(tx *store.LinkTx) error { return tx.AddRecord(rec) }); err != nil {
		t.Fatal(err)
	}
	merged, ok := fx.hs.MergeContacts(real, dummy) // HubSpot did it; the answer was lost
	if !ok {
		t.Fatal("merge")
	}
	var merges int
	fx.hs.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/contacts/merge") {
			merges++
		}
		return 0, "", false
	})
	svc := fx.newService() // restarted
	svc.RunOnce(fx.ctx)
	if merges != 0 {
		t.Fatalf("%d merge requests after the restart, want none", merges)
	}
	if got := fx.row(uid).ContactID; got != merged {
		t.Fatalf("friend follows %s, want %s", got, merged)
	}
	recs, _ := fx.st.LinkRecordsOf(fx.ctx, fx.conn.ID, uid, 10)
	if recs[0].State != store.LinkDone || recs[0].ResultID != merged {
		t.Fatalf("record = %+v", recs[0])
	}
	// Not merged yet when the crash came: the restart merges once.
	uid2, dummy2 := fx.friend("Lea")
	real2 := fx.customer("lea@customer.example", "Lea")
	rec2 := &store.LinkRecord{ConnectionID: fx.conn.ID, UserID: uid2, Action: store.LinkActionLink, How: HowLink,
		ContactID: real2, FromContactID: dummy2, MergeID: dummy2, State: store.LinkPending}
	if err := fx.st.Link(fx.ctx, func(tx *store.LinkTx) error { return tx.AddRecord(rec2) }); err != nil {
		t.Fatal(err)
	}
	svc.RunOnce(fx.ctx)
	svc.RunOnce(fx.ctx)
	if merges != 1 || fx.hs.MergedInto(dummy2) == "" || fx.row(uid2).ContactID != fx.hs.MergedInto(real2) {
		t.Fatalf("merges=%d, friend on %s", merges, fx.row(uid2).ContactID)
	}
}

// HubSpot down during the merge: the link is recorded, the friend stays,
// and it is finished when HubSpot answers again.
func TestLinkWhileHubSpotDown(t *testing.T) {
	fx := newFixture(t)
	uid, dummy := fx.friend("Mei")
	real := fx.customer("mei@customer.example", "Mei")
	fx.hs.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/contacts/merge") {
			return 503, `{"status":"error","message":"unavailable","category":"SERVICE_UNAVAILABLE"}`, true
		}
		return 0, "", false
	})
	res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, Token: fx.tokenFor(fx.conn.ID, real, time.Now().Add(time.Hour)), How: HowLink})
	if err != nil || res.Outcome != OutcomePending {
		t.Fatalf("Link = %+v, %v", res, err)
	}
	if fx.row(uid).ContactID != dummy {
		t.Fatal("friend moved before HubSpot merged")
	}
	fx.hs.SetFault(nil)
	fx.svc.RunOnce(fx.ctx)
	if got := fx.row(uid).ContactID; got == dummy || got != fx.hs.MergedInto(real) {
		t.Fatalf("friend on %s after HubSpot came back", got)
	}
}

// A note batch HubSpot stored but whose answer was lost is looked up by
// its marker and not created twice.
func TestLinkNoteNotDoubledAfterLostAnswer(t *testing.T) {
	fx := newFixture(t)
	uid, _ := fx.friend("Nao")
	real := fx.customer("nao@customer.example", "Nao")
	res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid}, ContactID: real, How: HowHand, By: "admin@shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	cut := true
	fx.hs.SetAfterNotes(func([]hubspottest.Note) bool { c := cut; cut = false; return c })
	fx.svc.noteSettle = 0
	fx.svc.RunOnce(fx.ctx) // stored by HubSpot, answer lost
	if n := len(fx.hs.Notes(res.ContactID)); n != 1 {
		t.Fatalf("%d notes after the lost answer", n)
	}
	fx.svc.RunOnce(fx.ctx)
	fx.svc.RunOnce(fx.ctx)
	if n := len(fx.hs.Notes(res.ContactID)); n != 1 {
		t.Fatalf("%d notes after the retries, want 1", n)
	}
	due, _ := fx.st.LinkNotesDue(fx.ctx, 10)
	if len(due) != 0 {
		t.Fatalf("notes still due: %+v", due)
	}
}

// A friend whose dummy email went to another friend's contact in a merge
// gets a contact with its "+2" email (contactsync's sharedEmail): that one
// is a stand-in too, and is merged into the customer's contact on a link.
func TestLinkMergesTheSecondDummyToo(t *testing.T) {
	fx := newFixture(t)
	uid, _ := fx.friend("Bob LINE") // its dummy contact went to another friend
	second, err := fx.hs.AddContact(map[string]string{"email": strings.ToLower(uid) + "+2@" + fxEmailDomain})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.st.UpdateFriend(fx.ctx, fx.conn.ID, uid, func(f *store.Friend) error {
		f.ContactID = second
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	real := fx.customer("bob@customer.example", "Bob")
	tok := fx.tokenFor(fx.conn.ID, real, time.Now().Add(time.Hour))
	res, err := fx.svc.Link(fx.ctx, Request{ConnID: fx.conn.ID, Identity: Identity{UserID: uid, Name: "Bob LINE"}, Token: tok, How: HowLink})
	if err != nil || res.Outcome != OutcomeLinked || res.Merged != second {
		t.Fatalf("Link = %+v, %v; want the +2 contact %s merged", res, err, second)
	}
	if p := fx.contact(res.ContactID); p["email"] != "bob@customer.example" || p["firstname"] != "Bob" {
		t.Fatalf("the customer's email and name did not survive: %v", p)
	}
}
