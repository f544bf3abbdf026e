package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestWebhookManyEventsInOneRequest: a signed request within the size limit
// is stored whatever its number of events (one INSERT of thousands of rows
// would pass SQLite's bound-parameter limit and answer 500 forever).
func TestWebhookManyEventsInOneRequest(t *testing.T) {
	e := newEnv(t, configured)
	c := e.createConn("Shop", true, false)
	const n = 4000 // > 32766 parameters / 10 columns
	evs := make([]json.RawMessage, n)
	for i := range evs {
		evs[i] = json.RawMessage(fmt.Sprintf(`{"type":"unfollow","mode":"active","timestamp":%d,"source":{"type":"user","userId":"U%032x"},"webhookEventId":"01TEST%020d","deliveryContext":{"isRedelivery":false}}`, 1700000000000+i, i, i))
	}
	body := linetest.Body(c.ch.bot, evs...)
	if len(body) > e.cfg.Webhook.MaxBodyBytes {
		t.Fatalf("test body %d bytes is over the limit", len(body))
	}
	if st := e.webhook(c.key, c.ch.secret, body); st != http.StatusOK {
		t.Fatalf("%d events: status %d", n, st)
	}
	if is := e.inbox(c); is.Total != n || is.Pending != n {
		t.Fatalf("inbox %+v, want %d pending", is, n)
	}
	// Redelivered as a whole: 200, nothing new.
	if st := e.webhook(c.key, c.ch.secret, body); st != http.StatusOK {
		t.Fatalf("redelivery: %d", st)
	}
	if is := e.inbox(c); is.Total != n {
		t.Fatalf("inbox after redelivery %+v", is)
	}
	if _, err := e.sync.ApplyPending(e.ctx); err != nil {
		t.Fatal(err)
	}
	st, out := e.api("GET", "/api/v1/connections/"+c.id, nil)
	fr := out["friends"].(map[string]any)
	if st != 200 || fr["total"] != float64(n) || fr["blocked"] != float64(n) || out["inbox"].(map[string]any)["pending"] != float64(0) {
		t.Fatalf("after apply: %d friends %v inbox %v", st, fr, out["inbox"])
	}
}

// FuzzWebhook posts arbitrary bodies, correctly signed, through the whole
// webhook path (fiber, signature, SDK parse, durable inbox) and then applies
// what was stored. app/line fuzzes the parser alone; this adds the store,
// the dedupe and the applier. Nothing may answer 5xx or panic, and the
// answer must agree with the parser.
func FuzzWebhook(f *testing.F) {
	now := time.Unix(1760000000, 0)
	u1, u2 := "U0123456789abcdef0123456789abcdef", "Ufedcba9876543210fedcba9876543210"
	text := linetest.TextMessageEvent(u1, "hello", now)
	for _, b := range [][]byte{
		linetest.Body("Ubot"),
		linetest.Body("Ubot", linetest.FollowEvent(u1, false, now), text),
		linetest.Body("Ubot", linetest.UnfollowEvent(u2, now), linetest.Redelivered(text)),
		linetest.Body("Ubot", linetest.StickerMessageEvent(u1, "1", "2", now), linetest.PostbackEvent(u2, "a=b", now)),
		linetest.Body("Ubot", linetest.GroupTextMessageEvent("C0123456789abcdef0123456789abcdef", u1, "hi", now)),
		[]byte(`{"destination":"U1","events":[{"type":"follow","timestamp":-5,"source":{"type":"user","userId":""}}]}`),
		[]byte(`{"destination":"U1","events":[{"type":"message","timestamp":1,"source":{"type":"user","userId":"U1"},"message":{"type":"text","id":"1","text":"\u0000\ud800"},"webhookEventId":"x"},{"type":"message","timestamp":1,"source":{"type":"user","userId":"U1"},"message":{"type":"text","id":"1","text":"dup"},"webhookEventId":"x"}]}`),
		[]byte(`{"destination":"U1","events":[{"type":"brandNewType","timestamp":9223372036854775807,"webhookEventId":"y"}]}`),
		[]byte(`{"events":null}`),
		[]byte(`{"destination":"U1","events":[1,"x",null]}`),
		[]byte(`[]`),
		[]byte(``),
	} {
		f.Add(b)
	}
	// Samples as LINE documents them, if present.
	if files, _ := filepath.Glob("../line/testdata/samples/*.json"); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}

	e := newEnv(f, configured)
	// No access token: nothing leaves the process while applying.
	c := e.createConn("Fuzz", true, false)

	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t // report through this run, never through f
		defer func() { e.t = f }()
		before := e.inbox(c)
		sig := line.Sign(c.ch.secret, body)
		hdr := map[string]string{"Content-Type": "application/json", "X-Line-Signature": sig}
		status, _, out := e.do("POST", "/webhook/"+c.key, hdr, body)
		if status >= 500 {
			t.Fatalf("status %d for a signed body: %s", status, out)
		}
		cb, perr := line.ParseWebhook(c.ch.secret, sig, body)
		switch {
		case len(body) > e.cfg.Webhook.MaxBodyBytes:
			if status != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized body: %d", status)
			}
			return
		case perr != nil:
			if status != http.StatusBadRequest {
				t.Fatalf("parser refused (%v) but the webhook answered %d", perr, status)
			}
		default:
			if status != http.StatusOK {
				t.Fatalf("parser accepted %d events but the webhook answered %d: %s", len(cb.Events), status, out)
			}
		}
		after := e.inbox(c)
		if grew := after.Total - before.Total; grew < 0 || grew > int64(len(cb.Events)) || (perr != nil && grew != 0) {
			t.Fatalf("inbox grew by %d for %d events (parse err %v)", grew, len(cb.Events), perr)
		}
		if _, err := e.sync.ApplyPending(e.ctx); err != nil {
			t.Fatalf("apply: %v", err)
		}
		if is := e.inbox(c); is.Pending != 0 {
			t.Fatalf("%d events left pending after apply", is.Pending)
		}
	})
}
