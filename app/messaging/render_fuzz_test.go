package messaging

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"linehub/app/line"
)

// FuzzVerifySignatureV3: the timestamp and signature headers, the URI and
// the body come from whoever calls the workflow URL. Nothing panics; a
// request signed with the secret passes; the same request with a body
// byte changed, or signed with another secret, fails.
func FuzzVerifySignatureV3(f *testing.F) {
	f.Add("POST", "https://hub.example.com/hooks/hubspot/send/k?template=a%2Cb", []byte(`{"objectId":1}`), "", "")
	f.Add("GET", "/x?y=%3A%2F", []byte{}, "1764547200000", "AAAA")
	f.Add("POST", "", []byte("\x00\xff"), "-1", "not base64!")
	f.Add("POST", "/k", []byte(`{}`), "99999999999999999999", "")
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, method, uri string, body []byte, ts, sig string) {
		_ = VerifySignatureV3("s3cret", method, uri, body, ts, sig, now) // any input: an answer, no panic

		good := strconv.FormatInt(now.UnixMilli(), 10)
		signed := sign("s3cret", method, decodeSignedURI(uri), body, good)
		if err := VerifySignatureV3("s3cret", method, uri, body, good, signed, now); err != nil {
			t.Fatalf("correctly signed request refused: %v", err)
		}
		if err := VerifySignatureV3("other", method, uri, body, good, signed, now); err == nil {
			t.Fatal("request signed with another secret accepted")
		}
		if len(body) > 0 {
			changed := bytes.Clone(body)
			changed[0] ^= 1
			if err := VerifySignatureV3("s3cret", method, uri, changed, good, signed, now); err == nil {
				t.Fatal("request with a changed body accepted")
			}
		}
	})
}

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
