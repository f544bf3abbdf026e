package line_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

const testSecret = "8c570fa6dd201bb328f1c1eac23a96d8"

func TestParseWebhookSignature(t *testing.T) {
	body := linetest.Body("Ubot", linetest.TextMessageEvent("U1", "hi", time.Now()))
	good := line.Sign(testSecret, body)
	tampered := bytes.Replace(body, []byte(`"hi"`), []byte(`"ho"`), 1)

	tests := []struct {
		name    string
		secret  string
		sig     string
		body    []byte
		wantErr error
	}{
		{"good", testSecret, good, body, nil},
		{"good, header value padded", testSecret, " " + good + " ", body, nil},
		{"missing", testSecret, "", body, line.ErrNoSignature},
		{"wrong secret", "another-secret", good, body, line.ErrBadSignature},
		{"body tampered", testSecret, good, tampered, line.ErrBadSignature},
		{"signature of other body", testSecret, line.Sign(testSecret, tampered), body, line.ErrBadSignature},
		{"not base64", testSecret, "%%%not-base64%%%", body, line.ErrBadSignature},
		{"no secret configured", "", line.Sign("", body), body, line.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, err := line.ParseWebhook(tt.secret, tt.sig, tt.body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && len(cb.Events) != 1 {
				t.Fatalf("got %d events, want 1", len(cb.Events))
			}
			if tt.wantErr != nil && len(cb.Events) != 0 {
				t.Fatalf("events returned with error: %+v", cb.Events)
			}
		})
	}
}

