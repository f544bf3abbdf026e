package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // linehub's driver, to inject a fault into its database

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// execDB runs statements on the stopped linehub's database.
func (e *env) execDB(stmts ...string) {
	e.t.Helper()
	if e.cmd != nil {
		e.t.Fatal("execDB needs linehub stopped")
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dataDir, "linehub.db")+"?_busy_timeout=10000")
	if err != nil {
		e.t.Fatalf("open database: %v", err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestWorkflowSendRecordedAfterCrash: LINE accepts a workflow push, linehub
// cannot store its record (the database refuses the chat row, as a crash
// right after LINE's answer would leave it), and then dies by SIGKILL.
// HubSpot retries the call after the restart. The message must be
// delivered exactly once and recorded: chat row, timeline note,
// Unanswered = No in HubSpot. A send stored as done apart from its record
// fails this: the retry answers "duplicate" and the record never comes.
func TestWorkflowSendRecordedAfterCrash(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Crash Send Shop")
	uid := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "Sora"})
	if st := e.deliver(c, linetest.FollowEvent(uid, false, time.Now()), linetest.TextMessageEvent(uid, "Is my order out?", time.Now())); st != 200 {
		t.Fatalf("webhook: %d", st)
	}
	e.settled()
	prop := func(k string) string { return k + "_" + strconv.Itoa(c.Serial) }
	var contactID string
	e.eventually("contact with Unanswered = Yes", func() bool {
		for _, ct := range e.HS.Contacts() {
			if ct.Properties[prop("line_user_id")] == uid {
				contactID = ct.ID
				return ct.Properties[prop("line_unanswered")] == "Yes"
			}
		}
		return false
	})
	var key struct{ Key, URL string }
	if st := e.api("POST", fmt.Sprintf("/connections/%d/workflow/key", c.ID), nil, &key); st != 201 {
		t.Fatalf("workflow key: %d", st)
	}
	body, _ := json.Marshal(map[string]any{"objectId": contactID, "callbackId": "ap-crash-1",
		"properties": map[string]any{"firstname": "Sora", prop("line_user_id"): uid}})
	call := func() (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", key.URL+"?text="+url.QueryEscape("Shipped today, {{firstname}}"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Linehub-Key", key.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}

	e.stop()
	e.execDB(`CREATE TRIGGER e2e_fail_outgoing_chat BEFORE INSERT ON chat_messages WHEN NEW.direction = 'out'
		BEGIN SELECT RAISE(ABORT, 'injected fault: chat record refused'); END`)
	e.start()
	if st, out := call(); st < 500 {
		t.Fatalf("workflow call whose record failed: %d %v, want a 5xx so HubSpot retries", st, out)
	}
	if p := e.LINE.Pushes(c.token); len(p) != 1 {
		t.Fatalf("LINE got %d pushes, want 1", len(p))
	}
	e.kill()
	e.execDB(`DROP TRIGGER e2e_fail_outgoing_chat`)
	e.start()

	// HubSpot's retry. The restart may have recorded the send already (it
	// settles the sends a crash left pending): then the retry is a
	// duplicate; either way the record below must be there.
	st, out := call()
	if st != 200 {
		t.Fatalf("retry after the restart: %d %v", st, out)
	}
	if out["status"] != "sent" && out["status"] != "duplicate" {
		t.Errorf("retry answered %v", out)
	}
	if p := e.LINE.Pushes(c.token); len(p) != 1 || p[0].Texts[0] != "Shipped today, Sora" {
		t.Fatalf("LINE delivered %+v, want the message exactly once", p)
	}
	var chat struct {
		Messages []struct {
			Direction, Text, Via string
		} `json:"messages"`
	}
	e.api("GET", fmt.Sprintf("/connections/%d/conversations/%s/messages", c.ID, uid), nil, &chat)
	sent := 0
	for _, m := range chat.Messages {
		if m.Direction == "out" {
			sent++
		}
	}
	if sent != 1 {
		t.Errorf("%d sent messages in the chat, want 1: %+v", sent, chat.Messages)
	}
	e.waitFor("Unanswered = No and both timeline notes", 15*time.Second, func() bool {
		ct, _ := e.HS.Contact(contactID)
		return ct.Properties[prop("line_unanswered")] == "No" && len(e.HS.Notes(contactID)) == 2
	})
}

// crashEnv is a running linehub with one connection and a friend whose
// message waits for an answer (Unanswered = Yes in HubSpot); reply issues
// the message's reply token at LINE.
func crashEnv(t *testing.T, reply bool) (e *env, c connection, uid, contactID string, prop func(string) string) {
	e = newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c = e.connect("Crash Shop")
	uid = linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "Sora"})
	msg := linetest.TextMessageEvent(uid, "Is my order out?", time.Now())
	if reply {
		e.LINE.IssueReplyTokens(c.token, msg)
	}
	if st := e.deliver(c, linetest.FollowEvent(uid, false, time.Now()), msg); st != 200 {
		t.Fatalf("webhook: %d", st)
	}
	e.settled()
	prop = func(k string) string { return k + "_" + strconv.Itoa(c.Serial) }
	e.eventually("contact with Unanswered = Yes", func() bool {
		for _, ct := range e.HS.Contacts() {
			if ct.Properties[prop("line_user_id")] == uid {
				contactID = ct.ID
				return ct.Properties[prop("line_unanswered")] == "Yes"
			}
		}
		return false
	})
	return e, c, uid, contactID, prop
}

