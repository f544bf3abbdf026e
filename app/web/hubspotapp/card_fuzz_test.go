package hubspotapp

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCardPart reads message objects as LINE's webhooks deliver them (and
// as linehub stored them): whatever arrives, the card gets a bounded part
// whose URLs are https or absent.
func FuzzCardPart(f *testing.F) {
	for _, s := range []string{
		`{"type":"text","text":"hello"}`,
		`{"type":"sticker","packageId":"446","stickerId":"1988","keywords":["happy","hello"]}`,
		`{"type":"image","id":"1","contentProvider":{"type":"line"}}`,
		`{"type":"image","contentProvider":{"type":"external","originalContentUrl":"https://a.example/x.jpg","previewImageUrl":"https://a.example/s.jpg"}}`,
		`{"type":"image","originalContentUrl":"javascript:alert(1)","previewImageUrl":"http://a.example/s.jpg"}`,
		`{"type":"flex","altText":"menu"}`,
		`{"type":"location","title":"Shop","address":"Tokyo"}`,
		`[1,2]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := cardPart(json.RawMessage(raw))
		if p.Type == "" {
			t.Fatalf("no type for %q", raw)
		}
		for _, u := range []string{p.URL, p.PreviewURL} {
			if u != "" && !strings.HasPrefix(u, "https://") {
				t.Fatalf("non-https URL %q from %q", u, raw)
			}
		}
		if utf8.RuneCountInString(p.Text) > cardMaxPartText+1 || len(p.Keywords) > 5 {
			t.Fatalf("unbounded part from %q: %d runes, %d keywords", raw, utf8.RuneCountInString(p.Text), len(p.Keywords))
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("part does not encode: %v", err)
		}
	})
}
