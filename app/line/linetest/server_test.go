package linetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewEventIDIsULID(t *testing.T) {
	ts := time.UnixMilli(1705891467176)
	id := NewEventID(ts)
	if len(id) != 26 {
		t.Fatalf("len = %d", len(id))
	}
	for _, c := range id {
		if !strings.ContainsRune(crockford, c) {
			t.Fatalf("%q has non-Crockford %q", id, c)
		}
	}
	// The first 10 characters are the milliseconds in base32 (LINE's
	// sample "01HMQGW40R..." decodes to 112ms after its event's timestamp).
	var ms int64
	for _, c := range id[:10] {
		ms = ms*32 + int64(strings.IndexRune(crockford, c))
	}
	if ms != ts.UnixMilli() {
		t.Fatalf("time part decodes to %d, want %d", ms, ts.UnixMilli())
	}
	if NewEventID(ts) == id {
		t.Fatal("two IDs for the same millisecond collide")
	}
}

func TestBodyAndRedelivered(t *testing.T) {
	if got := string(Body("U1")); got != `{"destination":"U1","events":[]}` {
		t.Fatalf("verify body = %s", got)
	}
	ev := UnfollowEvent("U1", time.UnixMilli(5))
	re := Redelivered(ev)
	var a, b map[string]any
	if err := json.Unmarshal(ev, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(re, &b); err != nil {
		t.Fatal(err)
	}
	if a["webhookEventId"] != b["webhookEventId"] || a["timestamp"] != b["timestamp"] {
		t.Fatal("redelivery changed identity")
	}
	if b["deliveryContext"].(map[string]any)["isRedelivery"] != true {
		t.Fatal("isRedelivery not set")
	}
	if _, ok := a["replyToken"]; ok {
		t.Fatal("unfollow events have no reply token")
	}
}

func TestNewOnBadAddress(t *testing.T) {
	if _, err := NewOn("256.0.0.1:0", Options{}); err == nil {
		t.Fatal("bad address accepted")
	}
}

func call(t *testing.T, s *Server, method, path, token, body string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func TestServerValidation(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.AddChannel(Channel{Token: "tok", Secret: "sec", Verified: true})

	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		contains                 string
	}{
		{"push without messages", "POST", "/v2/bot/message/push", `{"to":"U1","messages":[]}`, nil, 400, `"property":"messages"`},
		{"push empty text", "POST", "/v2/bot/message/push", `{"to":"U1","messages":[{"type":"text","text":""}]}`, nil, 400, `messages[0].text`},
		{"push unknown type", "POST", "/v2/bot/message/push", `{"to":"U1","messages":[{"type":"bogus"}]}`, nil, 400, `messages[0].type`},
		{"push not json", "POST", "/v2/bot/message/push", `{`, nil, 400, "could not be parsed as JSON"},
		{"push bad retry key", "POST", "/v2/bot/message/push", `{"to":"U1","messages":[{"type":"text","text":"x"}]}`, map[string]string{"X-Line-Retry-Key": "not-a-uuid"}, 400, "X-Line-Retry-Key"},
		{"followers limit too big", "GET", "/v2/bot/followers/ids?limit=1001", "", nil, 400, "limit"},
		{"followers bad start", "GET", "/v2/bot/followers/ids?start=zzz", "", nil, 400, "start"},
		{"profile malformed id", "GET", "/v2/bot/profile/nobody", "", nil, 400, "userId"},
		{"profile unknown well-formed id", "GET", "/v2/bot/profile/U0123456789abcdef0123456789abcdef", "", nil, 404, `{"message":"Not found"}`},
		{"unknown endpoint", "GET", "/v2/bot/nothing", "", nil, 404, "Not found"},
		{"webhook test with nothing set", "POST", "/v2/bot/channel/webhook/test", `{}`, nil, 404, "Webhook endpoint not found"},
		{"set webhook not https", "PUT", "/v2/bot/channel/webhook/endpoint", `{"endpoint":"http://example.com/x"}`, nil, 400, "Invalid webhook endpoint URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, h := call(t, s, tt.method, tt.path, "tok", tt.body, tt.hdr)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("%d %s, want %d containing %s", status, body, tt.status, tt.contains)
			}
			if h.Get("X-Line-Request-Id") == "" {
				t.Fatal("no X-Line-Request-Id")
			}
			if len(s.Pushes("tok")) != 0 {
				t.Fatal("rejected push was recorded")
			}
		})
	}
}

func TestServerPush409(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.AddChannel(Channel{Token: "tok", Secret: "sec"})
	hdr := map[string]string{"X-Line-Retry-Key": "123e4567-e89b-12d3-a456-426614174000"}
	body := `{"to":"U1","messages":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`
	status, first, h1 := call(t, s, "POST", "/v2/bot/message/push", "tok", body, hdr)
	if status != 200 || !strings.Contains(first, "sentMessages") {
		t.Fatalf("%d %s", status, first)
	}
	status, again, h2 := call(t, s, "POST", "/v2/bot/message/push", "tok", body, hdr)
	if status != 409 || !strings.Contains(again, "The retry key is already accepted") {
		t.Fatalf("%d %s", status, again)
	}
	if got, want := h2.Get("X-Line-Accepted-Request-Id"), h1.Get("X-Line-Request-Id"); got == "" || got != want {
		t.Fatalf("accepted request id %q, want %q", got, want)
	}
	if p := s.Pushes("tok"); len(p) != 1 || strings.Join(p[0].Texts, ",") != "a,b" || p[0].Delivered {
		t.Fatalf("pushes = %+v", p)
	}
}

func TestDeliverUnknownToken(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	if _, err := s.Deliver(context.Background(), "http://127.0.0.1:1/", "nope"); err == nil {
		t.Fatal("unknown channel accepted")
	}
}

// GET .../webhook/endpoint answers as LINE documents it: 404 while unset,
// then the endpoint and whether "Use webhook" is on, which only the
// console (SetWebhookActive here) changes.
func TestServerWebhookEndpointActive(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.AddChannel(Channel{Token: "tok", Secret: "sec"})
	const path = "/v2/bot/channel/webhook/endpoint"
	if st, body, _ := call(t, s, "GET", path, "tok", "", nil); st != 404 || !strings.Contains(body, "Webhook endpoint not found") {
		t.Fatalf("unset: %d %s", st, body)
	}
	if st, body, _ := call(t, s, "PUT", path, "tok", `{"endpoint":"https://hub.example.com/webhook/k"}`, nil); st != 200 {
		t.Fatalf("set: %d %s", st, body)
	}
	get := func() (out struct {
		Endpoint *string `json:"endpoint"`
		Active   *bool   `json:"active"`
	}) {
		t.Helper()
		st, body, _ := call(t, s, "GET", path, "tok", "", nil)
		if st != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Endpoint == nil || out.Active == nil {
			t.Fatalf("get: %d %s", st, body)
		}
		return out
	}
	if got := get(); *got.Endpoint != "https://hub.example.com/webhook/k" || !*got.Active {
		t.Fatalf("after set: %q active=%v", *got.Endpoint, *got.Active)
	}
	s.SetWebhookActive("tok", false)
	if got := get(); *got.Active {
		t.Fatal("active after SetWebhookActive(false)")
	}
	// Setting the URL again does not turn it on: only the console does.
	call(t, s, "PUT", path, "tok", `{"endpoint":"https://hub.example.com/webhook/k2"}`, nil)
	if got := get(); *got.Active || *got.Endpoint != "https://hub.example.com/webhook/k2" {
		t.Fatalf("after a second set: %q active=%v", *got.Endpoint, *got.Active)
	}
}
