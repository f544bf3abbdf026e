package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// jobsEnv makes the import check run every second and lets jobs call the
// LINE double as fast as LINE allows.
func jobsEnv(extra ...string) envOptions {
	return envOptions{Env: append([]string{"LINEHUB_JOBS_IMPORT_CHECK=@every 1s", "LINEHUB_JOBS_LINE_RATE=2000",
		"LINEHUB_JOBS_RECONCILE=0 */6 * * *", "LINEHUB_JOBS_RECONCILE_SPREAD=0s", "LINEHUB_JOBS_DRIFT_READS_PER_MINUTE=1140"}, extra...)}
}

// connectWith is connect with the LINE channel prepared (friends added,
// verified or not) before linehub learns of it.
func (e *env) connectWith(name string, verified bool, prepare func(token string)) connection {
	e.t.Helper()
	secret, token := "secret-"+name+"-0123456789abcdef", "token-"+name+"-0123456789abcdef"
	e.LINE.AddChannel(linetest.Channel{Secret: secret, Token: token, BotUserID: linetest.NewUserID(), DisplayName: name, Verified: verified})
	if prepare != nil {
		prepare(token)
	}
	var c connection
	st := e.api("POST", "/connections", map[string]string{"name": name, "channel_secret": secret, "channel_access_token": token}, &c)
	if st != 201 {
		e.t.Fatalf("create connection %s: %d %+v", name, st, c)
	}
	c.secret, c.token = secret, token
	return c
}

// waitFor polls cond for up to d.
func (e *env) waitFor(what string, d time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("timed out after %s waiting for %s", d, what)
}

// notesLogged waits until linehub has no timeline note left to write to
// HubSpot, and fails if HubSpot made it give any up.
func (e *env) notesLogged(d time.Duration) {
	e.t.Helper()
	e.waitFor("every chat message's timeline note", d, func() bool {
		var st struct {
			Notes struct{ Pending, GivenUp int64 }
		}
		e.api("GET", "/status", nil, &st)
		if st.Notes.GivenUp != 0 {
			e.t.Fatalf("%d timeline notes given up", st.Notes.GivenUp)
		}
		return st.Notes.Pending == 0
	})
}

type importView struct {
	Import struct {
		State       string  `json:"state"`
		Total       int64   `json:"total"`
		Done        int64   `json:"done"`
		Message     string  `json:"message"`
		RatePerSec  float64 `json:"rate_per_sec"`
		ETASeconds  int64   `json:"eta_seconds"`
		Percent     float64 `json:"percent"`
		PendingSync int64   `json:"pending_sync"`
	} `json:"import"`
	Running bool `json:"running"`
}

type runView struct {
	ID           int64  `json:"id"`
	Job          string `json:"job"`
	ConnectionID int64  `json:"connection_id"`
	Status       string `json:"status"`
	Items        int64  `json:"items"`
	Errors       int64  `json:"errors"`
	Message      string `json:"message"`
}

