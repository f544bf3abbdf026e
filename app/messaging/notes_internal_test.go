package messaging

import (
	"strings"
	"testing"

	"linehub/app/hubspot/hubspottest"
)

// Staff merged a friend's contact by hand and linehub has not written to
// it since, so the friend still holds the merged-away id when its timeline
// notes go out. HubSpot does not document notes associated with such an
// id; when it refuses them as it refuses a deleted contact, the notes are
// not given up: the ids are read, and a merged one's notes go to the
// merged record while a deleted one's are refused alone.
func TestNotesFollowAMergedContact(t *testing.T) {
	fx := newFixtureWith(t, hubspottest.Options{RefuseMergedWrites: true})
	c := fx.connect("Shop")
	merging := fx.unansweredFriend(c, false)
	deleted := fx.unansweredFriend(c, false)
	dummy, _ := fx.contact(merging)
	gone, _ := fx.contact(deleted)
	customer, err := fx.hs.AddContact(map[string]string{"email": "alice@customer.example", "firstname": "Alice Real"})
	if err != nil {
		t.Fatal(err)
	}
	merged, ok := fx.hs.MergeContacts(customer, dummy.ID)
	if !ok {
		t.Fatal("merge failed")
	}
	fx.hs.DeleteContact(gone.ID)

	fx.b.SendPending(fx.ctx)

	notes := fx.hs.Notes(merged)
	if len(notes) != 1 || !strings.Contains(notes[0].Body, "question") {
		t.Fatalf("notes on the merged contact %s: %+v, want the friend's message", merged, notes)
	}
	if n := len(fx.hs.AllNotes()); n != 1 {
		t.Fatalf("%d notes in all, want 1", n)
	}
	rows, err := fx.st.PendingNotes(fx.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].UserID != deleted || rows[0].NoteAttempts != 1 {
		t.Fatalf("pending notes: %+v, want the deleted contact's message after one refused attempt", rows)
	}
}
