package line_test

import (
	"encoding/json"
	"testing"

	"linehub/app/line"
)

// FuzzParseMessages: message JSON comes from API clients and HubSpot
// workflows. Whatever it is, ParseMessages either refuses it or returns 1-5
// objects that validate again and are valid JSON.
func FuzzParseMessages(f *testing.F) {
	for _, s := range []string{
		`{"type":"text","text":"hi"}`,
		`[{"type":"sticker","packageId":"446","stickerId":"1988"},{"type":"image","originalContentUrl":"https://x/a.jpg","previewImageUrl":"https://x/p.jpg"}]`,
		`[{"type":"flex","altText":"a","contents":{"type":"bubble"}}]`,
		`[]`, `{"type":"video"}`, `[{"type":"text","text":""}]`, `nul`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		msgs, err := line.ParseMessages(raw)
		if err != nil {
			return
		}
		if len(msgs) < 1 || len(msgs) > 5 {
			t.Fatalf("%d messages accepted", len(msgs))
		}
		for _, m := range msgs {
			if !json.Valid(m) {
				t.Fatalf("invalid JSON returned: %q", m)
			}
			if err := line.ValidateMessage(m); err != nil {
				t.Fatalf("returned message does not validate: %v", err)
			}
		}
	})
}