// TestImportAndReconcileThroughAPI: a verified account's 5,000 existing
// friends are imported on connect with progress in the API; an unverified
// account says why it cannot import; reconcile runs on request (202, then
// 409 while it runs) and catches a block LINE never reported.
func TestImportAndReconcileThroughAPI(t *testing.T) {
	const followers = 5000
	e := newEnv(t, jobsEnv())
	e.configureHubSpot("starter")
	var users []string
	c := e.connectWith("Verified Shop", true, func(token string) {
		for i := range followers {
			uid := linetest.NewUserID()
			users = append(users, uid)
			e.LINE.AddFriend(token, line.Profile{UserID: uid, DisplayName: fmt.Sprintf("Friend %04d", i), PictureURL: "https://profile.line-scdn.net/" + uid})
		}
	})
	plain := e.connectWith("Plain Shop", false, nil)

	var seen []string
	var iv importView
	e.waitFor("the import to finish", 2*time.Minute, func() bool {
		iv = importView{}
		if st := e.api("GET", fmt.Sprintf("/connections/%d/import", c.ID), nil, &iv); st != 200 {
			t.Fatalf("GET import: %d", st)
		}
		seen = append(seen, fmt.Sprintf("%s %d/%d", iv.Import.State, iv.Import.Done, iv.Import.Total))
		return iv.Import.State == "done"
	})
	t.Logf("import progress seen: %s", strings.Join(compact(seen), ", "))
	if iv.Import.Total != followers || iv.Import.Done != followers || iv.Import.RatePerSec <= 0 || iv.Import.Percent != 100 {
		t.Fatalf("finished import: %+v", iv.Import)
	}
	e.settled()
	prop := func(key string) string { return fmt.Sprintf("%s_%d", key, c.Serial) }
	byUser := map[string]map[string]string{}
	for _, ct := range e.HS.Contacts() {
		if u := ct.Properties[prop("line_user_id")]; u != "" {
			byUser[u] = ct.Properties
		}
	}
	for i, u := range users {
		p := byUser[u]
		if p == nil || p[prop("line_follow")] != "Yes" || p[prop("line_user_name")] != fmt.Sprintf("Friend %04d", i) || p["firstname"] == "" {
			t.Fatalf("follower %d (%s) imported as %v", i, u, p)
		}
	}

	var pv importView
	e.waitFor("the unverified account's import state", 30*time.Second, func() bool {
		e.api("GET", fmt.Sprintf("/connections/%d/import", plain.ID), nil, &pv)
		return pv.Import.State == "unavailable"
	})
	if !strings.Contains(pv.Import.Message, "next send a message") {
		t.Errorf("unverified import message %q", pv.Import.Message)
	}

	// A block LINE never sent a webhook for.
	e.LINE.Block(c.token, users[42])
	var started struct {
		RunID int64 `json:"run_id"`
	}
	if st := e.api("POST", fmt.Sprintf("/connections/%d/reconcile", c.ID), nil, &started); st != 202 || started.RunID == 0 {
		t.Fatalf("POST reconcile: %d %+v", st, started)
	}
	var busy map[string]string
	if st := e.api("POST", fmt.Sprintf("/connections/%d/reconcile", c.ID), nil, &busy); st != 409 || !strings.Contains(busy["error"], "already running") {
		t.Errorf("second POST reconcile while running: %d %v", st, busy)
	}
	var run runView
	e.waitFor("the reconcile run to finish", time.Minute, func() bool {
		e.api("GET", fmt.Sprintf("/jobs/runs/%d", started.RunID), nil, &run)
		return run.Status != "running"
	})
	if run.Status != "ok" || run.Job != "reconcile" || !strings.Contains(run.Message, "unfollowed=1") {
		t.Fatalf("reconcile run %+v", run)
	}
	e.settled()
	if got := mustContact(t, e.HS, users[42]).Properties[prop("line_follow")]; got != "No" {
		t.Errorf("blocked follower's Follow = %q", got)
	}

	var jobs struct {
		TimeZone string `json:"time_zone"`
		Jobs     []struct {
			Name     string     `json:"name"`
			Schedule string     `json:"schedule"`
			NextRun  *time.Time `json:"next_run"`
			LastRun  *runView   `json:"last_run"`
		} `json:"jobs"`
		Runs []runView `json:"runs"`
	}
	if st := e.api("GET", "/jobs", nil, &jobs); st != 200 || jobs.TimeZone != "UTC" || len(jobs.Runs) < 3 {
		t.Fatalf("GET /jobs: %d %+v", st, jobs)
	}
	for _, j := range jobs.Jobs {
		if j.Name == "reconcile" && (j.Schedule != "0 */6 * * *" || j.NextRun == nil || j.LastRun == nil || j.LastRun.ID != started.RunID) {
			t.Errorf("reconcile job in GET /jobs: %+v", j)
		}
	}
	if st := e.api("POST", "/connections/999/reconcile", nil, nil); st != 404 {
		t.Errorf("reconcile of an unknown connection: %d", st)
	}

	// Dead letters and the other jobs through the API.
	var dl struct {
		DeadLetters []any `json:"dead_letters"`
		Total       int64 `json:"total"`
	}
	if st := e.api("GET", fmt.Sprintf("/connections/%d/dead-letters", c.ID), nil, &dl); st != 200 || dl.DeadLetters == nil || dl.Total != 0 {
		t.Errorf("GET dead letters: %d %+v", st, dl)
	}
	var retried map[string]int
	if st := e.api("POST", "/dead-letters/retry", map[string][]int64{"ids": {}}, &retried); st != 200 || retried["retried"] != 0 {
		t.Errorf("POST dead-letters/retry: %d %v", st, retried)
	}
	for _, job := range []string{"dead_letters", "prune_inbox"} {
		var out struct {
			Run runView `json:"run"`
		}
		if st := e.api("POST", "/jobs/"+job+"/run", nil, &out); st != 202 || out.Run.ID == 0 {
			t.Fatalf("POST /jobs/%s/run: %d %+v", job, st, out)
		}
		var r runView
		e.waitFor(job+" to finish", 30*time.Second, func() bool {
			e.api("GET", fmt.Sprintf("/jobs/runs/%d", out.Run.ID), nil, &r)
			return r.Status != "running"
		})
		if r.Status != "ok" {
			t.Errorf("%s run: %+v", job, r)
		}
	}
	if st := e.api("POST", "/jobs/nonsense/run", nil, nil); st != 404 {
		t.Errorf("unknown job: %d", st)
	}
	var dr struct {
		RunID int64 `json:"run_id"`
	}
	if st := e.api("POST", fmt.Sprintf("/connections/%d/drift-repair", c.ID), nil, &dr); st != 202 {
		t.Fatalf("POST drift-repair: %d", st)
	}
	e.waitFor("drift repair", time.Minute, func() bool {
		e.api("GET", fmt.Sprintf("/jobs/runs/%d", dr.RunID), nil, &run)
		return run.Status != "running"
	})
	if run.Status != "ok" || !strings.Contains(run.Message, fmt.Sprintf("checked=%d", followers)) {
		t.Errorf("drift repair run: %+v", run)
	}
}

