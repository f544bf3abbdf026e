package hubspot

import (
	"net/http"
	"strings"
	"testing"

	"linehub/app/hubspot/hubspottest"
)

func TestResolveContactIDsTellsAMergeFromADeletion(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	live, _ := srv.AddContact(map[string]string{"email": "live@example.com"})
	a, _ := srv.AddContact(map[string]string{"email": "a@example.com"})
	b, _ := srv.AddContact(map[string]string{"email": "b@example.com"})
	merged, _ := srv.MergeContacts(a, b)
	gone, _ := srv.AddContact(map[string]string{"email": "gone@example.com"})
	srv.DeleteContact(gone)

	got, err := c.ResolveContactIDs(ctxT(t), []string{live, a, b, gone})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Live[live] || got.Merged[a] != merged || got.Merged[b] != merged || !got.Gone[gone] || len(got.Live) != 1 || len(got.Gone) != 1 {
		t.Fatalf("resolution: %+v (merged into %s)", got, merged)
	}
}

// An update answer without objectWriteTraceId that carries the merged
// contact's new id is still matched to its input, by the merged ids.
func TestBatchUpdateMatchesAnAnswerUnderTheMergedID(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	srv.SetFault(func(r *http.Request) (int, string, bool) {
		if !strings.HasSuffix(r.URL.Path, "/contacts/batch/update") {
			return 0, "", false
		}
		return 200, `{"status":"COMPLETE","results":[{"id":"2002","properties":{"hs_merged_object_ids":"1001;1500","line_follow_1":"No"},
			"createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-02T00:00:00.000Z","archived":false}],
			"startedAt":"2026-01-02T00:00:00.000Z","completedAt":"2026-01-02T00:00:00.000Z"}`, true
	})
	res, err := c.BatchUpdateContacts(ctxT(t), []ContactInput{{Ref: "f1", ID: "1001", Properties: map[string]string{"line_follow_1": "No"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := res.Contacts["f1"]; !ok || got.ID != "2002" || len(res.NotFound) != 0 || len(res.Failed) != 0 {
		t.Fatalf("result: %+v", res)
	}
}

// MergeContacts sends HubSpot's documented body (primaryObjectId,
// objectIdToMerge) to the date-versioned merge path, once: the primary's
// email stays the email and both old ids read as the new record.
func TestMergeContacts(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	real, _ := srv.AddContact(map[string]string{"email": "real@example.com", "firstname": "Real"})
	dummy, _ := srv.AddContact(map[string]string{"email": "u1@line.example.com", "firstname": "LINE name"})
	var paths []string
	srv.SetFault(func(r *http.Request) (int, string, bool) {
		paths = append(paths, r.Method+" "+r.URL.Path)
		return 0, "", false
	})
	m, err := c.MergeContacts(ctxT(t), real, dummy)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != "POST /crm/objects/2026-03/contacts/merge" {
		t.Fatalf("requests = %v", paths)
	}
	if m.ID == real || m.ID == dummy || m.Properties["email"] != "real@example.com" || m.Properties["firstname"] != "Real" {
		t.Fatalf("merged = %+v", m)
	}
	if srv.MergedInto(real) != m.ID || srv.MergedInto(dummy) != m.ID {
		t.Fatal("old ids do not read as the merged record")
	}
	// Merging them again is refused (they are one record now): an error,
	// not a retry.
	paths = nil
	if _, err := c.MergeContacts(ctxT(t), real, dummy); err == nil || len(paths) != 1 {
		t.Fatalf("second merge: %v after %d requests", err, len(paths))
	}
}

// Filter groups are ORed: a search by name finds first or last names.
func TestSearchContactsGroups(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	a, _ := srv.AddContact(map[string]string{"email": "a@example.com", "firstname": "Sato"})
	b, _ := srv.AddContact(map[string]string{"email": "b@example.com", "lastname": "Sato"})
	srv.AddContact(map[string]string{"email": "c@example.com", "firstname": "Suzuki"})
	res, err := c.SearchContacts(ctxT(t), SearchRequest{
		Filters: []Filter{{PropertyName: "firstname", Operator: "CONTAINS_TOKEN", Value: "sato"}},
		Groups:  [][]Filter{{{PropertyName: "lastname", Operator: "CONTAINS_TOKEN", Value: "sato"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Contacts) != 2 || res.Contacts[0].ID != a || res.Contacts[1].ID != b {
		t.Fatalf("found %+v", res.Contacts)
	}
}
