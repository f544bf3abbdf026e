package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestWorkflowReplyAndNotes runs the messaging paths against the real
// binary: a HubSpot workflow call pushes a message with the contact's
// name filled in (once, however often HubSpot retries), a reply from the
// API uses the fresh reply token, Unanswered flips to No in HubSpot, and
// every message lands on the contact's timeline.
func TestWorkflowReplyAndNotes(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Messaging Shop")
	uid := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "Sora"})
	if st := e.deliver(c, linetest.FollowEvent(uid, false, time.Now()), linetest.TextMessageEvent(uid, "Do you deliver?", time.Now())); st != 200 {
		t.Fatalf("webhook: %d", st)
	}
	e.settled()
	prop := func(k string) string { return k + "_" + strconv.Itoa(c.Serial) }
	var contactID string
	e.eventually("contact created", func() bool {
		for _, ct := range e.HS.Contacts() {
			if ct.Properties[prop("line_user_id")] == uid {
				contactID = ct.ID
				return ct.Properties[prop("line_unanswered")] == "Yes"
			}
		}
		return false
	})

	// The reply token of the message is fresh: the API reply uses it.
	var res map[string]any
	if st := e.api("POST", fmt.Sprintf("/connections/%d/conversations/%s/reply", c.ID, uid), map[string]string{"text": "Yes, anywhere in town."}, &res); st != 200 || res["via"] != "reply" {
		t.Fatalf("reply: %d %v", st, res)
	}

	var key map[string]any
	if st := e.api("POST", fmt.Sprintf("/connections/%d/workflow/key", c.ID), nil, &key); st != 201 {
		t.Fatalf("key: %d %v", st, key)
	}
	body, _ := json.Marshal(map[string]any{"objectId": contactID, "callbackId": "ap-e2e-1",
		"properties": map[string]any{"firstname": "Sora", prop("line_user_id"): uid}})
	hookURL := fmt.Sprint(key["url"]) + "?text=" + url.QueryEscape("Thanks {{firstname}}, your order is on its way")
	for range 3 { // HubSpot retrying
		req, _ := http.NewRequest("POST", hookURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Linehub-Key", fmt.Sprint(key["key"]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("workflow call: %d", resp.StatusCode)
		}
	}
	p := e.LINE.Pushes(c.token)
	if len(p) != 1 || p[0].Texts[0] != "Thanks Sora, your order is on its way" {
		t.Fatalf("pushes: %+v", p)
	}
	if r := e.LINE.Replies(c.token); len(r) != 1 {
		t.Fatalf("replies: %+v", r)
	}
	e.eventually("Unanswered = No and three notes in HubSpot", func() bool {
		ct, _ := e.HS.Contact(contactID)
		return ct.Properties[prop("line_unanswered")] == "No" && len(e.HS.Notes(contactID)) == 3
	})
	if strings.Contains(e.logs.String(), fmt.Sprint(key["key"])) {
		t.Fatal("the workflow key appears in the log")
	}
}
