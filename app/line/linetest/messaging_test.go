package linetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMulticastLimitsAndRetryKey(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.AddChannel(Channel{Secret: "s", Token: "tok"})
	ids := make([]string, 501)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", NewUserID())
	}
	msg := `"messages":[{"type":"text","text":"hi"}]`
	if st, body, _ := call(t, s, "POST", "/v2/bot/message/multicast", "tok", `{"to":[`+strings.Join(ids, ",")+`],`+msg+`}`, nil); st != 400 || !strings.Contains(body, "between 1 and 500") {
		t.Fatalf("501 recipients: %d %s", st, body)
	}
	if st, _, _ := call(t, s, "POST", "/v2/bot/message/multicast", "tok", `{"to":[],`+msg+`}`, nil); st != 400 {
		t.Fatalf("no recipients: %d", st)
	}
	key := map[string]string{"X-Line-Retry-Key": "123e4567-e89b-12d3-a456-426614174000"}
	body := `{"to":[` + strings.Join(ids[:500], ",") + `],` + msg + `}`
	if st, _, _ := call(t, s, "POST", "/v2/bot/message/multicast", "tok", body, key); st != 200 {
		t.Fatalf("500 recipients: %d", st)
	}
	st, _, h := call(t, s, "POST", "/v2/bot/message/multicast", "tok", body, key)
	if st != 409 || h.Get("X-Line-Accepted-Request-Id") == "" {
		t.Fatalf("repeated retry key: %d %v", st, h)
	}
	if m := s.Multicasts("tok"); len(m) != 1 || len(m[0].To) != 500 {
		t.Fatalf("multicasts: %d", len(m))
	}
	if st, body, _ := call(t, s, "GET", "/v2/bot/message/quota/consumption", "tok", "", nil); st != 200 || body != `{"totalUsage":500}` {
		t.Fatalf("consumption: %d %s", st, body)
	}
}

func TestQuota(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.AddChannel(Channel{Secret: "s", Token: "tok"})
	if _, body, _ := call(t, s, "GET", "/v2/bot/message/quota", "tok", "", nil); body != `{"type":"none"}` {
		t.Fatalf("no limit: %s", body)
	}
	s.SetQuota("tok", 2, 1)
	if _, body, _ := call(t, s, "GET", "/v2/bot/message/quota", "tok", "", nil); body != `{"type":"limited","value":2}` {
		t.Fatalf("limited: %s", body)
	}
	u := NewUserID()
	push := `{"to":"` + u + `","messages":[{"type":"text","text":"hi"}]}`
	if st, _, _ := call(t, s, "POST", "/v2/bot/message/push", "tok", push, nil); st != 200 {
		t.Fatalf("within quota: %d", st)
	}
	if st, body, _ := call(t, s, "POST", "/v2/bot/message/push", "tok", push, nil); st != 429 || !strings.Contains(body, "monthly limit") {
		t.Fatalf("over quota: %d %s", st, body)
	}
}

func TestReplyTokens(t *testing.T) {
	now := time.Now()
	s := New(Options{Now: func() time.Time { return now }, ReplyTokenTTL: time.Minute})
	defer s.Close()
	s.AddChannel(Channel{Secret: "s", Token: "tok"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	u := NewUserID()
	ev := TextMessageEvent(u, "hi", now)
	if _, err := s.Deliver(context.Background(), srv.URL, "tok", ev); err != nil {
		t.Fatal(err)
	}
	var e struct {
		ReplyToken string `json:"replyToken"`
	}
	mustUnmarshal(t, ev, &e)
	reply := `{"replyToken":"` + e.ReplyToken + `","messages":[{"type":"text","text":"hello"}]}`
	if st, _, _ := call(t, s, "POST", "/v2/bot/message/reply", "tok", `{"replyToken":"never-issued","messages":[{"type":"text","text":"x"}]}`, nil); st != 400 {
		t.Fatalf("unknown token: %d", st)
	}
	if st, _, _ := call(t, s, "POST", "/v2/bot/message/reply", "tok", reply, nil); st != 200 {
		t.Fatalf("first use: %d", st)
	}
	if st, body, _ := call(t, s, "POST", "/v2/bot/message/reply", "tok", reply, nil); st != 400 || !strings.Contains(body, "Invalid reply token") {
		t.Fatalf("second use: %d %s", st, body)
	}
	// Expiry: a minute later the next token no longer works.
	ev2 := TextMessageEvent(u, "again", now)
	s.IssueReplyTokens("tok", ev2)
	mustUnmarshal(t, ev2, &e)
	now = now.Add(61 * time.Second)
	if st, _, _ := call(t, s, "POST", "/v2/bot/message/reply", "tok", `{"replyToken":"`+e.ReplyToken+`","messages":[{"type":"text","text":"late"}]}`, nil); st != 400 {
		t.Fatalf("expired token: %d", st)
	}
	if r := s.Replies("tok"); len(r) != 1 || r[0].UserID != u || r[0].Texts[0] != "hello" {
		t.Fatalf("replies %+v", r)
	}
	// Replies are free: no consumption.
	if _, body, _ := call(t, s, "GET", "/v2/bot/message/quota/consumption", "tok", "", nil); body != `{"totalUsage":0}` {
		t.Fatalf("consumption after reply: %s", body)
	}
}

func mustUnmarshal(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}