// compact folds repeats of the same progress line.
func compact(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// outage is how long HubSpot answers every request with 503 in
// TestHubSpotOutageConverges: 60 s in the scenario
// (LINEHUB_E2E_OUTAGE=60s), a few seconds by default to keep the suite fast.
func outage(t *testing.T) time.Duration {
	if v := os.Getenv("LINEHUB_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LINEHUB_E2E_OUTAGE: %v", err)
		}
		return d
	}
	return 4 * time.Second
}

// TestHubSpotOutageConverges: HubSpot fails every request (503) for a
// while, then 5% of them (502); webhooks keep coming the whole time. Once
// it is over every friend's contact is right and nothing was lost.
func TestHubSpotOutageConverges(t *testing.T) {
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_SYNC_INTERVAL=200ms"}})
	e.configureHubSpot("starter")
	c1 := e.connect("Shop One")
	c2 := e.connect("Shop Two")

	down := outage(t)
	var until atomic.Int64
	until.Store(time.Now().Add(down).UnixNano())
	var failed atomic.Int64
	e.HS.SetFault(func(r *http.Request) (int, string, bool) {
		if time.Now().UnixNano() < until.Load() {
			failed.Add(1)
			return 503, `{"status":"error","message":"Service Unavailable","category":"INTERNAL_ERROR"}`, true
		}
		if rand.Float64() < 0.05 {
			failed.Add(1)
			return 502, `<html>502 Bad Gateway</html>`, true
		}
		return 0, "", false
	})

	type fr struct {
		c    connection
		uid  string
		text string
	}
	var all []fr
	base := time.Now().Add(-time.Minute)
	for round := range 10 {
		for _, c := range []connection{c1, c2} {
			var evs []json.RawMessage
			for i := range 20 {
				uid := linetest.NewUserID()
				e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "N" + uid[1:9]})
				f := fr{c, uid, fmt.Sprintf("round %d friend %d", round, i)}
				all = append(all, f)
				at := base.Add(time.Duration(round) * time.Second)
				evs = append(evs, linetest.FollowEvent(uid, false, at), linetest.TextMessageEvent(uid, f.text, at.Add(time.Millisecond)))
			}
			if st := e.deliver(c, evs...); st != 200 {
				t.Fatalf("webhook during the outage: %d", st)
			}
		}
		time.Sleep(down / 10)
	}
	e.waitFor("every friend's contact", 3*time.Minute, func() bool {
		var st struct {
			Inbox   struct{ Pending int64 }
			Friends struct {
				Total   int64
				Backlog int64 `json:"sync_backlog"`
			}
		}
		e.api("GET", "/status", nil, &st)
		return st.Inbox.Pending == 0 && st.Friends.Total == int64(len(all)) && st.Friends.Backlog == 0
	})
	for _, f := range all {
		p := func(key string) string { return fmt.Sprintf("%s_%d", key, f.c.Serial) }
		ct := mustContact(t, e.HS, f.uid)
		expectProps(t, ct, map[string]string{p("line_follow"): "Yes", p("line_last_response"): f.text, p("line_unanswered"): "Yes"})
		if n := countContacts(e.HS, f.uid); n != 1 {
			t.Errorf("%s has %d contacts", f.uid, n)
		}
	}
	// The timeline notes (one per message) are not lost either.
	e.notesLogged(3 * time.Minute)
	if n := len(e.HS.AllNotes()); n != len(all) {
		t.Errorf("%d timeline notes in HubSpot, want exactly one per message (%d)", n, len(all))
	}
	t.Logf("outage %s then 5%% 502s: %d HubSpot requests failed on purpose, %d friends converged, %d notes", down, failed.Load(), len(all), len(e.HS.AllNotes()))
}

