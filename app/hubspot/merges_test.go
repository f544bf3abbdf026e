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
