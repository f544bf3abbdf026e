package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
)

// A batch create whose answer never arrives is not sent again by the
// client (HubSpot has no idempotency key for notes), and the notes it
// created are found again by marker through the contacts' associations,
// page after page, without reading notes the caller already knows.
func TestNotesLostAnswerFoundByMarker(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{RatePer10s: -1, AssociationsPage: 7}, Config{RetryBaseDelay: time.Millisecond})
	ctx := context.Background()
	a, err := c.CreateContact(ctx, map[string]string{"email": "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateContact(ctx, map[string]string{"email": "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Earlier notes on both contacts, some known to the caller.
	var old []Note
	for i := range 20 {
		old = append(old, Note{ContactID: []string{a.ID, b.ID}[i%2], Body: fmt.Sprintf("old %d", i), Timestamp: time.Now(), Marker: fmt.Sprintf("lhold%02d", i)})
	}
	oldIDs, err := c.BatchCreateNotes(ctx, old)
	if err != nil {
		t.Fatal(err)
	}

	srv.SetAfterNotes(func([]hubspottest.Note) bool { return true })
	notes := []Note{
		{ContactID: a.ID, Body: "hello", Timestamp: time.Now(), Marker: "lhnew0a"},
		{ContactID: b.ID, Body: strings.Repeat("x", maxNoteBody+10), Timestamp: time.Now(), Marker: "lhnew0b"},
	}
	if _, err := c.BatchCreateNotes(ctx, notes); err == nil {
		t.Fatal("a batch whose answer was cut reported success")
	}
	srv.SetAfterNotes(nil)
	if n := len(srv.AllNotes()); n != 22 {
		t.Fatalf("%d notes in HubSpot, want 22: the cut batch was sent again", n)
	}
	if by := srv.RequestsByPath()["POST /crm/objects/2026-03/notes/batch/create"]; by != 2 {
		t.Fatalf("%d batch creates, want 2", by)
	}

	srv.ResetCounters()
	known := map[string]bool{}
	for _, id := range oldIDs[:10] {
		known[id] = true
	}
	found, err := c.FindNotes(ctx, map[string]string{"lhnew0a": a.ID, "lhnew0b": b.ID, "lhmissing": a.ID}, func(ids []string) (map[string]bool, error) {
		out := map[string]bool{}
		for _, id := range ids {
			out[id] = known[id]
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found["lhnew0a"] == "" || found["lhnew0b"] == "" {
		t.Fatalf("found %v", found)
	}
	for _, n := range srv.AllNotes() {
		if n.ID == found["lhnew0b"] && (len(n.Body) > maxNoteBody || !strings.HasSuffix(n.Body, "lhnew0b")) {
			t.Fatalf("long body: %d bytes, ends %q", len(n.Body), n.Body[len(n.Body)-20:])
		}
	}
	by := srv.RequestsByPath()
	// 11 notes per contact in pages of 7: two association pages each.
	if by["POST /crm/associations/2026-03/contacts/notes/batch/read"] != 2 || by["POST /crm/objects/2026-03/notes/batch/read"] != 1 {
		t.Fatalf("requests: %v", by)
	}

	// A 5xx is not retried either: HubSpot may have applied the batch.
	srv.ResetCounters()
	srv.SetFault(func(r *http.Request) (int, string, bool) {
		return http.StatusBadGateway, `<html>502 Bad Gateway</html>`, strings.HasSuffix(r.URL.Path, "/notes/batch/create")
	})
	if _, err := c.BatchCreateNotes(ctx, notes[:1]); err == nil {
		t.Fatal("502 reported as success")
	}
	if by := srv.RequestsByPath()["POST /crm/objects/2026-03/notes/batch/create"]; by != 1 {
		t.Fatalf("%d batch creates after a 502, want 1", by)
	}
}
