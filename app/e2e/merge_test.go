package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestMergeByHandInHubSpot: staff merge a friend's dummy-email contact into
// the real customer in HubSpot's UI and no webhook tells linehub. HubSpot
// gives the merged record a new id; a write to the old id is refused as
// not found here (the reading linehub has met). linehub must follow the
// merge: the friend's next LINE events reach the merged record, the
// customer's email and first name stay, no second contact ever appears,
// and drift repair compares the merged record.
func TestMergeByHandInHubSpot(t *testing.T) {
	e := newEnv(t, envOptions{HubSpot: hubspottest.Options{RefuseMergedWrites: true}, Env: []string{"LINEHUB_JOBS_LINE_RATE=2000"}})
	e.configureHubSpot("starter")
	c := e.connect("Shop")
	p := func(key string) string { return fmt.Sprintf("%s_%d", key, c.Serial) }
	uid := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "Hanako LINE"})
	at := time.Now().Add(-time.Minute)
	e.deliver(c, linetest.FollowEvent(uid, false, at), linetest.TextMessageEvent(uid, "hello", at.Add(time.Second)))
	e.settled()
	dummy := mustContact(t, e.HS, uid)

	customer, err := e.HS.AddContact(map[string]string{"email": "hanako@customer.example", "firstname": "Hanako"})
	if err != nil {
		t.Fatal(err)
	}
	merged, ok := e.HS.MergeContacts(customer, dummy.ID)
	if !ok {
		t.Fatal("merge failed")
	}
	// survivor reads the contact the merged record now is (it may be merged
	// again below) and checks what staff's merge promised to keep.
	survivor := func() hubspottest.Contact {
		t.Helper()
		got, ok := e.HS.Contact(merged)
		if !ok {
			t.Fatalf("merged record %s gone", merged)
		}
		if got.Properties["email"] != "hanako@customer.example" || got.Properties["firstname"] != "Hanako" {
			t.Fatalf("customer's email or first name overwritten: %q %q", got.Properties["email"], got.Properties["firstname"])
		}
		if n := len(e.HS.Contacts()); n != 1 {
			t.Fatalf("%d live contacts, want only the merged one", n)
		}
		return got
	}

	t.Run("a block as the first event after the merge reaches the merged contact", func(t *testing.T) {
		e.LINE.Block(c.token, uid)
		e.deliver(c, linetest.UnfollowEvent(uid, at.Add(2*time.Second)))
		e.settled()
		expectProps(t, survivor(), map[string]string{p("line_follow"): "No", p("line_user_id"): uid})
	})

	t.Run("a re-follow and a message after it update the merged contact at once", func(t *testing.T) {
		e.LINE.Unblock(c.token, uid)
		start := time.Now()
		e.deliver(c, linetest.FollowEvent(uid, true, time.Now()), linetest.TextMessageEvent(uid, "back again", time.Now()))
		e.eventually("the merged contact has the message", func() bool {
			got, _ := e.HS.Contact(merged)
			return got.Properties[p("line_last_response")] == "back again"
		})
		t.Logf("message to merged contact: %v", time.Since(start).Round(time.Millisecond))
		e.settled()
		expectProps(t, survivor(), map[string]string{p("line_follow"): "Yes", p("line_unanswered"): "Yes", p("line_last_response"): "back again"})
	})

	t.Run("drift repair compares a contact merged again since", func(t *testing.T) {
		cur := survivor()
		other, err := e.HS.AddContact(map[string]string{"email": "hanako.work@customer.example"})
		if err != nil {
			t.Fatal(err)
		}
		again, _ := e.HS.MergeContacts(cur.ID, other)
		// Another app (not a person) overwrites a LINE property.
		e.HS.EditContactAs(again, map[string]string{p("line_last_response"): "spam"}, hubspottest.SourceIntegration)
		run := e.runNow(fmt.Sprintf("/connections/%d/drift-repair", c.ID))
		if !strings.Contains(run.Message, "merged=1") || !strings.Contains(run.Message, "properties_repaired=1") {
			t.Fatalf("drift repair run: %q, want merged=1 properties_repaired=1", run.Message)
		}
		e.settled()
		expectProps(t, survivor(), map[string]string{p("line_last_response"): "back again"})
		// The friend now follows the newest record: a message goes there
		// directly, with no write to an old id.
		e.HS.ResetCounters()
		e.deliver(c, linetest.TextMessageEvent(uid, "third", time.Now()))
		e.settled()
		if got, _ := e.HS.Contact(again); got.Properties[p("line_last_response")] != "third" {
			t.Fatalf("message after drift repair: %q", got.Properties[p("line_last_response")])
		}
		if n := e.HS.RequestsByPath()["POST /crm/objects/2026-03/contacts/batch/read"]; n != 0 {
			t.Errorf("%d id reads after drift repair adopted the merged id, want 0", n)
		}
	})

	t.Run("a message as the first event after a merge is written at once", func(t *testing.T) {
		cur := survivor()
		other, err := e.HS.AddContact(map[string]string{"email": "hanako.home@customer.example"})
		if err != nil {
			t.Fatal(err)
		}
		newest, _ := e.HS.MergeContacts(cur.ID, other)
		start := time.Now()
		e.deliver(c, linetest.TextMessageEvent(uid, "fourth", time.Now()))
		e.eventually("the merged contact has the message", func() bool {
			got, _ := e.HS.Contact(newest)
			return got.Properties[p("line_last_response")] == "fourth"
		})
		// Measured, not asserted: the unit tests prove it takes one round.
		t.Logf("first message after a merge reached the merged contact in %v", time.Since(start).Round(time.Millisecond))
		e.settled()
		survivor()
	})
}
