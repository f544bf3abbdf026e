package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
	"linehub/app/web/hubspotapp"
)

const (
	actionPath    = "/hubspot/app/actions/send"
	connsPath     = "/hubspot/app/actions/connections"
	templatesPath = "/hubspot/app/actions/templates"
)

// actionEnv is linehub with the HubSpot app set up, a connection and a
// friend who has a contact.
type actionEnv struct {
	*env
	c       conn
	uid     string
	contact string
	hs      *hubspottest.ActionCaller
}

func newActionEnv(t *testing.T) *actionEnv {
	e := newEnv(t, envOpts{HubSpotConfigured: true, MaxConnections: 5})
	e.secrets = append(e.secrets, appSecret)
	if st, m := e.api("PUT", "/api/v1/hubspot", map[string]any{"token": hubspotToken}); st != 200 {
		t.Fatalf("save HubSpot key: %d %v", st, m)
	}
	if st, m := e.api("PUT", "/api/v1/hubspot/app", map[string]any{"app_id": "77", "client_secret": appSecret}); st != 200 {
		t.Fatalf("save app: %d %v", st, m)
	}
	a := &actionEnv{env: e, c: e.createConn("Shop", true, true), uid: linetest.NewUserID(),
		hs: &hubspottest.ActionCaller{ClientSecret: appSecret, PortalID: portalID, ActionDefinitionID: 501}}
	a.contact = e.friendWithContact(a.c, a.uid, "Hanako")
	return a
}

// post sends body to path as HubSpot does: signed with secret (none:
// unsigned) for the public URL, age old. It returns the status, headers
// and outputFields (or {"body": …} when there are none).
func (a *actionEnv) post(path string, body []byte, secret string, age time.Duration) (int, http.Header, map[string]any) {
	a.t.Helper()
	hdr := map[string]string{"Content-Type": "application/json"}
	if secret != "" {
		ts := hubspot.NowMillis(time.Now().Add(-age))
		hdr["X-HubSpot-Request-Timestamp"] = ts
		hdr["X-HubSpot-Signature-v3"] = hubspot.SignV3(secret, "POST", publicURL+path, body, ts)
	}
	st, h, out := a.do("POST", path, hdr, body)
	var m struct {
		OutputFields map[string]any `json:"outputFields"`
	}
	_ = json.Unmarshal(out, &m)
	if m.OutputFields == nil {
		m.OutputFields = map[string]any{"body": string(out)}
	}
	return st, h, m.OutputFields
}

// execute sends one attempt of an execution.
func (a *actionEnv) execute(x hubspottest.ActionExecution, secret string, age time.Duration) (int, map[string]any) {
	a.t.Helper()
	st, _, out := a.post(actionPath, a.hs.Body(x), secret, age)
	return st, out
}

func (a *actionEnv) exec(contact string, in map[string]string) hubspottest.ActionExecution {
	return hubspottest.ActionExecution{CallbackID: hubspottest.NewCallbackID(portalID), WorkflowID: 9001, ObjectID: contact,
		Properties: map[string]string{"firstname": "Hanako"}, InputFields: in}
}

