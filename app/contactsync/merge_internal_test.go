package contactsync

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
)

// Staff merge a friend's dummy-email contact into the real customer in
// HubSpot's UI, and no webhook tells linehub. HubSpot gives the merged
// record a new id that both old ids read as; whether a write to an old id
// lands or is refused as not found is not documented, so both are tested.

// mergedFriend makes a friend with a contact, then merges that contact by
// hand into a customer's contact; it returns the friend, the dummy contact
// id and the merged record's id.
func mergedFriend(fx *fixture, c fxConn, t0 time.Time) (uid, dummy, merged string) {
	fx.t.Helper()
	uid = fx.friend(c, "Alice")
	fx.deliver(c, linetest.FollowEvent(uid, false, t0))
	fx.apply()
	fx.sync()
	d, ok := fx.contact(uid)
	if !ok {
		fx.t.Fatal("no contact for the friend")
	}
	customer, err := fx.hs.AddContact(map[string]string{"email": "alice@customer.example", "firstname": "Alice Real"})
	if err != nil {
		fx.t.Fatal(err)
	}
	merged, ok = fx.hs.MergeContacts(customer, d.ID)
	if !ok {
		fx.t.Fatal("merge failed")
	}
	fx.takeRequests("")
	return uid, d.ID, merged
}

// checkSurvivor checks that the merged record kept the customer's email and
// first name, that it is the only contact and that no create was sent.
func (fx *fixture) checkSurvivor(merged string) map[string]string {
	fx.t.Helper()
	got, ok := fx.hs.Contact(merged)
	if !ok || got.ID != merged {
		fx.t.Fatalf("merged record %s gone (read as %q)", merged, got.ID)
	}
	if p := got.Properties; p["email"] != "alice@customer.example" || p["firstname"] != "Alice Real" {
		fx.t.Fatalf("customer's email or first name overwritten: email=%q firstname=%q", p["email"], p["firstname"])
	}
	if n := len(fx.hs.Contacts()); n != 1 {
		fx.t.Fatalf("%d live contacts, want only the merged one", n)
	}
	if n := len(fx.takeRequests("contacts/batch/create")); n != 0 {
		fx.t.Fatalf("%d create requests after the merge; a second contact must never be made", n)
	}
	return got.Properties
}

func TestSyncBlockAfterMergeReachesTheMergedContact(t *testing.T) {
	for _, refuse := range []bool{true, false} {
		name := map[bool]string{true: "write refused as not found", false: "write resolves"}[refuse]
		t.Run(name, func(t *testing.T) {
			fx := newFixtureWith(t, hubspottest.Options{RefuseMergedWrites: refuse})
			c := fx.connect("Shop")
			t0 := time.Now().Add(-time.Hour)
			uid, _, merged := mergedFriend(fx, c, t0)

			// The friend's first event after the merge is a block: no
			// message or follow allows a create, yet the change must land.
			fx.ln.Block(c.token, uid)
			fx.deliver(c, linetest.UnfollowEvent(uid, t0.Add(time.Minute)))
			fx.apply()
			fx.sync()
			if p := fx.checkSurvivor(merged); p["line_follow_1"] != "No" {
				t.Fatalf("merged contact keeps LINE Follow %q after a block, want No", p["line_follow_1"])
			}
			f := fx.friendRow(c, uid)
			if f.ContactID != merged || f.ContactGone || f.Dirty != 0 {
				t.Fatalf("friend after the block: contact=%q (want %s) gone=%v dirty=%d", f.ContactID, merged, f.ContactGone, f.Dirty)
			}
		})
	}
}

func TestSyncKeepsTheMergedContactsNewID(t *testing.T) {
	fx := newFixture(t) // writes to the old id land on the merged record
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	uid, dummy, merged := mergedFriend(fx, c, t0)

	fx.deliver(c, linetest.TextMessageEvent(uid, "hello again", t0.Add(time.Minute)))
	fx.apply()
	fx.sync()
	p := fx.checkSurvivor(merged)
	if p["line_last_response_1"] != "hello again" || p["line_unanswered_1"] != "Yes" {
		t.Fatalf("merged contact after a message: %v", p)
	}
	if f := fx.friendRow(c, uid); f.ContactID != merged {
		t.Fatalf("friend keeps contact id %q after the merge, want the merged record's %s (not the old %s)", f.ContactID, merged, dummy)
	}
	// From now on writes go to the new id.
	fx.deliver(c, linetest.TextMessageEvent(uid, "third", t0.Add(2*time.Minute)))
	fx.apply()
	fx.sync()
	for _, r := range fx.takeRequests("contacts/batch/update") {
		for _, in := range batchInputs(t, r) {
			if in.ID != merged {
				t.Fatalf("update sent to %q, want %s", in.ID, merged)
			}
		}
	}
}

