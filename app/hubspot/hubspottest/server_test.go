package hubspottest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const token = "pat-na1-double"

type client struct {
	t   *testing.T
	srv *Server
}

func newDouble(t *testing.T, opts Options) *client {
	t.Helper()
	opts.Token = token
	s := New(opts)
	t.Cleanup(s.Close)
	return &client{t, s}
}

// call sends a request and decodes the JSON answer into a generic map.
func (c *client) call(method, path, body string, hdr ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL()+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return res.StatusCode, res.Header, out
}

func (c *client) mustCreateProps() {
	c.t.Helper()
	if st, _, b := c.call("POST", "/crm/properties/2026-03/contacts/groups", `{"name":"linehub_1","label":"LINE 1"}`); st != 201 {
		c.t.Fatalf("group: %d %v", st, b)
	}
	st, _, b := c.call("POST", "/crm/properties/2026-03/contacts/batch/create", `{"inputs":[
		{"name":"line_follow_1","label":"LINE Follow _ 1","type":"enumeration","fieldType":"radio","groupName":"linehub_1","options":[{"label":"Yes","value":"Yes"},{"label":"No","value":"No"}]},
		{"name":"line_id_sync_date_1","label":"LINE ID Sync Date _ 1","type":"datetime","fieldType":"date","groupName":"linehub_1"},
		{"name":"line_user_id_1","label":"LINE User ID _ 1","type":"string","fieldType":"text","groupName":"linehub_1"}]}`)
	if st != 201 {
		c.t.Fatalf("properties: %d %v", st, b)
	}
}

func TestAuth(t *testing.T) {
	c := newDouble(t, Options{})
	tests := []struct {
		name, auth string
	}{
		{"missing", ""},
		{"wrong", "Bearer nope"},
		{"not bearer", "Basic " + token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.srv.URL()+"/account-info/2026-03/details", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != 401 || body["status"] != "error" || body["category"] != "INVALID_AUTHENTICATION" || body["correlationId"] == "" || body["message"] == "" {
				t.Errorf("%d %v", res.StatusCode, body)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	c := newDouble(t, Options{PortalID: 77, TimeZone: "Asia/Tokyo"})
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/account-info/2026-03/details", 200},
		{"GET", "/account-info/v3/details", 404},
		{"POST", "/crm/v3/objects/contacts/batch/create", 404},
		{"GET", "/crm/properties/2026-03/contacts/email", 200},
		{"GET", "/crm/properties/2026-03/contacts/nope", 404},
		{"GET", "/crm/properties/2026-03/contacts/groups/contactinformation", 200},
		{"GET", "/crm/properties/2026-03/deals", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			if st, _, b := c.call(tt.method, tt.path, ""); st != tt.want {
				t.Errorf("%d %v, want %d", st, b, tt.want)
			}
		})
	}
	_, _, acct := c.call("GET", "/account-info/2026-03/details", "")
	if acct["portalId"] != float64(77) || acct["timeZone"] != "Asia/Tokyo" || acct["utcOffset"] != "+09:00" {
		t.Errorf("account = %v", acct)
	}
}

func TestPropertyConflictsAndValidation(t *testing.T) {
	c := newDouble(t, Options{})
	c.mustCreateProps()
	tests := []struct {
		name, path, body string
		want             int
		category         string
	}{
		{"group exists", "/crm/properties/2026-03/contacts/groups", `{"name":"linehub_1","label":"x"}`, 409, "OBJECT_ALREADY_EXISTS"},
		{"property exists", "/crm/properties/2026-03/contacts", `{"name":"line_follow_1","label":"x","type":"string","fieldType":"text","groupName":"linehub_1"}`, 409, "OBJECT_ALREADY_EXISTS"},
		{"batch with one existing", "/crm/properties/2026-03/contacts/batch/create", `{"inputs":[{"name":"new_one","label":"x","type":"string","fieldType":"text","groupName":"linehub_1"},{"name":"line_follow_1","label":"x","type":"string","fieldType":"text","groupName":"linehub_1"}]}`, 409, "OBJECT_ALREADY_EXISTS"},
		{"bad fieldType", "/crm/properties/2026-03/contacts", `{"name":"p2","label":"x","type":"datetime","fieldType":"text","groupName":"linehub_1"}`, 400, "VALIDATION_ERROR"},
		{"unknown group", "/crm/properties/2026-03/contacts", `{"name":"p3","label":"x","type":"string","fieldType":"text","groupName":"nope"}`, 400, "VALIDATION_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, b := c.call("POST", tt.path, tt.body)
			if st != tt.want || b["category"] != tt.category {
				t.Errorf("%d %v, want %d %s", st, b, tt.want, tt.category)
			}
		})
	}
	if _, ok := c.srv.Property("new_one"); ok {
		t.Error("a refused batch created some of its properties")
	}
}

