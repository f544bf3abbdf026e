package contactsync

import (
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
)

// hookEvents turns the double's webhook events into what the handler
// passes on, as HubSpot's JSON read by hubspot.ParseWebhookEvents.
func (fx *fixture) hookEvents(evs ...hubspottest.AppWebhookEvent) int {
	fx.t.Helper()
	parsed, err := hubspot.ParseWebhookEvents(hubspottest.AppWebhookBody(evs...))
	if err != nil {
		fx.t.Fatal(err)
	}
	n, err := fx.b.IngestHubSpotEvents(fx.ctx, parsed)
	if err != nil {
		fx.t.Fatal(err)
	}
	if err := fx.b.ApplyHubSpotEvents(fx.ctx); err != nil {
		fx.t.Fatal(err)
	}
	return n
}

func (fx *fixture) appHooks() *hubspottest.AppWebhooks {
	return fx.hs.AppWebhooks("", "https://hub.example.com/hubspot/app/webhooks", "secret", 77)
}

// withContact makes a friend who follows c and has a contact.
func (fx *fixture) withContact(c fxConn, name string, at time.Time) (string, hubspottest.Contact) {
	fx.t.Helper()
	uid := fx.friend(c, name)
	fx.deliver(c, linetest.FollowEvent(uid, false, at))
	fx.apply()
	fx.sync()
	ct, ok := fx.contact(uid)
	if !ok {
		fx.t.Fatal("no contact for the friend")
	}
	return uid, ct
}

// A deletion webhook marks the friend gone at once: the next LINE event
// that is not a message or a follow writes nothing to the deleted contact
// (and creates none); a message after the deletion creates a new one.
func TestHubSpotDeletionWebhookMarksContactGone(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	uid, ct := fx.withContact(c, "Alice", t0)
	fx.hs.DeleteContact(ct.ID)
	fx.takeRequests("")

	hooks := fx.appHooks()
	del := hooks.Deletion(ct.ID)
	if n := fx.hookEvents(del, del); n != 1 {
		t.Fatalf("%d events stored from a batch holding one twice", n)
	}
	f := fx.friendRow(c, uid)
	if f.ContactID != "" || !f.ContactGone || f.MayCreate {
		t.Fatalf("after the deletion webhook: contact=%q gone=%v mayCreate=%v", f.ContactID, f.ContactGone, f.MayCreate)
	}

	fx.ln.Block(c.token, uid)
	fx.deliver(c, linetest.UnfollowEvent(uid, time.Now()))
	fx.apply()
	fx.sync()
	if rs := fx.takeRequests("contacts/batch"); len(rs) != 0 {
		t.Fatalf("%d contact writes after the deletion webhook (first %s), want none", len(rs), rs[0].Path)
	}

	fx.ln.Unblock(c.token, uid)
	fx.deliver(c, linetest.FollowEvent(uid, true, time.Now().Add(time.Second)))
	fx.apply()
	fx.sync()
	again, ok := fx.contact(uid)
	if !ok || again.ID == ct.ID || again.Properties["line_follow_1"] != "Yes" {
		t.Fatalf("a re-follow after the deletion did not create a new contact (ok=%v)", ok)
	}
}

// A message that came before the deletion does not bring the contact back
// (a person deleted it after seeing it); one after it does.
func TestHubSpotDeletionWebhookAfterAMessage(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid, ct := fx.withContact(c, "Alice", time.Now().Add(-time.Hour))
	fx.deliver(c, linetest.TextMessageEvent(uid, "before", time.Now().Add(-time.Minute)))
	fx.apply() // not synced yet: HubSpot was slow
	fx.hs.DeleteContact(ct.ID)
	fx.hookEvents(fx.appHooks().Deletion(ct.ID))
	fx.sync()
	if n := len(fx.hs.Contacts()); n != 0 {
		t.Fatalf("a message from before the deletion recreated the contact (%d live)", n)
	}
}