func TestSyncWritesAFollowedOrRecreatedContactInTheSameRound(t *testing.T) {
	t.Run("merged", func(t *testing.T) {
		fx := newFixtureWith(t, hubspottest.Options{RefuseMergedWrites: true})
		c := fx.connect("Shop")
		t0 := time.Now().Add(-time.Hour)
		uid, _, merged := mergedFriend(fx, c, t0)
		fx.deliver(c, linetest.TextMessageEvent(uid, "after the merge", t0.Add(time.Minute)))
		fx.apply()
		if _, err := fx.b.syncOnce(fx.ctx); err != nil {
			t.Fatal(err)
		}
		if p := fx.checkSurvivor(merged); p["line_last_response_1"] != "after the merge" {
			t.Fatalf("one round after a message, the merged contact has %q", p["line_last_response_1"])
		}
	})
	t.Run("deleted", func(t *testing.T) {
		fx := newFixture(t)
		c := fx.connect("Shop")
		uid := fx.friend(c, "Alice")
		t0 := time.Now().Add(-time.Hour)
		fx.deliver(c, linetest.FollowEvent(uid, false, t0))
		fx.apply()
		fx.sync()
		first, _ := fx.contact(uid)
		fx.hs.DeleteContact(first.ID)
		fx.deliver(c, linetest.TextMessageEvent(uid, "are you there?", t0.Add(time.Minute)))
		fx.apply()
		if _, err := fx.b.syncOnce(fx.ctx); err != nil {
			t.Fatal(err)
		}
		again, ok := fx.contact(uid)
		if !ok || again.ID == first.ID || again.Properties["line_last_response_1"] != "are you there?" {
			t.Fatalf("one round after a message, the deleted contact is not recreated (ok=%v)", ok)
		}
		if f := fx.friendRow(c, uid); f.ContactID != again.ID || f.Dirty != 0 {
			t.Fatalf("friend after the recreate: contact=%q dirty=%d", f.ContactID, f.Dirty)
		}
	})
}

func TestRepairDriftComparesMergedContacts(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	uid, _, merged := mergedFriend(fx, c, t0)
	// Another app (not a person) rewrites a LINE property of the merged
	// record: drift repair puts linehub's value back.
	fx.hs.EditContactAs(merged, map[string]string{"line_follow_1": "No"}, hubspottest.SourceIntegration)

	stats, err := fx.b.RepairDrift(fx.ctx, c.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Merged != 1 || stats.Repaired != 1 || stats.Gone != 0 {
		t.Fatalf("drift stats: %+v, want 1 merged and 1 repaired", stats)
	}
	if f := fx.friendRow(c, uid); f.ContactID != merged {
		t.Fatalf("friend after drift repair follows %q, want %s", f.ContactID, merged)
	}
	fx.sync()
	if p := fx.checkSurvivor(merged); p["line_follow_1"] != "Yes" {
		t.Fatalf("drifted property not repaired: %q", p["line_follow_1"])
	}
}

// An update answer that says nothing of the input (no trace id, an id
// linehub does not know) is resolved by reading the id, not retried blind.
func TestSyncFollowsAMergeTheAnswerDidNotName(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	uid, dummy, merged := mergedFriend(fx, c, t0)
	fx.setFault(func(r *http.Request, body []byte) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/contacts/batch/update") && strings.Contains(string(body), `"id":"`+dummy+`"`) {
			return 200, `{"status":"COMPLETE","results":[],"startedAt":"2026-01-01T00:00:00.000Z","completedAt":"2026-01-01T00:00:00.000Z"}`, true
		}
		return 0, "", false
	})
	fx.ln.Block(c.token, uid)
	fx.deliver(c, linetest.UnfollowEvent(uid, t0.Add(time.Minute)))
	fx.apply()
	if _, err := fx.b.syncOnce(fx.ctx); err != nil {
		t.Fatal(err)
	}
	if p := fx.checkSurvivor(merged); p["line_follow_1"] != "No" {
		t.Fatalf("merged contact keeps LINE Follow %q", p["line_follow_1"])
	}
	if f := fx.friendRow(c, uid); f.ContactID != merged || f.Dirty != 0 || f.SyncError != "" {
		t.Fatalf("friend: contact=%q dirty=%d error=%q", f.ContactID, f.Dirty, f.SyncError)
	}
}

