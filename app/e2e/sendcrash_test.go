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

	// HubSpot's retry.
	st, out := call()
	if st != 200 {
		t.Fatalf("retry after the restart: %d %v", st, out)
	}
	if out["status"] != "sent" {
		t.Errorf("retry answered %v: the send counted as done with nothing recording it", out)
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
