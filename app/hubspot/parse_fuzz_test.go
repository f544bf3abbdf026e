package hubspot

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseAPIError feeds arbitrary bodies to the error parser: whatever
// HubSpot or a proxy in front of it sends, parsing must not panic, must keep
// the status, and must keep (a bounded prefix of) the body for diagnosis.
func FuzzParseAPIError(f *testing.F) {
	f.Add(401, []byte(`{"status":"error","message":"Authentication credentials not found.","correlationId":"a1b2","category":"INVALID_AUTHENTICATION"}`))
	f.Add(429, []byte(`{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"c0","policyName":"DAILY","requestId":"r"}`))
	f.Add(409, []byte(`{"status":"error","message":"Contact already exists. Existing ID: 2926551","correlationId":"b6","category":"CONFLICT"}`))
	f.Add(400, []byte(`{"status":"error","message":"x","category":"VALIDATION_ERROR","context":{"ids":["1",2,{"a":1}],"s":"v"},"errors":[{"message":"m","code":"INVALID_OPTION","context":"{missingScopes=[a]}","subCategory":{}}]}`))
	f.Add(502, []byte(`<html>Bad Gateway</html>`))
	f.Add(500, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseAPIError(status, body)
		if e == nil {
			t.Fatal("nil error")
		}
		if e.Status != status {
			t.Fatalf("status %d, want %d", e.Status, status)
		}
		if len(body) <= maxErrorBody && e.Body != string(body) {
			t.Fatalf("body not kept")
		}
		if len(body) > maxErrorBody && !strings.HasPrefix(e.Body, string(body[:maxErrorBody])) {
			t.Fatalf("long body not kept as prefix")
		}
		_ = e.Error()
		_, _ = e.ExistingID()
		var probe map[string]json.RawMessage
		if json.Unmarshal(body, &probe) == nil {
			var msg string
			if json.Unmarshal(probe["message"], &msg) == nil && utf8.ValidString(msg) && e.Message != msg {
				t.Fatalf("message %q, want %q", e.Message, msg)
			}
		}
	})
}

// FuzzParseBatchResponse checks the 2xx batch decoder on arbitrary bodies:
// no panic, and a body it accepts yields a result per object it contains.
func FuzzParseBatchResponse(f *testing.F) {
	f.Add([]byte(`{"status":"COMPLETE","results":[{"id":"512","properties":{"email":"a@b.c","lastname":null},"createdAt":"2019-10-30T03:30:17.883Z","updatedAt":"2019-12-07T16:50:06.678Z","archived":false,"new":true,"objectWriteTraceId":"lh1"}],"startedAt":"2023-11-07T05:31:56Z","completedAt":"2023-11-07T05:31:56Z"}`))
	f.Add([]byte(`{"status":"COMPLETE","results":[],"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.","context":{"ids":["8380080352"]}}]}`))
	f.Add([]byte(`{"results":[{"id":1}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		br, err := parseBatchResponse(body)
		if err != nil {
			return
		}
		var probe struct {
			Results []json.RawMessage `json:"results"`
		}
		if json.Unmarshal(body, &probe) == nil && len(probe.Results) != len(br.Results) {
			t.Fatalf("%d results decoded, body has %d", len(br.Results), len(probe.Results))
		}
		for _, r := range br.Results {
			if r.contact.Properties == nil {
				t.Fatal("nil properties map")
			}
		}
	})
}

// FuzzParseHistoryBatch checks the decoder of batch reads with
// propertiesWithHistory: no panic, and every version list it returns is
// newest first.
func FuzzParseHistoryBatch(f *testing.F) {
	f.Add([]byte(`{"status":"COMPLETE","results":[{"id":"7","properties":{"line_unanswered_1":"No"},"propertiesWithHistory":{"line_unanswered_1":[{"value":"No","timestamp":"2026-11-25T06:00:00.000Z","sourceType":"CRM_UI","sourceId":"userId:1","updatedByUserId":1},{"value":"Yes","timestamp":"2026-11-25T05:00:00.000Z","sourceType":"INTEGRATION","sourceId":"123"}],"line_follow_1":[]},"createdAt":"2026-11-25T05:00:00.000Z","updatedAt":"2026-11-25T06:00:00.000Z","archived":false}],"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"Could not get some CONTACT objects","context":{"ids":["8"]}}]}`))
	f.Add([]byte(`{"results":[{"id":"1","propertiesWithHistory":{"p":[{"value":null,"timestamp":"bad"},{"timestamp":"2020-01-01T00:00:00Z"}]}}]}`))
	f.Add([]byte(`{"results":[{"id":"1","propertiesWithHistory":{"p":{"value":"x"}}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		found := map[string]ContactHistory{}
		if _, err := parseHistoryBatch(body, found); err != nil {
			return
		}
		for _, c := range found {
			for name, vs := range c.History {
				for i := 1; i < len(vs); i++ {
					if vs[i].Timestamp.After(vs[i-1].Timestamp) {
						t.Fatalf("%s history not newest first: %v", name, vs)
					}
				}
			}
		}
	})
}
