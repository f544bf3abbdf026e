package messaging

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"linehub/app/line"
)

// FuzzRender: message JSON comes from an admin or a workflow call, the
// property values from HubSpot contacts (anyone who fills a form). Nothing
// panics; what Render accepts is valid JSON that LINE's rules accept; a
// property value is inserted literally, never read as JSON or expanded
// again.
func FuzzRender(f *testing.F) {
	f.Add(`{"type":"text","text":"Hi {{firstname|there}}"}`, "Ann")
	f.Add(`{"type":"text","text":"{{ contact.firstname }} {{lastname}}"}`, `"},{"type":"x`)
	f.Add(`{"type":"flex","altText":"{{firstname}}","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"{{firstname}}"}]}}}`, "{{firstname}}")
	f.Add(`{"type":"sticker","packageId":"446","stickerId":"1988"}`, "")
	f.Add(`{"type":"text","text":"{{firstname}}"}`, "\x00\u2028<script>")
	f.Add(`[1,2`, "x")
	f.Fuzz(func(t *testing.T, msg, value string) {
		out, err := Render([]json.RawMessage{json.RawMessage(msg)}, map[string]string{"firstname": value})
		if err != nil {
			return
		}
		if len(out) != 1 || !json.Valid(out[0]) {
			t.Fatalf("rendered %q into invalid JSON %q", msg, out)
		}
		if err := line.ValidateMessage(out[0]); err != nil {
			t.Fatalf("rendered message LINE would refuse: %v\n%s", err, out[0])
		}

		// The value lands in the text exactly as it is.
		out, err = Render([]json.RawMessage{json.RawMessage(`{"type":"text","text":"<{{firstname}}>"}`)}, map[string]string{"firstname": value})
		if err != nil || !utf8.ValidString(value) {
			return // too long for LINE, or not text JSON can carry unchanged
		}
		var m struct{ Text string }
		_ = json.Unmarshal(out[0], &m)
		want := "<" + value + ">"
		if strings.TrimSpace(value) == "" {
			want = "<>"
		}
		if m.Text != want {
			t.Fatalf("value %q rendered as %q", value, m.Text)
		}
	})
}

func TestRenderDoesNotExpandValues(t *testing.T) {
	out, err := Render([]json.RawMessage{json.RawMessage(`{"type":"text","text":"Hi {{firstname}}"}`)},
		map[string]string{"firstname": "{{secret}}", "secret": "leaked"})
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Text string }
	_ = json.Unmarshal(out[0], &m)
	if m.Text != "Hi {{secret}}" {
		t.Fatalf("text = %q, want the value inserted literally", m.Text)
	}
}