// Every outcome of the "Send LINE message" action: what HubSpot is told
// (a branchable result with FAIL_CONTINUE, or a status it retries), and
// that LINE got the message only when it says sent.
func TestHubSpotAppActionOutcomes(t *testing.T) {
	a := newActionEnv(t)
	blocker := linetest.NewUserID()
	blockerContact := a.friendWithContact(a.c, blocker, "Ken")
	a.deliver(a.c, linetest.UnfollowEvent(blocker, time.Now()))
	noToken := a.createConn("No token", true, false)
	quota := a.createConn("Quota", true, true)
	quotaUser := linetest.NewUserID()
	quotaContact := a.friendWithContact(quota, quotaUser, "Yui")
	a.ln.SetQuota(quota.ch.token, 10, 10)
	if st, m := a.api("POST", "/api/v1/templates", map[string]any{"name": "welcome", "text": "Welcome, {{firstname}}! {{company|}}"}); st != 201 {
		t.Fatalf("template: %d %v", st, m)
	}
	var tpl struct{ ID int64 }
	if _, m := a.api("GET", "/api/v1/templates", nil); m != nil {
		raw, _ := json.Marshal(m["templates"])
		var ts []struct{ ID int64 }
		_ = json.Unmarshal(raw, &ts)
		if len(ts) == 1 {
			tpl.ID = ts[0].ID
		}
	}
	if tpl.ID == 0 {
		t.Fatal("template id not found")
	}
	// The template's {{company}} is not among the properties HubSpot
	// sends (objectRequestOptions): linehub reads it from the contact.
	a.env.hs.EditContact(a.contact, map[string]string{"company": "Example Co."})

	lineDown := func(r *http.Request) (int, string, bool) {
		return 500, `{"message":"Internal server error"}`, strings.HasSuffix(r.URL.Path, "/message/push")
	}
	rateLimited := func(r *http.Request) (int, string, bool) {
		return 429, `{"message":"The API rate limit has been exceeded. Try again later."}`, strings.HasSuffix(r.URL.Path, "/message/push")
	}
	for _, tc := range []struct {
		name    string
		contact string
		in      map[string]string
		fault   func(*http.Request) (int, string, bool)
		secret  string
		age     time.Duration
		portal  int64
		token   string // channel the push goes to
		status  int
		state   string
		result  string
		pushed  string // the text LINE got, "" for none
	}{
		{name: "text with placeholders", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "Hello {{firstname}}"},
			status: 200, state: "SUCCESS", result: "sent", pushed: "Hello Hanako"},
		{name: "template, property read from HubSpot", contact: a.contact, in: map[string]string{"connection": a.c.id, "template": strconv.FormatInt(tpl.ID, 10)},
			status: 200, state: "SUCCESS", result: "sent", pushed: "Welcome, Hanako! Example Co."},
		{name: "field named message (earlier project)", contact: a.contact, in: map[string]string{"connection": a.c.id, "message": "Hi again"},
			status: 200, state: "SUCCESS", result: "sent", pushed: "Hi again"},
		{name: "contact without a LINE user", contact: "987654", in: map[string]string{"connection": a.c.id, "text": "Hello"},
			status: 200, state: "FAIL_CONTINUE", result: "not_friend"},
		{name: "blocked", contact: blockerContact, in: map[string]string{"connection": a.c.id, "text": "Hello"},
			status: 200, state: "FAIL_CONTINUE", result: "blocked"},
		{name: "monthly quota used up", contact: quotaContact, token: quota.ch.token, in: map[string]string{"connection": quota.id, "text": "Hello"},
			status: 200, state: "FAIL_CONTINUE", result: "quota_exhausted"},
		{name: "connection deleted", contact: a.contact, in: map[string]string{"connection": "424242", "text": "Hello"},
			status: 200, state: "FAIL_CONTINUE", result: "connection_missing"},
		{name: "connection not chosen", contact: a.contact, in: map[string]string{"text": "Hello"},
			status: 200, state: "FAIL_CONTINUE", result: "connection_missing"},
		{name: "connection without channel token", contact: a.contact, in: map[string]string{"connection": noToken.id, "text": "Hello"},
			status: 200, state: "FAIL_CONTINUE", result: "connection_missing"},
		{name: "no such template", contact: a.contact, in: map[string]string{"connection": a.c.id, "template": "nope"},
			status: 200, state: "FAIL_CONTINUE", result: "invalid_message"},
		{name: "template and text", contact: a.contact, in: map[string]string{"connection": a.c.id, "template": "welcome", "text": "x"},
			status: 200, state: "FAIL_CONTINUE", result: "invalid_message"},
		{name: "no message", contact: a.contact, in: map[string]string{"connection": a.c.id},
			status: 200, state: "FAIL_CONTINUE", result: "invalid_message"},
		{name: "text empty once filled", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "{{lastname}}"},
			status: 200, state: "FAIL_CONTINUE", result: "invalid_message"},
		{name: "LINE down: HubSpot retries", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "Down"}, fault: lineDown,
			status: 503},
		{name: "LINE rate limit: 429 with Retry-After", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "Busy"}, fault: rateLimited,
			status: 429},
		{name: "unsigned", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "x"}, secret: "-", status: 401},
		{name: "other secret", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "x"}, secret: "another-app-secret-0000", status: 401},
		{name: "stale signature (replayed)", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "x"}, age: 6 * time.Minute, status: 401},
		{name: "another portal", contact: a.contact, in: map[string]string{"connection": a.c.id, "text": "x"}, portal: 9999, status: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := a.c.ch.token
			if tc.token != "" {
				token = tc.token
			}
			before := len(a.ln.Pushes(token))
			a.ln.SetFault(tc.fault)
			defer a.ln.SetFault(nil)
			secret := appSecret
			if tc.secret == "-" {
				secret = ""
			} else if tc.secret != "" {
				secret = tc.secret
			}
			caller := *a.hs
			if tc.portal != 0 {
				caller.PortalID = tc.portal
			}
			x := a.exec(tc.contact, tc.in)
			st, h, out := a.post(actionPath, caller.Body(x), secret, tc.age)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %v", st, tc.status, out)
			}
			if tc.state != "" && (out["hs_execution_state"] != tc.state || out["result"] != tc.result) {
				t.Fatalf("answered %v, want %s/%s", out, tc.state, tc.result)
			}
			if tc.state == "FAIL_CONTINUE" && out["errorCode"] != strings.ToUpper(tc.result) {
				t.Errorf("errorCode %v, want %s (the execution rule's condition)", out["errorCode"], strings.ToUpper(tc.result))
			}
			if ra, err := strconv.Atoi(h.Get("Retry-After")); tc.status == 429 && (err != nil || ra < 1) {
				t.Errorf("429 without a Retry-After in seconds: %q", h.Get("Retry-After"))
			}
			pushes := a.ln.Pushes(token)[before:]
			if tc.fault != nil {
				// LINE refused it: nothing delivered; the retry, with LINE
				// back, sends it once.
				if len(pushes) != 0 {
					t.Fatalf("LINE delivered %+v while failing", pushes)
				}
				a.ln.SetFault(nil)
				for i := 0; i < 2; i++ {
					if st, out := a.execute(x, secret, 0); st != 200 || out["result"] != "sent" {
						t.Fatalf("retry %d with LINE back: %d %v", i, st, out)
					}
				}
				if p := a.ln.Pushes(token)[before:]; len(p) != 1 {
					t.Fatalf("after the retries LINE got %d pushes, want 1", len(p))
				}
				return
			}
			switch {
			case tc.pushed == "" && len(pushes) != 0:
				t.Fatalf("LINE got %+v, want nothing", pushes)
			case tc.pushed != "" && (len(pushes) != 1 || pushes[0].Texts[0] != tc.pushed):
				t.Fatalf("LINE got %+v, want %q once", pushes, tc.pushed)
			}
			if tc.pushed != "" {
				// HubSpot's retry of the same execution sends nothing more.
				if st, out := a.execute(x, secret, 0); st != 200 || out["result"] != "sent" {
					t.Fatalf("retry: %d %v", st, out)
				}
				if p := a.ln.Pushes(token)[before:]; len(p) != 1 {
					t.Fatalf("the retry sent again: %+v", p)
				}
			}
		})
	}
}