// A merge webhook moves the friend to the surviving contact at once: the
// LINE properties are written there, later events update it, and no
// contact is created (the dummy email now belongs to the merged record).
func TestHubSpotMergeWebhookMovesTheFriend(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	t0 := time.Now().Add(-time.Hour)
	uid, dummy := fx.withContact(c, "Alice", t0)
	customer, err := fx.hs.AddContact(map[string]string{"email": "alice@customer.example", "firstname": "Alice Real"})
	if err != nil {
		t.Fatal(err)
	}
	// The dummy record is gone after the merge; a write to its id is
	// refused as not found, which without the webhook reads as a deletion.
	fx.hs.DeleteContact(dummy.ID)
	fx.takeRequests("")

	fx.hookEvents(fx.appHooks().Merge(customer, []string{dummy.ID}, customer))
	f := fx.friendRow(c, uid)
	if f.ContactID != customer || f.ContactGone || Field(f.Dirty) != allFields {
		t.Fatalf("after the merge webhook: contact=%q (want %s) gone=%v dirty=%b", f.ContactID, customer, f.ContactGone, f.Dirty)
	}
	fx.sync()
	got, _ := fx.hs.Contact(customer)
	if p := got.Properties; p["line_user_id_1"] != uid || p["line_follow_1"] != "Yes" || p["email"] != "alice@customer.example" || p["firstname"] != "Alice Real" {
		t.Fatalf("surviving contact after the sync: %v", p)
	}

	// Even the event that allows a create goes to the survivor.
	fx.deliver(c, linetest.TextMessageEvent(uid, "hello again", time.Now()))
	fx.apply()
	fx.sync()
	got, _ = fx.hs.Contact(customer)
	if got.Properties["line_last_response_1"] != "hello again" {
		t.Fatalf("message after the merge: %v", got.Properties)
	}
	if n := len(fx.takeRequests("contacts/batch/create")); n != 0 || len(fx.hs.Contacts()) != 1 {
		t.Fatalf("%d creates, %d live contacts after the merge; want none and the survivor only", n, len(fx.hs.Contacts()))
	}
}

// A merge that made a new record (newObjectId) moves the friend there,
// whichever side of the merge its contact was.
func TestHubSpotMergeWebhookNewRecord(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid, dummy := fx.withContact(c, "Alice", time.Now().Add(-time.Hour))
	merged, err := fx.hs.AddContact(map[string]string{"email": "alice@customer.example"})
	if err != nil {
		t.Fatal(err)
	}
	fx.hookEvents(fx.appHooks().Merge(dummy.ID, []string{"999999"}, merged))
	if f := fx.friendRow(c, uid); f.ContactID != merged {
		t.Fatalf("friend follows %q, want the new record %s", f.ContactID, merged)
	}
}

// A person's change of a LINE property, reported by the webhook, stands
// against drift repair even where the history alone would not show it
// (another app wrote the same value after the person); linehub's own
// writes reported by the webhook are not taken for a person's.
func TestHubSpotPropertyChangeWebhookKeepsAPersonsEdit(t *testing.T) {
	setup := func(t *testing.T) (*fixture, fxConn, string, hubspottest.Contact) {
		fx := newFixture(t)
		c := fx.connect("Shop")
		uid, ct := fx.withContact(c, "Alice", time.Now().Add(-time.Hour))
		fx.hs.EditContact(ct.ID, map[string]string{"line_follow_1": "No"})
		fx.hs.EditContactAs(ct.ID, map[string]string{"line_follow_1": "No"}, hubspottest.SourceIntegration)
		return fx, c, uid, ct
	}
	t.Run("without the webhook, the history alone repairs it", func(t *testing.T) {
		fx, c, _, _ := setup(t)
		stats, err := fx.b.RepairDrift(fx.ctx, c.conn.ID)
		if err != nil || stats.Repaired != 1 {
			t.Fatalf("drift: %+v %v; the scenario must be one the history gets wrong", stats, err)
		}
	})
	t.Run("with the webhook, it stands", func(t *testing.T) {
		fx, c, uid, ct := setup(t)
		hooks := fx.appHooks()
		fx.hookEvents(
			hooks.PropertyChange(ct.ID, "line_follow_1", "No", "CRM_UI", "userId:7"),
			hooks.PropertyChange(ct.ID, "line_unanswered_1", "Yes", "INTEGRATION", "77"),
		)
		edits, err := fx.st.ContactEdits(fx.ctx, []int64{fx.friendRow(c, uid).ID})
		if err != nil {
			t.Fatal(err)
		}
		e := edits[fx.friendRow(c, uid).ID]
		if len(e) != 1 || e["line_follow"].Value != "No" || e["line_follow"].Overrode != "Yes" || e["line_follow"].SourceID != "userId:7" {
			t.Fatalf("recorded edits: %+v", e)
		}
		stats, err := fx.b.RepairDrift(fx.ctx, c.conn.ID)
		if err != nil || stats.Repaired != 0 || stats.Kept != 1 {
			t.Fatalf("drift: %+v %v", stats, err)
		}
		fx.sync()
		if got, _ := fx.hs.Contact(ct.ID); got.Properties["line_follow_1"] != "No" {
			t.Fatalf("the person's value was overwritten: %q", got.Properties["line_follow_1"])
		}
	})
}

