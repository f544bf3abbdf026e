package hubspottest

import (
	"fmt"
	"strings"
	"testing"
)

// mergedPair makes a customer (primary) and a LINE dummy contact and merges
// the dummy into the customer through the API.
func mergedPair(c *client) (customer, dummy, merged string) {
	c.t.Helper()
	c.mustCreateProps()
	customer, err := c.srv.AddContact(map[string]string{"email": "taro@customer.example", "firstname": "Taro"})
	if err != nil {
		c.t.Fatal(err)
	}
	dummy, err = c.srv.AddContact(map[string]string{"email": "u1@line.example.com", "firstname": "たろう", "line_follow_1": "Yes", "line_user_id_1": "U1"})
	if err != nil {
		c.t.Fatal(err)
	}
	st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/merge", fmt.Sprintf(`{"primaryObjectId":%q,"objectIdToMerge":%q}`, customer, dummy))
	if st != 200 {
		c.t.Fatalf("merge: %d %v", st, b)
	}
	merged, _ = b["id"].(string)
	if merged == "" || merged == customer || merged == dummy {
		c.t.Fatalf("merge answered id %q; HubSpot gives the merged record a new id", merged)
	}
	return customer, dummy, merged
}

func TestMergeKeepsThePrimarysValuesUnderANewID(t *testing.T) {
	c := newDouble(t, Options{})
	customer, dummy, merged := mergedPair(c)
	got, ok := c.srv.Contact(merged)
	if !ok {
		t.Fatal("merged record missing")
	}
	p := got.Properties
	if p["email"] != "taro@customer.example" || p["firstname"] != "Taro" || p["line_follow_1"] != "Yes" || p["line_user_id_1"] != "U1" {
		t.Fatalf("merged properties: %v", p)
	}
	if p[propAdditionalEmails] != "u1@line.example.com" || p[propMergedIDs] != customer+";"+dummy {
		t.Fatalf("merge bookkeeping: additional=%q merged=%q", p[propAdditionalEmails], p[propMergedIDs])
	}
	if n := len(c.srv.Contacts()); n != 1 {
		t.Fatalf("%d live contacts after the merge, want 1", n)
	}
	// Merging a record with itself (or with an id merged into it) is refused.
	st, _, _ := c.call("POST", "/crm/objects/2026-03/contacts/merge", fmt.Sprintf(`{"primaryObjectId":%q,"objectIdToMerge":%q}`, merged, dummy))
	if st != 400 {
		t.Fatalf("self merge: %d, want 400", st)
	}
	st, _, _ = c.call("POST", "/crm/objects/2026-03/contacts/merge", `{"primaryObjectId":"999999","objectIdToMerge":"1"}`)
	if st != 404 {
		t.Fatalf("merge of unknown ids: %d, want 404", st)
	}
}

