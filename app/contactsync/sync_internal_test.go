package contactsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func TestSyncCreatesContact(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	fx.deliver(c, linetest.FollowEvent(uid, false, time.Now()))
	fx.apply()
	fx.takeRequests("")
	fx.sync()

	ct, ok := fx.contact(uid)
	if !ok {
		t.Fatalf("no contact with email %s", emailOf(uid))
	}
	p := ct.Properties
	want := map[string]string{
		"firstname":           "Alice",
		"line_user_id_1":      uid,
		"line_user_name_1":    "Alice",
		"line_user_picture_1": "https://profile.line-scdn.net/" + uid,
		"line_follow_1":       "Yes",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if p["line_id_sync_date_1"] == "" {
		t.Error("line_id_sync_date_1 not set")
	}
	for _, k := range []string{"line_unanswered_1", "line_last_response_1"} {
		if _, set := p[k]; set {
			t.Errorf("%s set on a follow-only friend: %q", k, p[k])
		}
	}
	f := fx.friendRow(c, uid)
	if f.ContactID != ct.ID || f.Dirty != 0 || f.SyncError != "" || f.MayCreate || f.SyncedAt == nil {
		t.Fatalf("friend after sync: %+v", f)
	}
	creates, updates := 0, 0
	for _, r := range fx.takeRequests("/batch/") {
		switch {
		case strings.HasSuffix(r.Path, "/batch/create"):
			creates++
		case strings.HasSuffix(r.Path, "/batch/update"):
			updates++
		}
	}
	if creates != 1 || updates != 0 {
		t.Fatalf("%d creates and %d updates, want 1 and 0", creates, updates)
	}
	// Nothing dirty: another round sends nothing.
	fx.sync()
	if n := len(fx.takeRequests("")); n != 0 {
		t.Fatalf("idle sync sent %d requests", n)
	}
}

func TestSyncUpdateWritesOnlyDirtyProperties(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	fx.deliver(c, linetest.FollowEvent(uid, false, time.Now().Add(-time.Hour)))
	fx.apply()
	fx.sync()
	ct, ok := fx.contact(uid)
	if !ok {
		t.Fatal("contact not created")
	}
	// A HubSpot user renames the contact; LINE's name changes too, but
	// no follow happens, so linehub has no reason to read it again.
	fx.hs.EditContact(ct.ID, map[string]string{"firstname": "Alice (VIP)"})
	fx.ln.AddFriend(c.token, lineProfile(uid, "Alicia"))
	before, _ := fx.hs.Contact(ct.ID)
	fx.takeRequests("")

	fx.deliver(c, linetest.TextMessageEvent(uid, "hello", time.Now().Add(-50*time.Minute)))
	fx.apply()
	fx.sync()

	ups := fx.takeRequests("batch/update")
	if len(ups) != 1 {
		t.Fatalf("%d update requests, want 1", len(ups))
	}
	in := batchInputs(t, ups[0])
	if len(in) != 1 || in[0].ID != ct.ID {
		t.Fatalf("update inputs %+v", in)
	}
	// line_user_id is already in HubSpot and never changes: not written again.
	wantKeys := []string{"line_last_response_1", "line_unanswered_1"}
	if got := sortedKeys(in[0].Properties); !slices.Equal(got, wantKeys) {
		t.Fatalf("update wrote %v, want only %v", got, wantKeys)
	}
	after, _ := fx.hs.Contact(ct.ID)
	if after.Properties["line_last_response_1"] != "hello" || after.Properties["line_unanswered_1"] != "Yes" {
		t.Fatalf("message not synced: %v", after.Properties)
	}
	for _, k := range []string{"firstname", "line_user_name_1", "line_user_picture_1", "line_follow_1", "line_id_sync_date_1", "email"} {
		if !after.PropertyUpdatedAt[k].Equal(before.PropertyUpdatedAt[k]) || after.Properties[k] != before.Properties[k] {
			t.Errorf("%s was written: %q → %q", k, before.Properties[k], after.Properties[k])
		}
	}

	// A human answers in HubSpot and sets Unanswered to No: it stays No
	// until a new LINE event changes it.
	fx.hs.EditContact(ct.ID, map[string]string{"line_unanswered_1": "No"})
	fx.sync()
	if n := len(fx.takeRequests("")); n != 0 {
		t.Fatalf("sync with nothing dirty sent %d requests", n)
	}
	if v, _ := fx.hs.Contact(ct.ID); v.Properties["line_unanswered_1"] != "No" {
		t.Fatalf("human edit overwritten: %q", v.Properties["line_unanswered_1"])
	}

	// Block then unblock: the new follow reads the profile again. Only the
	// name changed, so the picture is not written; firstname never is.
	fx.deliver(c, linetest.UnfollowEvent(uid, time.Now().Add(-40*time.Minute)))
	fx.deliver(c, linetest.FollowEvent(uid, true, time.Now().Add(-30*time.Minute)))
	fx.apply()
	fx.sync()
	ups = fx.takeRequests("batch/update")
	if len(ups) != 1 {
		t.Fatalf("%d update requests after re-follow, want 1", len(ups))
	}
	in = batchInputs(t, ups[0])
	wantKeys = []string{"line_follow_1", "line_id_sync_date_1", "line_user_name_1"}
	if got := sortedKeys(in[0].Properties); !slices.Equal(got, wantKeys) {
		t.Fatalf("re-follow wrote %v, want %v", got, wantKeys)
	}
	final, _ := fx.hs.Contact(ct.ID)
	if final.Properties["firstname"] != "Alice (VIP)" || final.Properties["line_user_name_1"] != "Alicia" ||
		final.Properties["line_follow_1"] != "Yes" || final.Properties["line_unanswered_1"] != "No" {
		t.Fatalf("after re-follow: %v", final.Properties)
	}
}

func TestSyncCreateConflictAdoptsExistingContact(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	// A contact with the dummy email exists already (made before a crash,
	// or by hand), with a first name a human chose. HubSpot lowercases.
	existing, err := fx.b.hs.CreateContact(fx.ctx, map[string]string{"email": strings.ToUpper(emailOf(uid)), "firstname": "Chosen By Human"})
	if err != nil {
		t.Fatal(err)
	}
	fx.takeRequests("")
	fx.deliver(c, linetest.FollowEvent(uid, false, time.Now()))
	fx.apply()
	fx.sync()

	f := fx.friendRow(c, uid)
	if f.ContactID != existing.ID || f.Dirty != 0 || f.SyncError != "" {
		t.Fatalf("friend after sync: contact %q dirty %d err %q; want adopted %s", f.ContactID, f.Dirty, f.SyncError, existing.ID)
	}
	if n := len(fx.hs.Contacts()); n != 1 {
		t.Fatalf("%d contacts, want the one that existed", n)
	}
	ct, _ := fx.hs.Contact(existing.ID)
	if ct.Properties["firstname"] != "Chosen By Human" {
		t.Fatalf("firstname overwritten: %q", ct.Properties["firstname"])
	}
	if ct.Properties["line_user_id_1"] != uid || ct.Properties["line_follow_1"] != "Yes" || ct.Properties["line_user_name_1"] != "Alice" {
		t.Fatalf("LINE properties not written to the adopted contact: %v", ct.Properties)
	}
	for _, r := range fx.takeRequests("batch/update") {
		for _, in := range batchInputs(t, r) {
			if _, ok := in.Properties["firstname"]; ok {
				t.Fatalf("update of adopted contact sends firstname: %v", in.Properties)
			}
		}
	}
}

func TestSyncDeletedContactIsNotRecreatedByAnUpdate(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	t0 := time.Now().Add(-time.Hour)
	fx.deliver(c, linetest.FollowEvent(uid, false, t0))
	fx.apply()
	fx.sync()
	first, _ := fx.contact(uid)
	fx.hs.DeleteContact(first.ID)
	fx.takeRequests("")

	// The friend blocks the account: an update, which must not recreate.
	fx.ln.Block(c.token, uid)
	fx.deliver(c, linetest.UnfollowEvent(uid, t0.Add(time.Minute)))
	fx.apply()
	fx.sync()
	f := fx.friendRow(c, uid)
	if !f.ContactGone || f.ContactID != "" || f.Dirty != 0 || f.MayCreate {
		t.Fatalf("friend after update of deleted contact: gone=%v contact=%q dirty=%d mayCreate=%v", f.ContactGone, f.ContactID, f.Dirty, f.MayCreate)
	}
	if n := len(fx.hs.Contacts()); n != 0 {
		t.Fatalf("contact recreated by an unfollow: %d live contacts", n)
	}
	if got := len(fx.takeRequests("contacts/batch/create")); got != 0 {
		t.Fatalf("%d create requests after the delete, want 0", got)
	}
	// A profile refresh would not recreate either: nothing is dirty.
	fx.sync()
	if n := len(fx.takeRequests("")); n != 0 {
		t.Fatalf("idle sync sent %d requests", n)
	}

	// Unblock (follow): now the contact comes back.
	fx.ln.Unblock(c.token, uid)
	fx.deliver(c, linetest.FollowEvent(uid, true, t0.Add(2*time.Minute)))
	fx.apply()
	fx.sync()
	again, ok := fx.contact(uid)
	if !ok || again.ID == first.ID {
		t.Fatalf("unblock did not recreate the contact (ok=%v id=%s)", ok, again.ID)
	}
	if again.Properties["line_follow_1"] != "Yes" || again.Properties["firstname"] != "Alice" {
		t.Fatalf("recreated contact: %v", again.Properties)
	}
	f = fx.friendRow(c, uid)
	if f.ContactGone || f.ContactID != again.ID || f.Dirty != 0 {
		t.Fatalf("friend after recreate: %+v", f)
	}
}

func TestSyncDeletedContactIsRecreatedByAMessage(t *testing.T) {
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
	fx.sync()
	again, ok := fx.contact(uid)
	if !ok || again.ID == first.ID {
		t.Fatalf("message did not recreate the contact")
	}
	p := again.Properties
	if p["line_last_response_1"] != "are you there?" || p["line_unanswered_1"] != "Yes" || p["line_follow_1"] != "Yes" ||
		p["firstname"] != "Alice" || p["line_user_name_1"] != "Alice" || p["line_user_id_1"] != uid {
		t.Fatalf("recreated contact: %v", p)
	}
	if n := len(fx.hs.Contacts()); n != 1 {
		t.Fatalf("%d live contacts, want 1", n)
	}
}

func TestSyncRejectedCreateBacksOffWhileOthersSync(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	good := fx.friend(c, "Good")
	// A friend whose dummy email HubSpot refuses (an id no real LINE user
	// has, but it makes HubSpot reject exactly one input of the batch).
	const bad = "Ubad@id"
	_, err := fx.st.UpdateFriend(fx.ctx, c.conn.ID, bad, func(f *store.Friend) error {
		f.Following, f.FollowAt, f.MayCreate, f.Dirty = true, 1, true, int(allFields)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.deliver(c, linetest.FollowEvent(good, false, time.Now()))
	fx.apply()
	fx.takeRequests("")
	start := time.Now()
	fx.sync()

	if _, ok := fx.contact(good); !ok {
		t.Fatal("the good friend was not synced")
	}
	g := fx.friendRow(c, good)
	if g.Dirty != 0 || g.SyncError != "" {
		t.Fatalf("good friend: dirty %d err %q", g.Dirty, g.SyncError)
	}
	bf := fx.friendRow(c, bad)
	if bf.SyncError == "" || bf.Dirty == 0 || bf.ContactID != "" || bf.SyncAttempts != 1 {
		t.Fatalf("bad friend: %+v", bf)
	}
	if !strings.Contains(bf.SyncError, "rejected") {
		t.Errorf("sync error does not say HubSpot rejected it: %q", bf.SyncError)
	}
	if min := start.Add(20 * time.Second).UnixMilli(); bf.NextSyncAt < min {
		t.Fatalf("bad friend retries at %d, want a backoff of at least 20 s (>= %d)", bf.NextSyncAt, min)
	}
	stats, err := fx.st.FriendStats(fx.ctx, c.conn.ID)
	if err != nil || stats.SyncErrors != 1 || stats.Backlog != 1 {
		t.Fatalf("stats %+v %v", stats, err)
	}
	// The backoff holds: the next round does not try again.
	fx.takeRequests("")
	fx.sync()
	if n := len(fx.takeRequests("")); n != 0 {
		t.Fatalf("%d requests during backoff", n)
	}
}

func TestSyncRejectedUpdateIsIsolated(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	a, b := fx.friend(c, "Ann"), fx.friend(c, "Ben")
	t0 := time.Now().Add(-time.Hour)
	fx.deliver(c, linetest.FollowEvent(a, false, t0), linetest.FollowEvent(b, false, t0))
	fx.apply()
	fx.sync()
	ca, _ := fx.contact(a)
	cb, _ := fx.contact(b)

	// HubSpot refuses any update batch that contains Ben's contact.
	fx.setFault(func(r *http.Request, body []byte) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/batch/update") && strings.Contains(string(body), fmt.Sprintf(`"id":%q`, cb.ID)) {
			return http.StatusBadRequest, `{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"too long\",\"error\":\"INVALID_LENGTH\",\"name\":\"line_last_response_1\"}]","correlationId":"c0ffee00-0000-4000-8000-000000000000","category":"VALIDATION_ERROR"}`, true
		}
		return 0, "", false
	})
	fx.deliver(c,
		linetest.TextMessageEvent(a, "from ann", t0.Add(time.Minute)),
		linetest.TextMessageEvent(b, "from ben", t0.Add(time.Minute)))
	fx.apply()
	fx.sync()

	if got, _ := fx.hs.Contact(ca.ID); got.Properties["line_last_response_1"] != "from ann" {
		t.Fatalf("Ann not synced while Ben was rejected: %v", got.Properties)
	}
	fa, fb := fx.friendRow(c, a), fx.friendRow(c, b)
	if fa.Dirty != 0 || fa.SyncError != "" {
		t.Fatalf("Ann: dirty %d err %q", fa.Dirty, fa.SyncError)
	}
	if fb.Dirty == 0 || !strings.Contains(fb.SyncError, "VALIDATION_ERROR") || fb.NextSyncAt <= time.Now().UnixMilli() {
		t.Fatalf("Ben: dirty %d err %q next %d", fb.Dirty, fb.SyncError, fb.NextSyncAt)
	}
	if fb.ContactID != cb.ID {
		t.Fatalf("Ben lost his contact id: %q", fb.ContactID)
	}

	// Fixed in HubSpot: once the backoff is over Ben goes through.
	fx.setFault(nil)
	fx.retryNow(c, b)
	fx.sync()
	if got, _ := fx.hs.Contact(cb.ID); got.Properties["line_last_response_1"] != "from ben" {
		t.Fatalf("Ben not synced after the fault: %v", got.Properties)
	}
	if fb := fx.friendRow(c, b); fb.Dirty != 0 || fb.SyncError != "" || fb.SyncAttempts != 0 {
		t.Fatalf("Ben after retry: %+v", fb)
	}
}

func TestSyncHubSpotDownLosesNothing(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	a, b := fx.friend(c, "Ann"), fx.friend(c, "Ben")
	t0 := time.Now().Add(-time.Hour)

	fx.setFault(func(r *http.Request, body []byte) (int, string, bool) {
		return http.StatusServiceUnavailable, `{"status":"error","message":"Service Unavailable","correlationId":"x","category":"SERVICE_UNAVAILABLE"}`, true
	})
	fx.deliver(c, linetest.FollowEvent(a, false, t0), linetest.FollowEvent(b, false, t0))
	fx.apply()
	if err := fx.b.SyncPending(fx.ctx); !errors.Is(err, hubspot.ErrUnavailable) {
		t.Fatalf("SyncPending with HubSpot down: %v, want HubSpot unavailable", err)
	}
	if st := fx.b.Status(); st.LastSyncError == "" || st.LastErrorAt == nil {
		t.Fatalf("status does not show the failure: %+v", st)
	}
	// Events keep arriving and being applied while HubSpot is down. A
	// first failure with HubSpot down costs the friends no wait, so the
	// next round tries them again (the worker probes in between).
	fx.deliver(c, linetest.TextMessageEvent(a, "anyone?", t0.Add(time.Minute)))
	fx.apply()
	if err := fx.b.SyncPending(fx.ctx); !errors.Is(err, hubspot.ErrUnavailable) {
		t.Fatalf("second round during the outage: %v, want HubSpot unavailable", err)
	}
	for _, uid := range []string{a, b} {
		f := fx.friendRow(c, uid)
		if f.Dirty == 0 || f.SyncError == "" || f.ContactID != "" {
			t.Fatalf("friend %s during the outage: %+v", uid, f)
		}
	}
	if n := len(fx.hs.Contacts()); n != 0 {
		t.Fatalf("%d contacts written during the outage", n)
	}

	fx.setFault(nil)
	fx.retryNow(c, a)
	fx.retryNow(c, b)
	fx.sync()
	ca, okA := fx.contact(a)
	cb, okB := fx.contact(b)
	if !okA || !okB {
		t.Fatalf("contacts after recovery: ann %v ben %v", okA, okB)
	}
	if ca.Properties["line_last_response_1"] != "anyone?" || ca.Properties["line_unanswered_1"] != "Yes" || ca.Properties["firstname"] != "Ann" {
		t.Fatalf("Ann after recovery: %v", ca.Properties)
	}
	if cb.Properties["line_follow_1"] != "Yes" || cb.Properties["firstname"] != "Ben" {
		t.Fatalf("Ben after recovery: %v", cb.Properties)
	}
	stats, _ := fx.st.FriendStats(fx.ctx, c.conn.ID)
	if stats.Backlog != 0 || stats.SyncErrors != 0 {
		t.Fatalf("stats after recovery %+v", stats)
	}
}

func TestApplyIgnoresGroupsAndRoomsAndBadRows(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	member, friend := fx.friend(c, "Member"), fx.friend(c, "Friend")
	now := time.Now()
	res := fx.deliver(c,
		linetest.GroupTextMessageEvent("C"+strings.Repeat("1", 32), member, "hi group", now),
		linetest.RoomTextMessageEvent("R"+strings.Repeat("2", 32), member, "hi room", now),
		linetest.TextMessageEvent(friend, "hi account", now))
	if res.Events != 3 || res.New != 3 {
		t.Fatalf("ingest %+v", res)
	}
	// A row that cannot be decoded any more must not block the inbox.
	if _, err := fx.st.AppendInbox(fx.ctx, []store.InboxEvent{{ConnectionID: c.conn.ID, WebhookEventID: "broken", Type: "message",
		Timestamp: now.UnixMilli(), Raw: "not json", ReceivedAt: now, Pending: true}}); err != nil {
		t.Fatal(err)
	}
	fx.apply()
	if _, err := fx.st.Friend(fx.ctx, c.conn.ID, member); err == nil {
		t.Fatal("a group/room member became a friend")
	}
	if f := fx.friendRow(c, friend); f.LastResponse != "hi account" {
		t.Fatalf("friend: %+v", f)
	}
	is, _ := fx.st.InboxStats(fx.ctx, c.conn.ID)
	if is.Pending != 0 || is.Failed != 1 || is.Total != 4 {
		t.Fatalf("inbox %+v, want nothing pending and one failed of 4", is)
	}
	fx.sync()
	if n := len(fx.hs.Contacts()); n != 1 {
		t.Fatalf("%d contacts, want only the 1:1 friend", n)
	}
}

func TestApplyInTimestampOrderAndOnce(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	t0 := time.Now().Add(-time.Hour)
	follow := linetest.FollowEvent(uid, false, t0)
	unfollow := linetest.UnfollowEvent(uid, t0.Add(time.Minute))
	// Delivered newest first in one request: applied in timestamp order.
	fx.deliver(c, unfollow, follow)
	fx.apply()
	if f := fx.friendRow(c, uid); f.Following {
		t.Fatal("follow applied after the newer unfollow")
	}
	// Redelivery of both changes nothing.
	if res := fx.deliver(c, linetest.Redelivered(follow), linetest.Redelivered(unfollow)); res.New != 0 {
		t.Fatalf("redelivery stored %d new events", res.New)
	}
	// A late follow older than the unfollow, in a later batch, loses too.
	fx.deliver(c, linetest.FollowEvent(uid, false, t0.Add(30*time.Second)))
	fx.apply()
	f := fx.friendRow(c, uid)
	if f.Following || f.FollowAt != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("after late follow: following=%v followAt=%d", f.Following, f.FollowAt)
	}
	// The follow allowed creating the contact; it is created with the
	// newest state, Follow=No.
	fx.sync()
	if ct, ok := fx.contact(uid); !ok || ct.Properties["line_follow_1"] != "No" {
		t.Fatalf("contact after follow+unfollow: %v %v", ok, ct.Properties)
	}
	// An unfollow from someone never seen creates no contact.
	stranger := linetest.NewUserID()
	fx.deliver(c, linetest.UnfollowEvent(stranger, t0))
	fx.apply()
	fx.sync()
	if _, ok := fx.contact(stranger); ok {
		t.Fatal("an unfollow created a contact")
	}
	if f := fx.friendRow(c, stranger); f.Dirty != 0 || f.ContactID != "" {
		t.Fatalf("stranger: %+v", f)
	}
}