// Drift repair runs beside the sync worker: it reads a clean friend,
// a LINE event makes the friend dirty and a round starts writing to the
// old id, then drift repair adopts the merged contact. The round's result
// must not put the old id back.
func TestSyncRoundKeepsAContactDriftRepairAdoptedMeanwhile(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	uid, dummy, merged := mergedFriend(fx, c, t0)
	fx.ln.Block(c.token, uid)

	var once sync.Once
	writing, adopted := make(chan struct{}), make(chan struct{})
	roundErr := make(chan error, 1)
	fx.setFault(func(r *http.Request, body []byte) (int, string, bool) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/contacts/batch/read"):
			// Drift repair has read the friend clean: now the friend
			// blocks and a round starts writing to the old id.
			once.Do(func() {
				fx.deliver(c, linetest.UnfollowEvent(uid, t0.Add(time.Minute)))
				fx.apply()
				go func() {
					_, err := fx.b.syncOnce(fx.ctx)
					roundErr <- err
				}()
				<-writing
			})
		case strings.HasSuffix(r.URL.Path, "/contacts/batch/update") && strings.Contains(string(body), `"id":"`+dummy+`"`):
			close(writing)
			<-adopted
			// The write to the old id fails: the friend stays dirty.
			return 500, `{"status":"error","message":"internal error","category":"INTERNAL_ERROR"}`, true
		}
		return 0, "", false
	})
	stats, err := fx.b.RepairDrift(fx.ctx, c.conn.ID)
	if err != nil || stats.Merged != 1 {
		t.Fatalf("drift repair: %+v %v, want the merged contact adopted", stats, err)
	}
	close(adopted)
	if err := <-roundErr; err == nil {
		t.Fatal("the round did not see the failed write")
	}
	if f := fx.friendRow(c, uid); f.ContactID != merged || f.Dirty == 0 {
		t.Fatalf("after the round: contact=%q dirty=%d, want %s (adopted by drift repair) and still dirty", f.ContactID, f.Dirty, merged)
	}
	fx.setFault(nil)
	fx.retryNow(c, uid)
	fx.sync()
	if p := fx.checkSurvivor(merged); p["line_follow_1"] != "No" {
		t.Fatalf("merged contact keeps LINE Follow %q", p["line_follow_1"])
	}
}