// failChatRecords restarts linehub with its database refusing to record
// sent chat messages, as a crash right after LINE's answer leaves it.
func (e *env) failChatRecords() {
	e.stop()
	e.execDB(`CREATE TRIGGER e2e_fail_outgoing_chat BEFORE INSERT ON chat_messages WHEN NEW.direction = 'out'
		BEGIN SELECT RAISE(ABORT, 'injected fault: chat record refused'); END`)
	e.start()
}

// killAndRestart kills linehub (SIGKILL), lifts the fault and starts it.
func (e *env) killAndRestart() {
	e.kill()
	e.execDB(`DROP TRIGGER e2e_fail_outgoing_chat`)
	e.start()
}

type chatRow struct {
	Direction, Text, Via string
	Unconfirmed          bool
}

func (e *env) chat(c connection, uid string) (out []chatRow) {
	var chat struct {
		Messages []chatRow `json:"messages"`
	}
	e.api("GET", fmt.Sprintf("/connections/%d/conversations/%s/messages", c.ID, uid), nil, &chat)
	for _, m := range chat.Messages {
		if m.Direction == "out" {
			out = append(out, m)
		}
	}
	return out
}

// TestAPIPushRecoveredAfterCrash: LINE accepts an API push (with and
// without an idempotency key), linehub cannot store its record and dies by
// SIGKILL. Nobody retries the request. After the restart the push is
// recorded once (chat row, timeline note, Unanswered = No in HubSpot) and
// LINE delivered it once: linehub sent it again with its stored retry key,
// which LINE answers with 409. Before, it stayed pending for ever, and a
// push without a key had no send row at all.
func TestAPIPushRecoveredAfterCrash(t *testing.T) {
	for _, key := range []string{"", "order-7"} {
		t.Run("key="+key, func(t *testing.T) {
			e, c, uid, contactID, prop := crashEnv(t, false)
			e.failChatRecords()
			body := map[string]any{"to": uid, "text": "Shipped today"}
			if key != "" {
				body["idempotency_key"] = key
			}
			if st := e.api("POST", fmt.Sprintf("/connections/%d/messages", c.ID), body, nil); st < 500 {
				t.Fatalf("push whose record failed: %d, want a 5xx", st)
			}
			if p := e.LINE.Pushes(c.token); len(p) != 1 {
				t.Fatalf("LINE got %d pushes, want 1", len(p))
			}
			e.killAndRestart()

			e.waitFor("the push recorded", 15*time.Second, func() bool { return len(e.chat(c, uid)) > 0 })
			if got := e.chat(c, uid); len(got) != 1 || got[0].Text != "Shipped today" || got[0].Unconfirmed {
				t.Fatalf("sent messages in the chat: %+v", got)
			}
			e.waitFor("Unanswered = No and both timeline notes", 15*time.Second, func() bool {
				ct, _ := e.HS.Contact(contactID)
				return ct.Properties[prop("line_unanswered")] == "No" && len(e.HS.Notes(contactID)) == 2
			})
			if p := e.LINE.Pushes(c.token); len(p) != 1 {
				t.Fatalf("LINE delivered %d pushes, want 1", len(p))
			}
			if !strings.Contains(e.logs.String(), "interrupted send recovered") {
				t.Errorf("the recovery is not logged:\n%s", e.logs.tail(40))
			}
		})
	}
}

// TestReplyUnconfirmedAfterCrash: LINE accepts a reply, linehub cannot
// store its record and dies by SIGKILL. The reply API has no retry key,
// so after the restart linehub tries the same reply token once (LINE
// accepts a token once: it refuses it now) and records the answer as
// unconfirmed: the chat shows it as maybe not delivered, the timeline note
// says so, the friend stays unanswered, and nothing is pushed instead.
func TestReplyUnconfirmedAfterCrash(t *testing.T) {
	e, c, uid, contactID, prop := crashEnv(t, true)
	e.failChatRecords()
	path := fmt.Sprintf("/connections/%d/conversations/%s/reply", c.ID, uid)
	if st := e.api("POST", path, map[string]any{"text": "Yes, today", "idempotency_key": "r-9"}, nil); st < 500 {
		t.Fatalf("reply whose record failed: %d, want a 5xx", st)
	}
	if r := e.LINE.Replies(c.token); len(r) != 1 {
		t.Fatalf("LINE got %d replies, want 1", len(r))
	}
	e.killAndRestart()

	e.waitFor("the reply recorded", 15*time.Second, func() bool { return len(e.chat(c, uid)) > 0 })
	if got := e.chat(c, uid); len(got) != 1 || got[0].Text != "Yes, today" || !got[0].Unconfirmed || got[0].Via != "reply" {
		t.Fatalf("sent messages in the chat: %+v", got)
	}
	e.waitFor("both timeline notes", 15*time.Second, func() bool { return len(e.HS.Notes(contactID)) == 2 })
	if n := e.HS.Notes(contactID); !strings.Contains(n[1].Body, "may not have been delivered") {
		t.Errorf("note of the unconfirmed reply: %q", n[1].Body)
	}
	if ct, _ := e.HS.Contact(contactID); ct.Properties[prop("line_unanswered")] != "Yes" {
		t.Errorf("Unanswered = %q, want Yes: nobody knows the answer arrived", ct.Properties[prop("line_unanswered")])
	}
	// The caller's retry sends nothing either.
	if st := e.api("POST", path, map[string]any{"text": "Yes, today", "idempotency_key": "r-9"}, nil); st != 422 {
		t.Errorf("retry of the unconfirmed reply: %d, want 422", st)
	}
	if r, p := e.LINE.Replies(c.token), e.LINE.Pushes(c.token); len(r) != 1 || len(p) != 0 {
		t.Fatalf("%d replies and %d pushes, want the one reply", len(r), len(p))
	}
}
