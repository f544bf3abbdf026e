package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"linehub/app/line/linetest"
)

// noTrace fails if an answer shows anything of another call.
func noTrace(t *testing.T, what string, out any, traces ...string) {
	t.Helper()
	raw, _ := json.Marshal(out)
	for _, s := range traces {
		if strings.Contains(string(raw), s) {
			t.Errorf("%s: the answer shows %q of the first call: %s", what, s, raw)
		}
	}
}

// An idempotency key of the send API stands for one message to one
// friend: repeating the request is a duplicate, reusing the key for
// another friend or message is refused (409) and tells nothing of the
// first request.
func TestSendIdempotencyKeyBoundToRequest(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	alice, bob := linetest.NewUserID(), linetest.NewUserID()
	e.friendWithContact(c, alice, "Alice")
	e.friendWithContact(c, bob, "Bob")
	path := "/api/v1/connections/" + c.id + "/messages"

	a := map[string]any{"to": alice, "text": "Your parcel for Alice is at the counter", "idempotency_key": "k-1"}
	if st, out := e.api("POST", path, a); st != 202 || out["duplicate"] != false {
		t.Fatalf("first send: %d %v", st, out)
	}
	// The same request again (a client retry): a duplicate, nothing sent.
	if st, out := e.api("POST", path, a); st != 202 || out["duplicate"] != true {
		t.Fatalf("same key, same request: %d %v", st, out)
	}
	// The same content written differently (key order, spacing) is the
	// same request.
	same := map[string]any{"to": alice, "messages": json.RawMessage(`[ {"text":"Your parcel for Alice is at the counter", "type":"text"} ]`), "idempotency_key": "k-1"}
	if st, out := e.api("POST", path, same); st != 202 || out["duplicate"] != true {
		t.Fatalf("same key, same messages written differently: %d %v", st, out)
	}
	for name, b := range map[string]map[string]any{
		"other friend":  {"to": bob, "text": "Hi Bob", "idempotency_key": "k-1"},
		"other text":    {"to": alice, "text": "Another message", "idempotency_key": "k-1"},
		"other message": {"to": alice, "messages": []any{map[string]any{"type": "sticker", "packageId": "446", "stickerId": "1988"}}, "idempotency_key": "k-1"},
	} {
		st, out := e.api("POST", path, b)
		if st != 409 {
			t.Errorf("%s with a used key: %d %v, want 409", name, st, out)
		}
		noTrace(t, name, out, alice, "parcel")
	}
	// The header form is the same key.
	st, _, raw := e.do("POST", path, map[string]string{"Authorization": "Bearer " + e.apiToken, "Content-Type": "application/json", "Idempotency-Key": "k-1"},
		[]byte(`{"to":"`+bob+`","text":"Hi Bob"}`))
	if st != 409 {
		t.Errorf("header key reused for another friend: %d %s", st, raw)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 1 || p[0].To != alice {
		t.Fatalf("LINE got %+v, want only the first message", p)
	}
}

// The same holds for the workflow endpoint's idempotency_key, including a
// key whose first call LINE failed: reusing it for another message must
// not send the first message (nor the second).
func TestWorkflowIdempotencyKeyBoundToRequest(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	alice, bob := linetest.NewUserID(), linetest.NewUserID()
	ca := e.friendWithContact(c, alice, "Alice")
	cb := e.friendWithContact(c, bob, "Bob")
	_, key := e.api("POST", "/api/v1/connections/"+c.id+"/workflow/key", nil)
	apiKey := key["key"].(string)
	e.secrets = append(e.secrets, apiKey)
	idProp := "line_user_id_" + strconv.Itoa(c.serial)
	call := func(contact, uid, text, idem string) (int, map[string]any) {
		t.Helper()
		st, _, out := e.hook(hookCall{key: c.key, apiKey: apiKey, query: "text=" + url.QueryEscape(text),
			body: map[string]any{"objectId": contact, "idempotency_key": idem, "properties": map[string]any{idProp: uid}}})
		return st, out
	}

	if st, out := call(ca, alice, "Alice, your refund is approved", "wf-1"); st != 200 || out["status"] != "sent" {
		t.Fatalf("first call: %d %v", st, out)
	}
	if st, out := call(ca, alice, "Alice, your refund is approved", "wf-1"); st != 200 || out["status"] != "duplicate" {
		t.Fatalf("same key, same call: %d %v", st, out)
	}
	st, out := call(cb, bob, "Bob, welcome", "wf-1")
	if st != 409 {
		t.Errorf("same key, other contact: %d %v, want 409", st, out)
	}
	noTrace(t, "other contact", out, alice, "refund", ca)
	if p := e.ln.Pushes(c.ch.token); len(p) != 1 {
		t.Fatalf("%d pushes, want 1", len(p))
	}

	// LINE fails call A; call B reuses A's key with its own message.
	e.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/message/push") {
			return 500, `{"message":"An error occurred in the backend"}`, true
		}
		return 0, "", false
	})
	if st, out := call(ca, alice, "Alice, your card was charged", "wf-2"); st < 500 {
		t.Fatalf("call A while LINE fails: %d %v", st, out)
	}
	e.ln.SetFault(nil)
	st, out = call(cb, bob, "Bob, see you soon", "wf-2")
	if st != 409 {
		t.Errorf("call B with A's key after A failed: %d %v, want 409", st, out)
	}
	noTrace(t, "call B", out, alice, "charged", ca)
	if p := e.ln.Pushes(c.ch.token); len(p) != 1 {
		t.Fatalf("LINE got %d pushes after call B, want 1: %+v", len(p), p)
	}
	// A's own retry still goes out, once.
	if st, out := call(ca, alice, "Alice, your card was charged", "wf-2"); st != 200 || out["status"] != "sent" {
		t.Fatalf("retry of A: %d %v", st, out)
	}
	if p := e.ln.Pushes(c.ch.token); len(p) != 2 || p[1].To != alice || p[1].Texts[0] != "Alice, your card was charged" {
		t.Fatalf("pushes %+v", p)
	}
}

// A reply's idempotency key is bound the same way.
func TestReplyIdempotencyKeyBoundToRequest(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	alice, bob := linetest.NewUserID(), linetest.NewUserID()
	e.friendWithContact(c, alice, "Alice")
	e.friendWithContact(c, bob, "Bob")
	ev := linetest.TextMessageEvent(alice, "Open today?", time.Now())
	e.ln.IssueReplyTokens(c.ch.token, ev)
	e.deliver(c, ev)
	first := map[string]any{"text": "Yes until 8, Alice", "idempotency_key": "form-9"}
	if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/conversations/"+alice+"/reply", first); st != 200 || out["status"] != "sent" {
		t.Fatalf("reply: %d %v", st, out)
	}
	if st, out := e.api("POST", "/api/v1/connections/"+c.id+"/conversations/"+alice+"/reply", first); st != 200 || out["status"] != "duplicate" {
		t.Fatalf("same reply again: %d %v", st, out)
	}
	st, out := e.api("POST", "/api/v1/connections/"+c.id+"/conversations/"+bob+"/reply", map[string]any{"text": "Hello Bob", "idempotency_key": "form-9"})
	if st != 409 {
		t.Errorf("same key, other friend: %d %v, want 409", st, out)
	}
	noTrace(t, "other friend", out, alice, "until 8")
	if n := len(e.ln.Replies(c.ch.token)) + len(e.ln.Pushes(c.ch.token)); n != 1 {
		t.Fatalf("%d answers went out, want 1", n)
	}
}