func TestApplyProfileOutcomesThroughLINE(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	// Not a friend in LINE's eyes (404): nothing to read, not "missing".
	ghost := linetest.NewUserID()
	ok := fx.friend(c, "Okay")
	now := time.Now().Add(-time.Hour)
	fx.deliver(c, linetest.FollowEvent(ghost, false, now), linetest.FollowEvent(ok, false, now))
	fx.apply()
	g, o := fx.friendRow(c, ghost), fx.friendRow(c, ok)
	if g.ProfileMissing || g.DisplayName != "" || !g.Following || Field(g.Dirty) != FieldUserID|FieldFollow {
		t.Fatalf("404 friend: %+v", g)
	}
	if o.ProfileMissing || o.DisplayName != "Okay" || o.ProfileAt == 0 || Field(o.Dirty) != FieldUserID|FieldFollow|FieldName|FieldPicture|FieldSyncDate {
		t.Fatalf("readable friend: %+v (dirty %s)", o, fieldNames(Field(o.Dirty)))
	}
	fx.sync()
	if ct, found := fx.contact(ghost); !found || ct.Properties["firstname"] != "" || ct.Properties["line_follow_1"] != "Yes" {
		t.Fatalf("404 friend's contact: %v %v", found, ct.Properties)
	}

	// The profile API fails (403 for the channel): the event is applied
	// without a profile, which is marked missing.
	lineFault := func(r *http.Request) (int, string, bool) {
		if strings.Contains(r.URL.Path, "/v2/bot/profile/") {
			return http.StatusForbidden, `{"message":"Access to this API is not available for your account"}`, true
		}
		return 0, "", false
	}
	fx.ln.SetFault(lineFault)
	denied := fx.friend(c, "Denied")
	fx.deliver(c, linetest.FollowEvent(denied, false, now.Add(time.Minute)))
	fx.apply()
	d := fx.friendRow(c, denied)
	if !d.ProfileMissing || d.DisplayName != "" || !d.Following || Field(d.Dirty) != FieldUserID|FieldFollow {
		t.Fatalf("friend applied while LINE fails: %+v (dirty %s)", d, fieldNames(Field(d.Dirty)))
	}
	// The status (and so the dashboard) says LINE is failing, for which
	// connection and since when.
	if le := fx.b.Status().LINEErrors; len(le) != 1 || le[0].ConnectionID != c.conn.ID || !strings.Contains(le[0].Error, "not available for your account") || le[0].Since.IsZero() {
		t.Fatalf("status while LINE fails: %+v", le)
	}
	// A new contact waits a while for its name rather than being created
	// without firstname.
	fx.sync()
	if _, found := fx.contact(denied); found {
		t.Fatal("contact created before the profile could be read")
	}
	if d := fx.friendRow(c, denied); d.SyncError == "" || d.Dirty == 0 || d.SyncAttempts != 0 {
		t.Fatalf("waiting friend: %+v", d)
	}
	// LINE recovers: the sync worker reads the profile itself.
	fx.ln.SetFault(nil)
	fx.retryNow(c, denied)
	fx.sync()
	ct, found := fx.contact(denied)
	if !found || ct.Properties["firstname"] != "Denied" || ct.Properties["line_user_name_1"] != "Denied" {
		t.Fatalf("contact after LINE recovered: %v %v", found, ct.Properties)
	}
	if d := fx.friendRow(c, denied); d.ProfileMissing || d.DisplayName != "Denied" || d.Dirty != 0 {
		t.Fatalf("friend after LINE recovered: %+v", d)
	}
	if le := fx.b.Status().LINEErrors; len(le) != 0 {
		t.Fatalf("status after LINE recovered: %+v", le)
	}
}

