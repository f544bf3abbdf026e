package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
)

const e2eAppSecret = "0d9c7a51-3e2b-4f6a-8c1d-5b4e3f2a1c0d"

// withApp sets up the HubSpot app in linehub and returns a caller that
// plays HubSpot's workflow engine for it.
func (e *env) withApp() *hubspottest.ActionCaller {
	e.t.Helper()
	var out map[string]any
	if st := e.api("PUT", "/hubspot/app", map[string]string{"app_id": "77", "client_secret": e2eAppSecret}, &out); st != 200 {
		e.t.Fatalf("PUT /hubspot/app: %d %v", st, out)
	}
	return &hubspottest.ActionCaller{ClientSecret: e2eAppSecret, PortalID: 4242, ActionDefinitionID: 501}
}

// sentTexts are the texts of the messages linehub recorded as sent to uid.
func (e *env) sentTexts(c connection, uid string) []string {
	var out []string
	for _, m := range e.chat(c, uid) {
		out = append(out, m.Text)
	}
	return out
}

// TestWorkflowActionSendsOnce: HubSpot calls the "Send LINE message"
// action of the app for one enrolled contact again and again: five
// attempts of one execution, three of them at once while LINE is slow,
// each signed afresh. LINE gets the message once, linehub records it
// once, and every attempt answers SUCCESS. An execution that meets LINE
// down is retried as HubSpot retries (503 → later attempt) and sent once.
func TestWorkflowActionSendsOnce(t *testing.T) {
	e, c, uid, contactID, prop := crashEnv(t, false)
	hs := e.withApp()
	actionURL := e.url("/hubspot/app/actions/send")
	var mu sync.Mutex
	slow, down := 300*time.Millisecond, 0
	e.LINE.SetFault(func(r *http.Request) (int, string, bool) {
		if !strings.HasSuffix(r.URL.Path, "/message/push") {
			return 0, "", false
		}
		mu.Lock()
		d, fail := slow, down > 0
		if fail {
			down--
		}
		mu.Unlock()
		if fail {
			return 503, `{"message":"Service Unavailable"}`, true
		}
		time.Sleep(d)
		return 0, "", false
	})
	x := hubspottest.ActionExecution{CallbackID: hubspottest.NewCallbackID(4242), WorkflowID: 31, ObjectID: contactID,
		Properties:  map[string]string{"firstname": "Sora"},
		InputFields: map[string]string{"connection": fmt.Sprint(c.ID), "text": "Your parcel left today, {{firstname}}"}}
	body := hs.Body(x)
	answers := make(chan hubspottest.ActionResponse, 5)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- hs.Post(context.Background(), actionURL, body)
		}()
	}
	wg.Wait()
	for i := 0; i < 2; i++ {
		answers <- hs.Post(context.Background(), actionURL, body)
	}
	close(answers)
	for a := range answers {
		if a.Err != nil || a.Status != 200 || a.State() != "SUCCESS" || a.OutputFields["result"] != "sent" {
			t.Errorf("an attempt answered %d %s %v", a.Status, a.Body, a.Err)
		}
	}
	if p := e.LINE.Pushes(c.token); len(p) != 1 || p[0].Texts[0] != "Your parcel left today, Sora" {
		t.Fatalf("LINE got %+v, want the message once", p)
	}
	if got := e.sentTexts(c, uid); len(got) != 1 {
		t.Fatalf("linehub recorded %q, want one message", got)
	}
	e.waitFor("Unanswered = No", 15*time.Second, func() bool {
		ct, _ := e.HS.Contact(contactID)
		return ct.Properties[prop("line_unanswered")] == "No"
	})

	// LINE down for two attempts: HubSpot retries (a 5xx), the third
	// attempt sends.
	mu.Lock()
	down = 2
	mu.Unlock()
	y := x
	y.CallbackID = hubspottest.NewCallbackID(4242)
	y.InputFields = map[string]string{"connection": fmt.Sprint(c.ID), "text": "Delivery tomorrow"}
	var waits []time.Duration
	got := hs.Execute(context.Background(), actionURL, y, hubspottest.Retry{MaxAttempts: 10, Sleep: func(d time.Duration) { waits = append(waits, d) }})
	if len(got) != 3 || got[0].Status != 503 || got[1].Status != 503 || got[2].Status != 200 || got[2].OutputFields["result"] != "sent" {
		for _, a := range got {
			t.Logf("attempt: %d %s %v", a.Status, a.Body, a.Err)
		}
		t.Fatalf("%d attempts, want 503, 503, 200 sent", len(got))
	}
	if len(waits) != 2 || waits[0] != time.Minute || waits[1] != 2*time.Minute {
		t.Errorf("HubSpot's waits %v", waits)
	}
	if p := e.LINE.Pushes(c.token); len(p) != 2 || p[1].Texts[0] != "Delivery tomorrow" {
		t.Fatalf("LINE got %+v", p)
	}
}

// TestWorkflowActionRecordedAfterCrash: LINE accepts the action's push,
// linehub cannot store its record and dies by SIGKILL. HubSpot retries
// the execution after the restart: the message was delivered once and is
// recorded once (chat row, Unanswered = No), and the retry answers
// SUCCESS without a second push.
func TestWorkflowActionRecordedAfterCrash(t *testing.T) {
	e, c, uid, contactID, prop := crashEnv(t, false)
	hs := e.withApp()
	actionURL := e.url("/hubspot/app/actions/send")
	x := hubspottest.ActionExecution{CallbackID: hubspottest.NewCallbackID(4242), WorkflowID: 32, ObjectID: contactID,
		Properties:  map[string]string{"firstname": "Sora"},
		InputFields: map[string]string{"connection": fmt.Sprint(c.ID), "text": "Shipped today, {{firstname}}"}}

	e.failChatRecords()
	if a := hs.Post(context.Background(), actionURL, hs.Body(x)); a.Status < 500 {
		t.Fatalf("execution whose record failed: %d %s, want a 5xx so HubSpot retries", a.Status, a.Body)
	}
	if p := e.LINE.Pushes(c.token); len(p) != 1 {
		t.Fatalf("LINE got %d pushes, want 1", len(p))
	}
	e.killAndRestart()

	got := hs.Execute(context.Background(), actionURL, x, hubspottest.Retry{MaxAttempts: 5, Sleep: func(time.Duration) {}})
	last := got[len(got)-1]
	if last.Status != 200 || last.State() != "SUCCESS" || last.OutputFields["result"] != "sent" {
		t.Fatalf("retry after the restart: %d %s", last.Status, last.Body)
	}
	if p := e.LINE.Pushes(c.token); len(p) != 1 || p[0].Texts[0] != "Shipped today, Sora" {
		t.Fatalf("LINE delivered %+v, want the message exactly once", p)
	}
	if texts := e.sentTexts(c, uid); len(texts) != 1 {
		t.Errorf("linehub recorded %q, want one message", texts)
	}
	e.waitFor("Unanswered = No", 15*time.Second, func() bool {
		ct, _ := e.HS.Contact(contactID)
		return ct.Properties[prop("line_unanswered")] == "No"
	})
}