// HubSpot retries an execution (after a timeout, a 5xx, or on its own):
// five attempts, three of them at once while LINE is slow, send the
// message once and all answer sent. When LINE is slower than linehub's
// answer budget, the execution answers 503 in time (HubSpot retries), the
// send goes on, and the retry finds it sent: still one message.
func TestHubSpotAppActionRetriesSendOnce(t *testing.T) {
	a := newActionEnv(t)
	var mu sync.Mutex
	delay := 300 * time.Millisecond
	a.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/message/push") {
			mu.Lock()
			d := delay
			mu.Unlock()
			time.Sleep(d)
		}
		return 0, "", false
	})
	x := a.exec(a.contact, map[string]string{"connection": a.c.id, "text": "Your order shipped, {{firstname}}"})
	var wg sync.WaitGroup
	answers := make(chan string, 5)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, out := a.execute(x, appSecret, 0)
			answers <- fmt.Sprint(st, " ", out["hs_execution_state"], " ", out["result"])
		}()
	}
	wg.Wait()
	for i := 0; i < 2; i++ {
		st, out := a.execute(x, appSecret, 0)
		answers <- fmt.Sprint(st, " ", out["hs_execution_state"], " ", out["result"])
	}
	close(answers)
	for ans := range answers {
		if ans != "200 SUCCESS sent" {
			t.Errorf("an attempt answered %s", ans)
		}
	}
	if p := a.ln.Pushes(a.c.ch.token); len(p) != 1 || p[0].Texts[0] != "Your order shipped, Hanako" {
		t.Fatalf("LINE got %+v, want the message once", p)
	}

	// LINE slower than the answer budget.
	old := hubspotapp.ActionAnswerBudget
	hubspotapp.ActionAnswerBudget = 50 * time.Millisecond
	defer func() { hubspotapp.ActionAnswerBudget = old }()
	mu.Lock()
	delay = 600 * time.Millisecond
	mu.Unlock()
	y := a.exec(a.contact, map[string]string{"connection": a.c.id, "text": "Slow LINE"})
	for i := 0; i < 2; i++ { // the second joins the first, still in flight
		if st, out := a.execute(y, appSecret, 0); st != 503 {
			t.Fatalf("attempt %d while LINE is slow: %d %v, want 503 so HubSpot retries", i, st, out)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(a.ln.Pushes(a.c.ch.token)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	hubspotapp.ActionAnswerBudget = old
	if st, out := a.execute(y, appSecret, 0); st != 200 || out["result"] != "sent" {
		t.Fatalf("retry after LINE answered: %d %v", st, out)
	}
	if p := a.ln.Pushes(a.c.ch.token); len(p) != 2 || p[1].Texts[0] != "Slow LINE" {
		t.Fatalf("LINE got %+v, want each message once", p)
	}
}

// The workflow editor fills the action's selects from linehub: the
// connections by name, the templates; searchable, signed, this portal only.
func TestHubSpotAppActionOptions(t *testing.T) {
	a := newActionEnv(t)
	other := a.createConn("Osaka Store", true, true)
	for _, n := range []string{"welcome", "coupon"} {
		if st, m := a.api("POST", "/api/v1/templates", map[string]any{"name": n, "text": "Hi {{firstname}}, " + n}); st != 201 {
			t.Fatalf("template: %d %v", st, m)
		}
	}
	type page struct {
		Options []struct{ Label, Value, Description string }
		After   string
		Search  bool `json:"searchable"`
	}
	fetch := func(path string, body []byte, secret string) (int, page) {
		t.Helper()
		hdr := map[string]string{"Content-Type": "application/json"}
		if secret != "" {
			ts := hubspot.NowMillis(time.Now())
			hdr["X-HubSpot-Request-Timestamp"] = ts
			hdr["X-HubSpot-Signature-v3"] = hubspot.SignV3(secret, "POST", publicURL+path, body, ts)
		}
		st, _, out := a.do("POST", path, hdr, body)
		var p page
		_ = json.Unmarshal(out, &p)
		return st, p
	}
	st, p := fetch(connsPath, a.hs.OptionsBody(nil, "", ""), appSecret)
	if st != 200 || len(p.Options) != 2 || p.Options[0].Label != "Shop" || p.Options[0].Value != a.c.id ||
		p.Options[1].Label != "Osaka Store" || p.Options[1].Value != other.id || !p.Search || p.After != "" {
		t.Fatalf("connections: %d %+v", st, p)
	}
	if st, p := fetch(connsPath, a.hs.OptionsBody(map[string]string{"connection": a.c.id}, "osaka", ""), appSecret); st != 200 || len(p.Options) != 1 || p.Options[0].Value != other.id {
		t.Fatalf("search: %d %+v", st, p)
	}
	st, p = fetch(templatesPath, a.hs.OptionsBody(map[string]string{"connection": a.c.id}, "", ""), appSecret)
	if st != 200 || len(p.Options) != 2 || p.Options[0].Label != "coupon" || p.Options[1].Label != "welcome" || !strings.Contains(p.Options[0].Description, "{{firstname}}") {
		t.Fatalf("templates: %d %+v", st, p)
	}
	// The value a template option carries is what the action sends.
	x := a.exec(a.contact, map[string]string{"connection": a.c.id, "template": p.Options[1].Value})
	if st, out := a.execute(x, appSecret, 0); st != 200 || out["result"] != "sent" {
		t.Fatalf("send the chosen template: %d %v", st, out)
	}
	if pu := a.ln.Pushes(a.c.ch.token); len(pu) != 1 || pu[0].Texts[0] != "Hi Hanako, welcome" {
		t.Fatalf("LINE got %+v", pu)
	}
	if st, _ := fetch(connsPath, a.hs.OptionsBody(nil, "", ""), ""); st != 401 {
		t.Errorf("unsigned options fetch: %d", st)
	}
	otherPortal := *a.hs
	otherPortal.PortalID = 9999
	if st, p := fetch(connsPath, otherPortal.OptionsBody(nil, "", ""), appSecret); st != 403 || len(p.Options) != 0 {
		t.Errorf("another portal's options fetch: %d %+v", st, p)
	}
}