func TestContactValidation(t *testing.T) {
	c := newDouble(t, Options{DisableMultiStatus: true})
	c.mustCreateProps()
	tests := []struct {
		name, props string
		want        int
		code        string
	}{
		{"bad option", `{"email":"a@x.io","line_follow_1":"Maybe"}`, 400, "INVALID_OPTION"},
		{"unknown property", `{"email":"a@x.io","line_nope_1":"x"}`, 400, "PROPERTY_DOESNT_EXIST"},
		{"read-only", `{"email":"a@x.io","hs_object_id":"5"}`, 400, "READ_ONLY_VALUE"},
		{"bad datetime", `{"email":"a@x.io","line_id_sync_date_1":"tuesday"}`, 400, "INVALID_DATE"},
		{"bad email", `{"email":"not an email"}`, 400, "INVALID_EMAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"inputs":[{"properties":{"email":"ok@x.io"}},{"properties":%s}]}`, tt.props)
			st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/batch/create", body)
			msg, _ := b["message"].(string)
			if st != tt.want || b["category"] != "VALIDATION_ERROR" || !strings.HasPrefix(msg, "Property values were not valid: ") || !strings.Contains(msg, tt.code) {
				t.Errorf("%d %v", st, b)
			}
			if len(c.srv.Contacts()) != 0 {
				t.Error("the whole batch should be refused")
			}
		})
	}
}

