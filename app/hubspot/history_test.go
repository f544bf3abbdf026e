package hubspot

import (
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
)

func TestBatchReadContactsWithHistory(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{RatePer10s: -1}, Config{})
	setupProps(t, c, 1)
	ctx := ctxT(t)
	res, err := c.BatchCreateContacts(ctx, []ContactInput{
		{Ref: "a", Email: "a@line.example.com", Properties: map[string]string{"line_unanswered_1": "Yes"}},
		{Ref: "b", Email: "b@line.example.com", Properties: map[string]string{"line_unanswered_1": "Yes"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := res.Contacts["a"].ID, res.Contacts["b"].ID
	time.Sleep(2 * time.Millisecond)
	srv.EditContact(a, map[string]string{"line_unanswered_1": "No"})
	srv.DeleteContact(b)

	found, notFound, err := c.BatchReadContactsWithHistory(ctx, []string{a, b}, []string{"line_unanswered_1", "line_follow_1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(notFound) != 1 || notFound[0] != b {
		t.Fatalf("notFound = %v, want [%s]", notFound, b)
	}
	got := found[a]
	if got.Properties["line_unanswered_1"] != "No" {
		t.Fatalf("current value %q", got.Properties["line_unanswered_1"])
	}
	h := got.History["line_unanswered_1"]
	if len(h) != 2 || h[0].Value != "No" || h[0].SourceType != "CRM_UI" || h[1].Value != "Yes" || h[1].SourceType != "INTEGRATION" ||
		!h[0].Timestamp.After(h[1].Timestamp) {
		t.Fatalf("history newest first with sources, got %+v", h)
	}
	if hf, ok := got.History["line_follow_1"]; !ok || len(hf) != 0 {
		t.Errorf("never-set property history = %+v, %v; want an empty list", hf, ok)
	}
}
