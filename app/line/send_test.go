package line_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

func sendClient(t *testing.T) (*line.Client, *linetest.Server) {
	t.Helper()
	srv := linetest.New(linetest.Options{})
	t.Cleanup(srv.Close)
	srv.AddChannel(linetest.Channel{Secret: "sec", Token: "tok"})
	c, err := line.NewClient(line.Options{Token: "tok", APIBaseURL: srv.URL(), RetryBaseDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestMulticastRetryKeyMakesRetriesSafe(t *testing.T) {
	c, srv := sendClient(t)
	ctx := context.Background()
	to := []string{linetest.NewUserID(), linetest.NewUserID()}
	msgs := []json.RawMessage{line.TextMessage("sale")}
	for range 2 {
		if err := c.Multicast(ctx, to, msgs, "broadcast-7-chunk-0"); err != nil {
			t.Fatal(err)
		}
	}
	if m := srv.Multicasts("tok"); len(m) != 1 || m[0].RetryKey != line.RetryKey("broadcast-7-chunk-0") {
		t.Fatalf("multicasts %+v", m)
	}
	if err := c.Multicast(ctx, make([]string, 501), msgs, ""); err == nil {
		t.Fatal("501 recipients accepted")
	}
}

func TestReplyInvalidToken(t *testing.T) {
	c, _ := sendClient(t)
	err := c.Reply(context.Background(), "expired", []json.RawMessage{line.TextMessage("x")})
	if !errors.Is(err, line.ErrInvalidReplyToken) {
		t.Fatalf("%v", err)
	}
}

func TestQuotaAndQuotaExceeded(t *testing.T) {
	c, srv := sendClient(t)
	ctx := context.Background()
	q, err := c.Quota(ctx)
	if err != nil || q.Limited || q.Remaining() != -1 {
		t.Fatalf("%+v %v", q, err)
	}
	srv.SetQuota("tok", 10, 9)
	if q, err = c.Quota(ctx); err != nil || !q.Limited || q.Remaining() != 1 {
		t.Fatalf("%+v %v", q, err)
	}
	to := []string{linetest.NewUserID(), linetest.NewUserID()}
	err = c.Multicast(ctx, to, []json.RawMessage{line.TextMessage("x")}, "")
	if !errors.Is(err, line.ErrQuotaExceeded) {
		t.Fatalf("over quota: %v", err)
	}
}

func TestPushRateLimitedIsRetriedWithTheSameKey(t *testing.T) {
	c, srv := sendClient(t)
	n := 0
	srv.SetFault(func(r *http.Request) (int, string, bool) {
		if r.URL.Path == "/v2/bot/message/push" && n == 0 {
			n++
			return 429, `{"message":"The API rate limit has been exceeded. Try again later."}`, true
		}
		return 0, "", false
	})
	u := linetest.NewUserID()
	if err := c.Push(context.Background(), u, []json.RawMessage{line.TextMessage("x")}, "k1"); err != nil {
		t.Fatal(err)
	}
	if p := srv.Pushes("tok"); len(p) != 1 || p[0].RetryKey != line.RetryKey("k1") {
		t.Fatalf("%+v", p)
	}
}

func TestValidateMessage(t *testing.T) {
	for _, tc := range []struct {
		msg string
		ok  bool
	}{
		{`{"type":"text","text":"hi"}`, true},
		{`{"type":"text","text":" "}`, false},
		{`{"type":"image","originalContentUrl":"https://a/b.jpg","previewImageUrl":"https://a/p.jpg"}`, true},
		{`{"type":"image","originalContentUrl":"https://a/b.jpg"}`, false},
		{`{"type":"sticker","packageId":"446","stickerId":"1988"}`, true},
		{`{"type":"sticker","packageId":"446"}`, false},
		{`{"type":"flex","altText":"a","contents":{"type":"carousel","contents":[]}}`, true},
		{`{"type":"flex","altText":"a","contents":{"type":"box"}}`, false},
		{`{"type":"audio"}`, false},
		{`[]`, false},
	} {
		if err := line.ValidateMessage(json.RawMessage(tc.msg)); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.msg, err)
		}
	}
}