func TestBatchLimitsAndConflicts(t *testing.T) {
	c := newDouble(t, Options{DisableMultiStatus: true})
	var inputs []string
	for i := 0; i < 101; i++ {
		inputs = append(inputs, fmt.Sprintf(`{"properties":{"email":"u%d@x.io"}}`, i))
	}
	if st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/batch/create", `{"inputs":[`+strings.Join(inputs, ",")+`]}`); st != 400 || b["category"] != "VALIDATION_ERROR" {
		t.Errorf("101 inputs: %d %v", st, b)
	}
	st, _, b := c.call("POST", "/crm/objects/2026-03/contacts", `{"properties":{"email":"Mixed.Case@X.io","firstname":"A"}}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, b)
	}
	id := b["id"].(string)
	props := b["properties"].(map[string]any)
	if props["email"] != "mixed.case@x.io" || props["hs_object_id"] != id {
		t.Errorf("stored as %v", props)
	}
	st, _, b = c.call("POST", "/crm/objects/2026-03/contacts/batch/create", `{"inputs":[{"properties":{"email":"new@x.io"}},{"properties":{"email":"MIXED.case@x.io"}}]}`)
	if st != 409 || b["category"] != "CONFLICT" || b["message"] != "Contact already exists. Existing ID: "+id {
		t.Errorf("conflict: %d %v", st, b)
	}
}

func TestMultiStatusCreate(t *testing.T) {
	c := newDouble(t, Options{})
	c.mustCreateProps()
	c.call("POST", "/crm/objects/2026-03/contacts", `{"properties":{"email":"taken@x.io"}}`)
	st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/batch/create", `{"inputs":[
		{"properties":{"email":"ok@x.io"},"objectWriteTraceId":"t1"},
		{"properties":{"email":"taken@x.io"},"objectWriteTraceId":"t2"},
		{"properties":{"email":"bad@x.io","line_follow_1":"Maybe"},"objectWriteTraceId":"t3"}]}`)
	if st != 207 || b["numErrors"] != float64(2) {
		t.Fatalf("%d %v", st, b)
	}
	res := b["results"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["objectWriteTraceId"] != "t1" {
		t.Errorf("results %v", res)
	}
	if _, ok := c.srv.ContactByEmail("bad@x.io"); ok {
		t.Error("invalid input was created")
	}
}

func TestUpdateAndReadDeleted(t *testing.T) {
	c := newDouble(t, Options{})
	c.mustCreateProps()
	_, _, b := c.call("POST", "/crm/objects/2026-03/contacts", `{"properties":{"email":"a@x.io"}}`)
	a := b["id"].(string)
	_, _, b = c.call("POST", "/crm/objects/2026-03/contacts", `{"properties":{"email":"b@x.io"}}`)
	gone := b["id"].(string)
	c.srv.DeleteContact(gone)

	for _, action := range []string{"update", "read"} {
		t.Run(action, func(t *testing.T) {
			body := fmt.Sprintf(`{"inputs":[{"id":%q,"properties":{"line_follow_1":"No"}},{"id":%q,"properties":{"line_follow_1":"No"}}]}`, a, gone)
			st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/batch/"+action, body)
			errs, _ := b["errors"].([]any)
			if st != 207 || len(errs) != 1 {
				t.Fatalf("%d %v", st, b)
			}
			e := errs[0].(map[string]any)
			ids := e["context"].(map[string]any)["ids"].([]any)
			if e["category"] != "OBJECT_NOT_FOUND" || len(ids) != 1 || ids[0] != gone || !strings.Contains(e["message"].(string), "may be deleted or not exist") {
				t.Errorf("error %v", e)
			}
		})
	}
	if ct, _ := c.srv.Contact(a); ct.Properties["line_follow_1"] != "No" {
		t.Errorf("live contact not updated: %v", ct.Properties)
	}
	// The deleted contact's email is free again.
	if st, _, b := c.call("POST", "/crm/objects/2026-03/contacts", `{"properties":{"email":"b@x.io"}}`); st != 201 || b["id"] == gone {
		t.Errorf("recreate: %d %v", st, b)
	}
}

func TestDateTimeValues(t *testing.T) {
	c := newDouble(t, Options{})
	c.mustCreateProps()
	ms := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC).UnixMilli()
	tests := []struct{ in, want string }{
		{fmt.Sprint(ms), "2026-03-01T12:30:00.000Z"},
		{"2026-03-01T21:30:00+09:00", "2026-03-01T12:30:00.000Z"},
		{"2026-03-01T12:30:00.5Z", "2026-03-01T12:30:00.500Z"},
		{"2026-03-01", "2026-03-01T00:00:00.000Z"},
	}
	for i, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			body := fmt.Sprintf(`{"properties":{"email":"d%d@x.io","line_id_sync_date_1":%q}}`, i, tt.in)
			st, _, b := c.call("POST", "/crm/objects/2026-03/contacts", body)
			if st != 201 {
				t.Fatalf("%d %v", st, b)
			}
			if got := b["properties"].(map[string]any)["line_id_sync_date_1"]; got != tt.want {
				t.Errorf("stored %v, want %s", got, tt.want)
			}
		})
	}
}

func TestRateLimitHeadersAnd429(t *testing.T) {
	c := newDouble(t, Options{RatePer10s: 2, Window: time.Hour, DailyLimit: 10})
	for i := 0; i < 2; i++ {
		st, h, _ := c.call("GET", "/account-info/2026-03/details", "")
		if st != 200 || h.Get("X-HubSpot-RateLimit-Max") != "2" || h.Get("X-HubSpot-RateLimit-Remaining") != fmt.Sprint(1-i) ||
			h.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "3600000" || h.Get("X-HubSpot-RateLimit-Daily") != "10" ||
			h.Get("X-HubSpot-RateLimit-Daily-Remaining") != fmt.Sprint(9-i) {
			t.Fatalf("call %d: %d %v", i, st, h)
		}
	}
	st, h, b := c.call("GET", "/account-info/2026-03/details", "")
	if st != 429 || h.Get("X-HubSpot-RateLimit-Remaining") != "0" || b["policyName"] != "TEN_SECONDLY_ROLLING" ||
		b["errorType"] != "RATE_LIMIT" || b["message"] != "You have reached your ten_secondly_rolling limit." || b["correlationId"] == "" {
		t.Errorf("%d %v %v", st, h, b)
	}
	if c.srv.RateLimited() != 1 || c.srv.Requests() != 3 {
		t.Errorf("RateLimited %d, Requests %d", c.srv.RateLimited(), c.srv.Requests())
	}
}

func TestDailyAndSearchLimits(t *testing.T) {
	c := newDouble(t, Options{RatePer10s: -1, SearchPerSec: 1, SearchWindow: time.Hour, DailyLimit: 3})
	if st, _, _ := c.call("POST", "/crm/objects/2026-03/contacts/search", `{}`); st != 200 {
		t.Fatalf("first search %d", st)
	}
	st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/search", `{}`)
	if st != 429 || b["policyName"] != "SECONDLY" {
		t.Errorf("second search: %d %v", st, b)
	}
	c.call("GET", "/account-info/2026-03/details", "")
	c.call("GET", "/account-info/2026-03/details", "")
	st, h, b := c.call("GET", "/account-info/2026-03/details", "")
	if st != 429 || b["policyName"] != "DAILY" || b["message"] != "You have reached your daily limit." || h.Get("X-HubSpot-RateLimit-Daily-Remaining") != "0" {
		t.Errorf("daily: %d %v %v", st, h, b)
	}
}

func TestSearch(t *testing.T) {
	c := newDouble(t, Options{SearchPerSec: -1})
	c.mustCreateProps()
	for i := 0; i < 5; i++ {
		c.call("POST", "/crm/objects/2026-03/contacts", fmt.Sprintf(`{"properties":{"email":"s%d@x.io","line_user_id_1":"U%d"}}`, i, i))
	}
	c.call("POST", "/crm/objects/2026-03/contacts", `{"properties":{"email":"nouser@x.io"}}`)
	tests := []struct {
		name, body string
		want       int
		status     int
	}{
		{"EQ", `{"filterGroups":[{"filters":[{"propertyName":"line_user_id_1","operator":"EQ","value":"u3"}]}]}`, 1, 200},
		{"IN", `{"filterGroups":[{"filters":[{"propertyName":"line_user_id_1","operator":"IN","values":["U1","U2","U9"]}]}]}`, 2, 200},
		{"HAS_PROPERTY", `{"filterGroups":[{"filters":[{"propertyName":"line_user_id_1","operator":"HAS_PROPERTY"}]}]}`, 5, 200},
		{"NOT_HAS_PROPERTY", `{"filterGroups":[{"filters":[{"propertyName":"line_user_id_1","operator":"NOT_HAS_PROPERTY"}]}]}`, 1, 200},
		{"OR of groups", `{"filterGroups":[{"filters":[{"propertyName":"line_user_id_1","operator":"EQ","value":"U0"}]},{"filters":[{"propertyName":"email","operator":"EQ","value":"nouser@x.io"}]}]}`, 2, 200},
		{"limit too big", `{"limit":201}`, 0, 400},
		{"past 10000", `{"limit":100,"after":"9950"}`, 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, b := c.call("POST", "/crm/objects/2026-03/contacts/search", tt.body)
			if st != tt.status {
				t.Fatalf("%d %v", st, b)
			}
			if st == 200 && b["total"] != float64(tt.want) {
				t.Errorf("total %v, want %d", b["total"], tt.want)
			}
		})
	}
	_, _, b := c.call("POST", "/crm/objects/2026-03/contacts/search", `{"limit":4}`)
	next := b["paging"].(map[string]any)["next"].(map[string]any)["after"]
	_, _, b = c.call("POST", "/crm/objects/2026-03/contacts/search", fmt.Sprintf(`{"limit":4,"after":%q}`, next))
	if len(b["results"].([]any)) != 2 || b["paging"] != nil {
		t.Errorf("second page %v", b)
	}
}

func TestFaultAndCounters(t *testing.T) {
	c := newDouble(t, Options{})
	c.srv.SetFault(func(r *http.Request) (int, string, bool) {
		return 503, "unavailable", strings.HasSuffix(r.URL.Path, "/details")
	})
	if st, _, _ := c.call("GET", "/account-info/2026-03/details", ""); st != 503 {
		t.Errorf("fault not applied: %d", st)
	}
	c.srv.SetFault(nil)
	if st, _, _ := c.call("GET", "/account-info/2026-03/details", ""); st != 200 {
		t.Errorf("fault not cleared: %d", st)
	}
	if got := c.srv.RequestsByPath()["GET /account-info/2026-03/details"]; got != 2 {
		t.Errorf("by path %d", got)
	}
	c.srv.ResetCounters()
	if c.srv.Requests() != 0 || len(c.srv.RequestsByPath()) != 0 {
		t.Error("counters not reset")
	}
}

func TestUIEdits(t *testing.T) {
	c := newDouble(t, Options{})
	c.mustCreateProps()
	_, _, b := c.call("POST", "/crm/objects/2026-03/contacts", `{"properties":{"email":"e@x.io","line_follow_1":"Yes"}}`)
	id := b["id"].(string)
	before, _ := c.srv.Contact(id)
	requests := c.srv.Requests()
	time.Sleep(2 * time.Millisecond)
	c.srv.EditContact(id, map[string]string{"line_follow_1": "No", "email": "New@X.io"})
	after, _ := c.srv.Contact(id)
	if after.Properties["line_follow_1"] != "No" || !after.PropertyUpdatedAt["line_follow_1"].After(before.PropertyUpdatedAt["line_follow_1"]) {
		t.Errorf("edit not applied: %+v", after)
	}
	if _, ok := c.srv.ContactByEmail("new@x.io"); !ok {
		t.Error("email index not updated")
	}
	if _, ok := c.srv.ContactByEmail("e@x.io"); ok {
		t.Error("old email still indexed")
	}
	if c.srv.Requests() != requests {
		t.Errorf("UI edits counted as API requests: %d", c.srv.Requests())
	}
}

func TestAddContact(t *testing.T) {
	s := New(Options{Token: "t"})
	defer s.Close()
	id, err := s.AddContact(map[string]string{"email": "Taro@Example.com", "firstname": "太郎"})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := s.ContactByEmail("taro@example.com"); !ok || c.ID != id || c.Properties["firstname"] != "太郎" {
		t.Fatalf("added contact: %+v %v", c, ok)
	}
	if _, err := s.AddContact(map[string]string{"email": "taro@example.com"}); err == nil {
		t.Fatal("a second contact with a taken email was added")
	}
	if _, err := s.AddContact(map[string]string{"no_such_property": "x"}); err == nil {
		t.Fatal("a contact with an unknown property was added")
	}
	if n := len(s.Contacts()); n != 1 || s.Requests() != 0 {
		t.Fatalf("%d contacts, %d requests counted; want 1 and 0", n, s.Requests())
	}
}