// Staff merged the dummy contacts of two LINE friends of one connection:
// both friends now lead to one contact and would overwrite each other's
// line_*_1 properties. The contact keeps the friend its LINE User ID
// names (the primary record's, which the merge kept); the other friend is
// detached with a notice and gets a contact of its own only at its next
// LINE event, never the dummy contact back.
func TestSyncTwoFriendsMergedIntoOneContact(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuseMergedWrites=%v", refuse), func(t *testing.T) {
			fx := newFixtureWith(t, hubspottest.Options{RefuseMergedWrites: refuse})
			c := fx.connect("Shop")
			t0 := time.Now().Add(-time.Hour)
			alice, bob := fx.friend(c, "Alice"), fx.friend(c, "Bob")
			fx.deliver(c, linetest.FollowEvent(alice, false, t0), linetest.FollowEvent(bob, false, t0))
			fx.apply()
			fx.sync()
			ca, _ := fx.contact(alice)
			cb, _ := fx.contact(bob)
			merged, ok := fx.hs.MergeContacts(ca.ID, cb.ID)
			if !ok {
				t.Fatal("merge failed")
			}

			fx.deliver(c, linetest.TextMessageEvent(alice, "from alice", t0.Add(time.Minute)),
				linetest.TextMessageEvent(bob, "from bob", t0.Add(2*time.Minute)))
			fx.apply()
			fx.sync()

			got, _ := fx.hs.Contact(merged)
			if p := got.Properties; p["line_user_id_1"] != alice || p["line_user_name_1"] != "Alice" || p["line_last_response_1"] != "from alice" {
				t.Fatalf("merged contact: user=%q name=%q last=%q, want Alice's values only", p["line_user_id_1"], p["line_user_name_1"], p["line_last_response_1"])
			}
			if f := fx.friendRow(c, alice); f.ContactID != merged || f.Dirty != 0 {
				t.Fatalf("alice: contact=%q dirty=%d, want %s", f.ContactID, f.Dirty, merged)
			}
			fb := fx.friendRow(c, bob)
			if code, text := SplitSyncError(fb.SyncError); fb.ContactID != "" || !fb.ContactGone || fb.MayCreate || code != SharedContactCode ||
				!strings.Contains(text, merged) || !strings.Contains(text, alice) {
				t.Fatalf("bob: contact=%q gone=%v mayCreate=%v error=%q, want detached with a notice naming the contact and Alice", fb.ContactID, fb.ContactGone, fb.MayCreate, fb.SyncError)
			}
			if n := len(fx.hs.Contacts()); n != 1 {
				t.Fatalf("%d contacts, want only the merged one until Bob writes again", n)
			}

			// Bob's next message gives him a contact of his own.
			fx.deliver(c, linetest.TextMessageEvent(bob, "bob again", t0.Add(3*time.Minute)))
			fx.apply()
			fx.sync()
			fb = fx.friendRow(c, bob)
			own, ok := fx.hs.Contact(fb.ContactID)
			if !ok || fb.ContactID == merged || own.Properties["line_user_id_1"] != bob || own.Properties["line_last_response_1"] != "bob again" || fb.SyncError != "" {
				t.Fatalf("bob after a message: contact=%q (%v) error=%q", fb.ContactID, own.Properties, fb.SyncError)
			}
			got, _ = fx.hs.Contact(merged)
			if p := got.Properties; p["line_user_id_1"] != alice || p["line_last_response_1"] != "from alice" {
				t.Fatalf("merged contact after Bob's message: user=%q last=%q", p["line_user_id_1"], p["line_last_response_1"])
			}
		})
	}
}

// A friend whose write found its contact merged adopts the merged record
// as the merge webhook does: if writing it there fails, the next round
// still writes every LINE property, the user id included, not only what
// differs from what the old contact had.
func TestSyncAdoptedContactWriteFailedWritesAllNextRound(t *testing.T) {
	fx := newFixtureWith(t, hubspottest.Options{RefuseMergedWrites: true})
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	uid, _, merged := mergedFriend(fx, c, t0)
	// The customer's contact named another LINE user; the merge kept it.
	other := linetest.NewUserID()
	fx.hs.EditContactAs(merged, map[string]string{"line_user_id_1": other}, hubspottest.SourceIntegration)
	fx.deliver(c, linetest.TextMessageEvent(uid, "after the merge", t0.Add(time.Minute)))
	fx.apply()
	fx.setFault(func(r *http.Request, body []byte) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/contacts/batch/update") && strings.Contains(string(body), `"id":"`+merged+`"`) {
			return 500, `{"status":"error","message":"internal error","category":"INTERNAL_ERROR"}`, true
		}
		return 0, "", false
	})
	if _, err := fx.b.syncOnce(fx.ctx); err == nil {
		t.Fatal("the failed write of the adopted contact went unseen")
	}
	if f := fx.friendRow(c, uid); f.ContactID != merged || f.Dirty == 0 {
		t.Fatalf("after the failed write: contact=%q dirty=%d", f.ContactID, f.Dirty)
	}
	fx.setFault(nil)
	fx.retryNow(c, uid)
	fx.sync()
	if p := fx.checkSurvivor(merged); p["line_user_id_1"] != uid || p["line_last_response_1"] != "after the merge" {
		t.Fatalf("merged contact: user=%q last=%q, want the friend's", p["line_user_id_1"], p["line_last_response_1"])
	}
}
