package hubspot

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
)

func TestListsAndMembers(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{RatePer10s: -1}, Config{})
	ctx := context.Background()
	var ids []string
	for i := range 600 {
		ids = append(ids, fmt.Sprint(5000+i))
	}
	vip := srv.AddList("VIP customers", ids)
	srv.AddList("Newsletter", nil)

	lists, _, more, err := c.SearchLists(ctx, "vip", 0, 20)
	if err != nil || more || len(lists) != 1 || lists[0].ID != vip || lists[0].Size != 600 || lists[0].Name != "VIP customers" {
		t.Fatalf("%+v %v %v", lists, more, err)
	}
	all, _, _, err := c.SearchLists(ctx, "", 0, 20)
	if err != nil || len(all) != 2 {
		t.Fatalf("all lists: %+v %v", all, err)
	}
	var got []string
	after, pages := "", 0
	for {
		page, next, err := c.ListMembers(ctx, vip, after)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, page...)
		if next == "" {
			break
		}
		after = next
	}
	if len(got) != 600 || pages != 3 {
		t.Fatalf("%d members in %d pages", len(got), pages)
	}
	if _, _, err := c.ListMembers(ctx, "999", ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown list: %v", err)
	}
}

func TestBatchCreateNotes(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{RatePer10s: -1}, Config{})
	ctx := context.Background()
	ct, err := c.CreateContact(ctx, map[string]string{"email": "n@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var notes []Note
	for i := range 150 {
		notes = append(notes, Note{ContactID: ct.ID, Body: fmt.Sprintf("message %d", i), Timestamp: time.UnixMilli(int64(1_700_000_000_000 + i))})
	}
	ids, err := c.BatchCreateNotes(ctx, notes)
	if err != nil || len(ids) != 150 || ids[0] == "" || ids[149] == "" {
		t.Fatalf("%d ids, %v", len(ids), err)
	}
	got := srv.Notes(ct.ID)
	if len(got) != 150 || got[149].Body != "message 149" || got[0].Timestamp != "1700000000000" {
		t.Fatalf("%d notes: %+v", len(got), got[0])
	}
	if by := srv.RequestsByPath()["POST /crm/objects/2026-03/notes/batch/create"]; by != 2 {
		t.Fatalf("%d batch requests, want 2", by)
	}
	// A note on a contact that does not exist is refused.
	if _, err := c.BatchCreateNotes(ctx, []Note{{ContactID: "424242", Body: "x", Timestamp: time.Now()}}); err == nil {
		t.Fatal("note on a missing contact accepted")
	}
}