func TestSignKnownAnswer(t *testing.T) {
	// Known answer, computed independently with
	// printf '{}' | openssl dgst -sha256 -hmac secret -binary | base64
	if got, want := line.Sign("secret", []byte("{}")), "dzJZAsrKgS3CWXM6rNBGtzgXNyx3e42VtAJkdHRRbhM="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestParseWebhookVerifyRequest(t *testing.T) {
	for _, body := range [][]byte{
		linetest.Body("U206d25c2ea6bd87c17655609a1c37cb8"),
		readSample(t, "verify.json"),
	} {
		cb, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
		if err != nil {
			t.Fatalf("verify request: %v", err)
		}
		if len(cb.Events) != 0 {
			t.Fatalf("got %d events, want 0", len(cb.Events))
		}
		if cb.Destination == "" {
			t.Fatal("destination lost")
		}
	}
}

func TestParseWebhookBadBody(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		jsonSyntax bool // the json error is reachable with errors.As
	}{
		{"not json", `hello`, false},
		{"truncated", `{"destination":"U1","events":[`, true},
		{"array", `[]`, false},
		{"null", `null`, false},
		{"empty", ``, false},
		{"no events", `{"destination":"U1"}`, false},
		{"events null", `{"destination":"U1","events":null}`, false},
		{"events not array", `{"destination":"U1","events":{}}`, false},
		{"event not object", `{"destination":"U1","events":[1]}`, false},
		{"event without type", `{"destination":"U1","events":[{"timestamp":1}]}`, false},
		{"timestamp not a number", `{"destination":"U1","events":[{"type":"unfollow","timestamp":"x"}]}`, false},
		{"text not a string", `{"destination":"U1","events":[{"type":"message","message":{"type":"text","id":"1","text":5}}]}`, false},
		{"bad source", `{"destination":"U1","events":[{"type":"follow","source":"U1"}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			_, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
			if !errors.Is(err, line.ErrBadBody) {
				t.Fatalf("err = %v, want ErrBadBody", err)
			}
			var se *json.SyntaxError
			if tt.jsonSyntax && !errors.As(err, &se) {
				t.Fatalf("json error not wrapped: %v", err)
			}
		})
	}
}

func TestEventFromBuilders(t *testing.T) {
	ts := time.Date(2025, 3, 1, 9, 30, 0, 123e6, time.UTC)
	const user = "U3d3edab4f36c6292e6d8a8131f141b8b"
	tests := []struct {
		name  string
		raw   json.RawMessage
		want  line.Event // ID, Raw and ReplyToken are checked separately
		reply bool
	}{
		{"follow", linetest.FollowEvent(user, false, ts),
			line.Event{Type: "follow", SourceType: "user", UserID: user}, true},
		{"follow unblocked", linetest.FollowEvent(user, true, ts),
			line.Event{Type: "follow", SourceType: "user", UserID: user, Unblocked: true}, true},
		{"unfollow", linetest.UnfollowEvent(user, ts),
			line.Event{Type: "unfollow", SourceType: "user", UserID: user}, false},
		{"text", linetest.TextMessageEvent(user, "Can I book a table?", ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "text", Summary: "Can I book a table?"}, true},
		{"sticker", linetest.StickerMessageEvent(user, "446", "1988", ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "sticker", Summary: "[Sticker]"}, true},
		{"image", linetest.ImageMessageEvent(user, ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "image", Summary: "[Image]"}, true},
		{"video", linetest.VideoMessageEvent(user, ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "video", Summary: "[Video]"}, true},
		{"audio", linetest.AudioMessageEvent(user, ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "audio", Summary: "[Audio]"}, true},
		{"file", linetest.FileMessageEvent(user, "quote.pdf", 2138, ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "file", Summary: "[File] quote.pdf"}, true},
		{"location with address", linetest.LocationMessageEvent(user, "Shop", "1-3 Kioicho, Tokyo", ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "location", Summary: "[Location] 1-3 Kioicho, Tokyo"}, true},
		{"location title only", linetest.LocationMessageEvent(user, "Shop", "", ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "location", Summary: "[Location] Shop"}, true},
		{"location bare", linetest.LocationMessageEvent(user, "", "", ts),
			line.Event{Type: "message", SourceType: "user", UserID: user, MessageType: "location", Summary: "[Location]"}, true},
		{"group text", linetest.GroupTextMessageEvent("Ca56f94637c0000000000000000000000", user, "hello all", ts),
			line.Event{Type: "message", SourceType: "group", UserID: user, GroupID: "Ca56f94637c0000000000000000000000", MessageType: "text", Summary: "hello all"}, true},
		{"room text", linetest.RoomTextMessageEvent("Ra8dbf4673c0000000000000000000000", user, "hi room", ts),
			line.Event{Type: "message", SourceType: "room", UserID: user, RoomID: "Ra8dbf4673c0000000000000000000000", MessageType: "text", Summary: "hi room"}, true},
		{"postback", linetest.PostbackEvent(user, "action=buy", ts),
			line.Event{Type: "postback", SourceType: "user", UserID: user}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := linetest.Body("Ubot", tt.raw)
			cb, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
			if err != nil {
				t.Fatal(err)
			}
			if len(cb.Events) != 1 {
				t.Fatalf("got %d events", len(cb.Events))
			}
			got := cb.Events[0]
			if got.ID != linetest.EventID(tt.raw) || len(got.ID) != 26 {
				t.Errorf("ID = %q, want the 26-char webhookEventId %q", got.ID, linetest.EventID(tt.raw))
			}
			if (got.ReplyToken != "") != tt.reply {
				t.Errorf("ReplyToken = %q, want present=%v", got.ReplyToken, tt.reply)
			}
			if !bytes.Equal(got.Raw, tt.raw) {
				t.Errorf("Raw = %s, want the event exactly as sent %s", got.Raw, tt.raw)
			}
			want := tt.want
			want.ID, want.ReplyToken, want.Raw = got.ID, got.ReplyToken, got.Raw
			want.Mode, want.Timestamp = "active", ts.UnixMilli()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("event =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestRedelivered(t *testing.T) {
	ev := linetest.TextMessageEvent("U1", "again", time.Now())
	body := linetest.Body("Ubot", ev, linetest.Redelivered(ev))
	cb, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
	if err != nil {
		t.Fatal(err)
	}
	first, again := cb.Events[0], cb.Events[1]
	if first.Redelivery || !again.Redelivery {
		t.Fatalf("Redelivery = %v, %v; want false, true", first.Redelivery, again.Redelivery)
	}
	if first.ID != again.ID || first.Timestamp != again.Timestamp || first.Summary != again.Summary {
		t.Fatalf("redelivery changed the event: %+v vs %+v", first, again)
	}
}

// TestReferenceSamples parses the examples from LINE's reference as sent
// (indented, properties in LINE's order) and checks what linehub keeps.
func TestReferenceSamples(t *testing.T) {
	type want struct {
		typ, source, user, group, room, msgType, summary, id, mode string
		unblocked, redelivery                                      bool
	}
	tests := []struct {
		file string
		want []want
	}{
		{"follow.json", []want{{typ: "follow", source: "user", user: "U3d3edab4f36c6292e6d8a8131f141b8b", id: "01HMQGW40RZJPJM3RAJP7BHC2Q", mode: "active"}}},
		{"follow_unblocked.json", []want{{typ: "follow", source: "user", user: "U4af4980629...", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active", unblocked: true}}},
		{"mixed.json", []want{
			{typ: "message", source: "user", user: "U80696558e1aa831...", msgType: "text", summary: "Hello, world", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"},
			{typ: "follow", source: "user", user: "Ufc729a925b3abef...", id: "01FZ74ASS536FW97EX38NKCZQK", mode: "active"},
			{typ: "unfollow", source: "user", user: "Ubbd4f124aee5113...", id: "01FZ74B5Y0F4TNKA5SCAVKPEDM", mode: "active"},
		}},
		{"text_group_mention.json", []want{{typ: "message", source: "group", user: "U4af4980629...", group: "Ca56f94637c...", msgType: "text", summary: "@All @example Good Morning!! (love)", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"image_set.json", []want{{typ: "message", source: "user", user: "U4af4980629...", msgType: "image", summary: "[Image]", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"video.json", []want{{typ: "message", source: "user", user: "U4af4980629...", msgType: "video", summary: "[Video]", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"audio.json", []want{{typ: "message", source: "user", user: "U4af4980629...", msgType: "audio", summary: "[Audio]", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"file.json", []want{{typ: "message", source: "user", user: "U4af4980629...", msgType: "file", summary: "[File] file.txt", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"location.json", []want{{typ: "message", source: "user", user: "U4af4980629...", msgType: "location", summary: "[Location] 1-3 Kioicho, Chiyoda-ku, Tokyo, 102-8282 Japan", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"sticker_message_group.json", []want{{typ: "message", source: "group", user: "Ub82c8fd9b...", group: "C99ae82bcd...", msgType: "sticker", summary: "[Sticker]", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"unsend_group.json", []want{{typ: "unsend", source: "group", user: "U4af4980629...", group: "Ca56f94637c...", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"membership.json", []want{{typ: "membership", source: "user", user: "U4af4980629...", id: "01FZ74A0TDDPYRVKNK77XKC3ZR", mode: "active"}}},
		{"room_text_redelivered.json", []want{{typ: "message", source: "room", user: "U4af4980629...", room: "Ra8dbf4673c...", msgType: "text", summary: "Hello, world", id: "01FZ74ASS536FW97EX38NKCZQK", mode: "standby", redelivery: true}}},
		{"verify.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readSample(t, tt.file)
			cb, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
			if err != nil {
				t.Fatal(err)
			}
			if len(cb.Events) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(cb.Events), len(tt.want))
			}
			for i, w := range tt.want {
				ev := cb.Events[i]
				got := want{ev.Type, ev.SourceType, ev.UserID, ev.GroupID, ev.RoomID, ev.MessageType, ev.Summary, ev.ID, ev.Mode, ev.Unblocked, ev.Redelivery}
				if got != w {
					t.Errorf("event %d =\n%+v\nwant\n%+v", i, got, w)
				}
				// Raw is the event's bytes exactly as they appear in the body.
				if !bytes.Contains(body, ev.Raw) || !json.Valid(ev.Raw) || ev.Raw[0] != '{' {
					t.Errorf("event %d Raw is not a verbatim slice of the body: %s", i, ev.Raw)
				}
			}
		})
	}
}

func TestDecodeEventRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "samples", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	bodies := [][]byte{linetest.Body("Ubot",
		linetest.FollowEvent("U1", true, time.Now()),
		linetest.LocationMessageEvent("U1", "t", "a", time.Now()),
		linetest.GroupTextMessageEvent("C1", "U1", "x", time.Now()),
	)}
	for _, f := range files {
		bodies = append(bodies, readSample(t, filepath.Base(f)))
	}
	n := 0
	for _, body := range bodies {
		cb, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range cb.Events {
			// Stored copies must not alias the request body.
			stored := append([]byte(nil), ev.Raw...)
			got, err := line.DecodeEvent(stored)
			if err != nil {
				t.Fatalf("DecodeEvent(%s): %v", stored, err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Fatalf("round trip changed the event:\n%+v\n%+v", got, ev)
			}
			n++
		}
	}
	if n < 15 {
		t.Fatalf("only %d events round-tripped", n)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	for _, raw := range []string{``, `null`, `[]`, `"x"`, `{`, `{"type":1}`, `{"timestamp":1}`} {
		if _, err := line.DecodeEvent([]byte(raw)); !errors.Is(err, line.ErrBadBody) {
			t.Errorf("DecodeEvent(%q) err = %v, want ErrBadBody", raw, err)
		}
	}
}

func TestUnknownTypesAreKept(t *testing.T) {
	// LINE adds event and message types over time; linehub must store them
	// (and answer 200) rather than reject the whole webhook.
	body := []byte(`{"destination":"U1","events":[` +
		`{"type":"somethingNew","mode":"active","timestamp":1,"source":{"type":"user","userId":"U2"},"webhookEventId":"01J0000000000000000000000A","deliveryContext":{"isRedelivery":false}},` +
		`{"type":"message","mode":"active","timestamp":2,"source":{"type":"user","userId":"U2"},"webhookEventId":"01J0000000000000000000000B","deliveryContext":{"isRedelivery":false},"message":{"id":"9","type":"hologram"}},` +
		`{"type":"message","mode":"active","timestamp":3,"source":{"type":"user","userId":"U2"},"webhookEventId":"01J0000000000000000000000C","deliveryContext":{"isRedelivery":false},"message":{"id":"9","type":"<b>x</b>"}}]}`)
	cb, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
	if err != nil {
		t.Fatal(err)
	}
	if got := cb.Events[0]; got.Type != "somethingNew" || got.UserID != "U2" || got.Summary != "" {
		t.Errorf("unknown event = %+v", got)
	}
	if got := cb.Events[1]; got.MessageType != "hologram" || got.Summary != "[Hologram]" {
		t.Errorf("unknown message = %+v", got)
	}
	if got := cb.Events[2]; got.Summary != "[Message]" {
		t.Errorf("odd message type summary = %q, want [Message]", got.Summary)
	}
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSamplesAreCompactlyEquivalent(t *testing.T) {
	// Guards the samples themselves: each must be valid JSON shaped like a
	// LINE body, so a typo does not silently weaken the tests and seeds.
	files, _ := filepath.Glob(filepath.Join("testdata", "samples", "*.json"))
	for _, f := range files {
		b := readSample(t, filepath.Base(f))
		var v struct {
			Destination string            `json:"destination"`
			Events      []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.Destination == "" || v.Events == nil {
			t.Errorf("%s is not a LINE webhook body: %v", f, err)
		}
		if strings.Contains(string(b), "\t") {
			t.Errorf("%s: tabs (samples are kept as LINE formats them)", f)
		}
	}
}