// lineProfile is a LINE profile as the fixture's friends have them.
func lineProfile(uid, name string) line.Profile {
	return line.Profile{UserID: uid, DisplayName: name, PictureURL: "https://profile.line-scdn.net/" + uid}
}

// TestSyncProbesDownHubSpot: while HubSpot fails every request, the sync
// worker sends no batches, only one small probe per probe interval, and
// leaves no friend waiting out a backoff of its own; the first probe
// HubSpot answers is followed by every batch at once, with no wait.
func TestSyncProbesDownHubSpot(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	var users []string
	var evs []json.RawMessage
	for i := range 250 {
		uid := fx.friend(c, fmt.Sprintf("Friend %03d", i))
		users = append(users, uid)
		evs = append(evs, linetest.FollowEvent(uid, false, t0))
	}
	fx.deliver(c, evs...)
	fx.apply()

	var down atomic.Bool
	down.Store(true)
	fx.setFault(func(r *http.Request, body []byte) (int, string, bool) {
		if down.Load() {
			return http.StatusServiceUnavailable, `{"status":"error","message":"Service Unavailable","category":"SERVICE_UNAVAILABLE"}`, true
		}
		return 0, "", false
	})
	fx.takeRequests("")
	// The wait before each probe is stepped by hand: the worker says it is
	// waiting, the test looks at what was sent so far, then lets it probe.
	waiting, tick := make(chan struct{}), make(chan struct{})
	fx.b.probeWait = func(ctx context.Context) bool {
		select {
		case waiting <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		select {
		case <-tick:
			return true
		case <-ctx.Done():
			return false
		}
	}
	awaitProbe := func(what string) {
		t.Helper()
		select {
		case <-waiting:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the sync worker is not waiting to probe HubSpot; requests: %v", what, paths(fx.takeRequests("")))
		}
	}
	ctx, cancel := context.WithCancel(fx.ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); fx.b.runSync(ctx, ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })

	awaitProbe("after the first failure")
	if got := paths(fx.takeRequests("")); !slices.Equal(got, []string{"POST /crm/objects/2026-03/contacts/batch/create"}) {
		t.Fatalf("requests before probing: %v, want the one batch that failed", got)
	}
	now := time.Now().UnixMilli()
	for _, uid := range users {
		if f := fx.friendRow(c, uid); f.Dirty == 0 || f.NextSyncAt > now {
			t.Fatalf("friend %s after the first failure: dirty %d, next sync in %d ms; want it ready to go when HubSpot is back", uid, f.Dirty, f.NextSyncAt-now)
		}
	}
	for i := range 5 {
		tick <- struct{}{}
		awaitProbe(fmt.Sprintf("probe %d", i+1))
		if got := paths(fx.takeRequests("")); !slices.Equal(got, []string{"GET /account-info/2026-03/details"}) {
			t.Fatalf("requests between waits %d: %v, want one probe", i+1, got)
		}
	}

	down.Store(false)
	tick <- struct{}{}
	// From here the worker must not wait again: nobody takes its next
	// "waiting", so a wait would leave the contacts unwritten.
	deadline := time.Now().Add(20 * time.Second)
	for len(fx.hs.Contacts()) < len(users) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d contacts once HubSpot answered the probe", len(fx.hs.Contacts()), len(users))
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []string{"GET /account-info/2026-03/details", "POST /crm/objects/2026-03/contacts/batch/create",
		"POST /crm/objects/2026-03/contacts/batch/create", "POST /crm/objects/2026-03/contacts/batch/create"}
	if got := paths(fx.takeRequests("")); !slices.Equal(got, want) {
		t.Fatalf("requests after HubSpot came back: %v, want %v", got, want)
	}
}

func paths(rs []hsRequest) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Method + " " + r.Path
	}
	return out
}