// Events stored before a crash are applied by the next process.
func TestHubSpotEventsAppliedAfterRestart(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid, ct := fx.withContact(c, "Alice", time.Now().Add(-time.Hour))
	parsed, err := hubspot.ParseWebhookEvents(hubspottest.AppWebhookBody(fx.appHooks().Deletion(ct.ID)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.b.IngestHubSpotEvents(fx.ctx, parsed); err != nil {
		t.Fatal(err)
	}
	// A new Sync over the same store, as after a restart.
	next, err := New(Options{Store: fx.st, HubSpot: fx.b.hs, Config: fx.cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := next.ApplyHubSpotEvents(fx.ctx); err != nil {
		t.Fatal(err)
	}
	if f := fx.friendRow(c, uid); !f.ContactGone {
		t.Fatal("a stored deletion was not applied after the restart")
	}
	if st, _ := fx.st.HubSpotEventStats(fx.ctx); st.Pending != 0 || st.Total != 1 {
		t.Fatalf("queue after the restart: %+v", st)
	}
}

func TestParsePropertyName(t *testing.T) {
	for in, want := range map[string]struct {
		key    string
		serial int
	}{
		"line_follow_3":       {"line_follow", 3},
		"line_user_id_12":     {"line_user_id", 12},
		"line_follow_03":      {},
		"line_follow_":        {},
		"line_follow_-1":      {},
		"lastname":            {},
		"line_something_2":    {},
		"line_id_sync_date_1": {"line_id_sync_date", 1},
	} {
		key, serial, ok := parsePropertyName(in)
		if key != want.key || serial != want.serial || ok != (want.key != "") {
			t.Errorf("%s: %q %d %v", in, key, serial, ok)
		}
	}
}

// Should HubSpot report the merged-away record as deleted before the
// merge (it does not document either way), the merge still finds the
// friend: no dummy contact follows.
func TestHubSpotMergeWebhookAfterADeletionOfTheSameContact(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid, dummy := fx.withContact(c, "Alice", time.Now().Add(-time.Hour))
	customer, err := fx.hs.AddContact(map[string]string{"email": "alice@customer.example"})
	if err != nil {
		t.Fatal(err)
	}
	fx.hs.DeleteContact(dummy.ID)
	hooks := fx.appHooks()
	del, merge := hooks.Deletion(dummy.ID), hooks.Merge(customer, []string{dummy.ID}, customer)
	merge.OccurredAt = del.OccurredAt + 1
	fx.hookEvents(merge, del) // a batch is in no particular order
	if f := fx.friendRow(c, uid); f.ContactID != customer || f.ContactGone {
		t.Fatalf("friend after deletion then merge: contact=%q gone=%v, want %s", f.ContactID, f.ContactGone, customer)
	}
	fx.deliver(c, linetest.TextMessageEvent(uid, "hi", time.Now()))
	fx.apply()
	fx.sync()
	if n := len(fx.hs.Contacts()); n != 1 {
		t.Fatalf("%d live contacts, want the merged one only", n)
	}
}