func TestMergedIDsReadAsTheMergedRecord(t *testing.T) {
	c := newDouble(t, Options{})
	_, dummy, merged := mergedPair(c)
	gone, _ := c.srv.AddContact(map[string]string{"email": "deleted@example.com"})
	c.srv.DeleteContact(gone)

	st, _, b := c.call("GET", "/crm/objects/2026-03/contacts/"+dummy, "")
	if st != 200 || b["id"] != merged {
		t.Fatalf("GET merged-away id: %d id=%v, want 200 and %s", st, b["id"], merged)
	}
	st, _, b = c.call("POST", "/crm/objects/2026-03/contacts/batch/read",
		fmt.Sprintf(`{"inputs":[{"id":%q},{"id":%q}],"properties":["hs_merged_object_ids"]}`, dummy, gone))
	if st != 207 {
		t.Fatalf("batch read: %d %v", st, b)
	}
	res := b["results"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["id"] != merged {
		t.Fatalf("batch read results: %v", res)
	}
	if ids := res[0].(map[string]any)["properties"].(map[string]any)["hs_merged_object_ids"]; ids == nil {
		t.Fatal("hs_merged_object_ids not returned")
	}
	errs := b["errors"].([]any)
	if ctx := errs[0].(map[string]any)["context"].(map[string]any)["ids"].([]any); len(ctx) != 1 || ctx[0] != gone {
		t.Fatalf("not found ids: %v (a deleted id stays not found, a merged one does not)", ctx)
	}

	// The merged-away email is taken: a create conflicts with the merged
	// record, an upsert lands on it.
	st, _, b = c.call("POST", "/crm/objects/2026-03/contacts/batch/create",
		`{"inputs":[{"properties":{"email":"U1@line.example.com"},"objectWriteTraceId":"t1"}]}`)
	if st != 207 || fmt.Sprint(b["errors"]) == "" || !strings.Contains(fmt.Sprint(b["errors"]), "Existing ID: "+merged) {
		t.Fatalf("create with merged-away email: %d %v", st, b)
	}
	st, _, b = c.call("POST", "/crm/objects/2026-03/contacts/batch/upsert",
		`{"inputs":[{"id":"u1@line.example.com","idProperty":"email","properties":{"line_follow_1":"No"}}]}`)
	if st != 200 || b["results"].([]any)[0].(map[string]any)["id"] != merged {
		t.Fatalf("upsert by merged-away email: %d %v", st, b)
	}
}

func TestMergedIDWrites(t *testing.T) {
	t.Run("resolve to the merged record", func(t *testing.T) {
		c := newDouble(t, Options{})
		_, dummy, merged := mergedPair(c)
		st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/batch/update",
			fmt.Sprintf(`{"inputs":[{"id":%q,"properties":{"line_follow_1":"No"},"objectWriteTraceId":"t1"}]}`, dummy))
		if st != 200 {
			t.Fatalf("update: %d %v", st, b)
		}
		r := b["results"].([]any)[0].(map[string]any)
		if r["id"] != merged || r["objectWriteTraceId"] != "t1" {
			t.Fatalf("update result: %v", r)
		}
		if got, _ := c.srv.Contact(merged); got.Properties["line_follow_1"] != "No" || got.Properties["email"] != "taro@customer.example" {
			t.Fatalf("merged record after the write: %v", got.Properties)
		}
	})
	t.Run("refused", func(t *testing.T) {
		c := newDouble(t, Options{RefuseMergedWrites: true})
		_, dummy, merged := mergedPair(c)
		st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/batch/update",
			fmt.Sprintf(`{"inputs":[{"id":%q,"properties":{"line_follow_1":"No"},"objectWriteTraceId":"t1"}]}`, dummy))
		if st != 207 || !strings.Contains(fmt.Sprint(b["errors"]), "OBJECT_NOT_FOUND") {
			t.Fatalf("update of merged-away id: %d %v", st, b)
		}
		if got, _ := c.srv.Contact(merged); got.Properties["line_follow_1"] != "Yes" {
			t.Fatalf("refused write changed the merged record: %v", got.Properties)
		}
		// The new id itself takes writes.
		st, _, _ = c.call("POST", "/crm/objects/2026-03/contacts/batch/update",
			fmt.Sprintf(`{"inputs":[{"id":%q,"properties":{"line_follow_1":"No"}}]}`, merged))
		if st != 200 {
			t.Fatalf("update of merged id: %d", st)
		}
	})
}

func TestMergeContactsByHand(t *testing.T) {
	c := newDouble(t, Options{})
	c.mustCreateProps()
	a, _ := c.srv.AddContact(map[string]string{"email": "a@example.com"})
	b, _ := c.srv.AddContact(map[string]string{"email": "b@example.com", "line_follow_1": "Yes"})
	before := c.srv.Requests()
	id, ok := c.srv.MergeContacts(a, b)
	if !ok || c.srv.Requests() != before {
		t.Fatalf("MergeContacts: ok=%v, %d API requests counted", ok, c.srv.Requests()-before)
	}
	if c.srv.MergedInto(b) != id || c.srv.MergedInto(id) != "" {
		t.Fatalf("MergedInto: %q %q", c.srv.MergedInto(b), c.srv.MergedInto(id))
	}
	// A second merge chains: the first ids read as the newest record.
	d, _ := c.srv.AddContact(map[string]string{"email": "d@example.com"})
	id2, _ := c.srv.MergeContacts(d, id)
	if got, ok := c.srv.Contact(a); !ok || got.ID != id2 {
		t.Fatalf("first id after a second merge reads as %q, want %q", got.ID, id2)
	}
	if got, _ := c.srv.Contact(id2); got.Properties[propMergedIDs] != fmt.Sprintf("%s;%s;%s;%s", a, b, id, d) {
		t.Fatalf("merged ids: %q", got.Properties[propMergedIDs])
	}
	// Deleting the merged record frees every email it had.
	c.srv.DeleteContact(id2)
	if _, err := c.srv.AddContact(map[string]string{"email": "b@example.com"}); err != nil {
		t.Fatalf("email of a deleted merged record still taken: %v", err)
	}
}