// runNow starts a connection job through the API and waits for its run.
func (e *env) runNow(path string) runView {
	e.t.Helper()
	var started struct {
		RunID int64 `json:"run_id"`
	}
	if st := e.api("POST", path, nil, &started); st != 202 {
		e.t.Fatalf("POST %s: %d", path, st)
	}
	var run runView
	e.waitFor(path+" to finish", time.Minute, func() bool {
		e.api("GET", fmt.Sprintf("/jobs/runs/%d", started.RunID), nil, &run)
		return run.Status != "running"
	})
	if run.Status != "ok" {
		e.t.Fatalf("%s run: %+v", path, run)
	}
	return run
}

// TestReconcileAndDriftRespectHubSpot (docs/design.md §3 end to end): a contact
// deleted in HubSpot is not recreated by reconcile or drift repair, only by
// the friend's next message; a person's edit of Unanswered survives drift
// repair until a new LINE event changes it.
func TestReconcileAndDriftRespectHubSpot(t *testing.T) {
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_JOBS_LINE_RATE=2000"}})
	e.configureHubSpot("starter")
	c := e.connect("Shop")
	p := func(key string) string { return fmt.Sprintf("%s_%d", key, c.Serial) }
	gone, edited := linetest.NewUserID(), linetest.NewUserID()
	at := time.Now().Add(-time.Minute)
	for _, u := range []string{gone, edited} {
		e.LINE.AddFriend(c.token, line.Profile{UserID: u, DisplayName: "N" + u[1:7]})
		e.deliver(c, linetest.FollowEvent(u, false, at), linetest.TextMessageEvent(u, "hi", at.Add(time.Second)))
	}
	e.settled()
	e.HS.DeleteContact(mustContact(t, e.HS, gone).ID)
	ed := mustContact(t, e.HS, edited)
	e.HS.EditContact(ed.ID, map[string]string{p("line_unanswered"): "No"})

	if run := e.runNow(fmt.Sprintf("/connections/%d/reconcile", c.ID)); !strings.Contains(run.Message, "confirmed=2") {
		t.Errorf("reconcile run %+v", run)
	}
	e.settled()
	if run := e.runNow(fmt.Sprintf("/connections/%d/drift-repair", c.ID)); !strings.Contains(run.Message, "human_edits_kept=1") {
		t.Errorf("drift repair run %+v", run)
	}
	e.settled()
	if n := countContacts(e.HS, gone); n != 0 {
		t.Fatalf("contact deleted in HubSpot recreated by jobs (%d)", n)
	}
	if got := mustContact(t, e.HS, edited).Properties[p("line_unanswered")]; got != "No" {
		t.Errorf("person's Unanswered = No overwritten: %q", got)
	}

	e.deliver(c, linetest.TextMessageEvent(gone, "back again", time.Now()), linetest.TextMessageEvent(edited, "still there?", time.Now()))
	e.settled()
	expectProps(t, mustContact(t, e.HS, gone), map[string]string{p("line_last_response"): "back again", p("line_follow"): "Yes"})
	if got := mustContact(t, e.HS, edited).Properties[p("line_unanswered")]; got != "Yes" {
		t.Errorf("Unanswered after a new message = %q", got)
	}
}
