package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/contactsync"
	"linehub/app/jobs"
	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/store"
	"linehub/app/web"
)

// newJobsUIEnv is newUIEnv with the job scheduler wired in (its cron is
// not started: the tests start every run themselves) and HubSpot
// configured, signed in as the admin.
func newJobsUIEnv(t *testing.T) (*uiEnv, *browser) {
	t.Helper()
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	e.cfg.Jobs.LINERate = 5000 // the LINE double is local
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &uiEnv{env: e, base: "http://" + ln.Addr().String(), logs: &lockedBuffer{}}
	e.cfg.PublicURL = u.base // the setup link and cookies without Secure
	logger := slog.New(slog.NewTextHandler(u.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sched, err := jobs.New(jobs.Options{Sync: e.sync, Messaging: e.msg, Store: e.st, Config: e.cfg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	app := web.New(web.Options{Connections: e.conns, Sync: e.sync, Messaging: e.msg, Store: e.st, Config: e.cfg, Version: "test", Logger: logger, Jobs: sched,
		SetupURL: func(l string) { u.link = l }})
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		_ = app.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sched.Stop(ctx); err != nil {
			t.Errorf("stop scheduler: %v", err)
		}
	})
	return u, u.claim(t)
}

// connect creates a connection through the API over a LINE channel in the
// double (verified: LINE lists its followers) with the given followers.
func (u *uiEnv) connect(t *testing.T, name string, verified, withToken bool, followers int) conn {
	t.Helper()
	ch := channel{secret: "chsecret" + linetest.NewUserID()[1:], token: "chtoken" + linetest.NewUserID()[1:]}
	u.ln.AddChannel(linetest.Channel{Secret: ch.secret, Token: ch.token, DisplayName: name, Verified: verified})
	ch.bot = u.ln.BotUserID(ch.token)
	u.secrets = append(u.secrets, ch.secret, ch.token)
	for i := range followers {
		u.ln.AddFriend(ch.token, line.Profile{UserID: linetest.NewUserID(), DisplayName: fmt.Sprintf("Friend %04d", i)})
	}
	in := map[string]string{"name": name, "channel_secret": ch.secret}
	if withToken {
		in["channel_access_token"] = ch.token
	}
	st, out := u.api("POST", "/api/v1/connections", in)
	if st != 201 {
		t.Fatalf("create connection %q: %d %v", name, st, out)
	}
	key, ok := strings.CutPrefix(fmt.Sprint(out["webhook_url"]), u.base+"/webhook/")
	if !ok {
		t.Fatalf("webhook_url %v", out["webhook_url"])
	}
	return conn{id: fmt.Sprint(out["id"]), serial: int(out["serial"].(float64)), key: key, ch: ch}
}

// connID is the numeric id of a connection made with createConn.
func connID(t *testing.T, c conn) int64 {
	id, err := strconv.ParseInt(c.id, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitRun waits until a run has ended and returns it.
func (u *uiEnv) waitRun(t *testing.T, id int64) *store.JobRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := u.st.JobRun(u.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.RunRunning {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d still running", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (u *uiEnv) lastRun(t *testing.T, job string, connID int64) store.JobRun {
	t.Helper()
	runs, err := u.st.JobRuns(u.ctx, job, connID, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of %s: %v %v", job, runs, err)
	}
	return runs[0]
}

// gate holds LINE requests matching a path prefix once after of them
// went through, until open is called.
type gate struct {
	prefix  string
	after   int64
	n       atomic.Int64
	release chan struct{}
	once    sync.Once
}

func holdLINE(u *uiEnv, prefix string, after int64) *gate {
	g := &gate{prefix: prefix, after: after, release: make(chan struct{})}
	u.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasPrefix(r.URL.Path, g.prefix) && g.n.Add(1) > g.after {
			<-g.release
		}
		return 0, "", false
	})
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func TestJobsPageRunNowAndCSRF(t *testing.T) {
	u, b := newJobsUIEnv(t)
	c := u.connect(t, "Shop Jobs", false, true, 0)
	id := connID(t, c)

	st, body := b.get("/jobs")
	if st != 200 {
		t.Fatalf("GET /jobs: %d", st)
	}
	for _, want := range []string{`href="/jobs" aria-current="page"`, `data-job="reconcile"`, `data-job="import"`, `data-job="drift_repair"`,
		`data-job="dead_letters"`, `data-job="prune_inbox"`, `title="0 */6 * * *">every 6 hours<`, `id="run-dead_letters"`, "UTC", "No runs yet."} {
		if !strings.Contains(body, want) {
			t.Errorf("jobs page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="run-import"`) {
		t.Error("import has a global Run now button; it runs per connection")
	}

	// Run now needs the form's CSRF token.
	if st, _, _ := b.post("/jobs/dead_letters/run", url.Values{"csrf": {"forged"}}); st != 403 {
		t.Fatalf("Run now without CSRF: %d, want 403", st)
	}
	if runs, _ := u.st.JobRuns(u.ctx, "", 0, 10); len(runs) != 0 {
		t.Fatalf("a forged Run now started %d runs", len(runs))
	}
	b.get("/jobs")
	st, _, loc := b.post("/jobs/dead_letters/run", url.Values{})
	if st != 303 || loc != "/jobs?ok=jobs.flash_started" {
		t.Fatalf("Run now: %d %q", st, loc)
	}
	run := u.waitRun(t, u.lastRun(t, jobs.DeadLetters, 0).ID)
	if run.Trigger != jobs.TriggerDashboard || run.Status != store.RunOK {
		t.Errorf("run started from the dashboard: %+v", run)
	}
	_, body = b.get(loc)
	if !strings.Contains(body, "Job started.") || !regexp.MustCompile(`data-run="`+strconv.FormatInt(run.ID, 10)+`" data-job="dead_letters" data-state="ok"`).MatchString(body) {
		t.Errorf("jobs page after Run now lacks the flash or the run:\n%s", body)
	}
	// Its detail page shows the outcome message.
	st, body = b.get(fmt.Sprintf("/jobs/runs/%d", run.ID))
	if st != 200 || !strings.Contains(body, "parked=0 retried=0") || !strings.Contains(body, "dashboard") {
		t.Errorf("run detail: %d", st)
	}
	if st, _ := b.get("/jobs/runs/999999"); st != 404 {
		t.Errorf("unknown run: %d", st)
	}
	if st, _, _ := b.post("/jobs/nope/run", url.Values{}); st != 404 {
		t.Errorf("unknown job: %d", st)
	}

	// Reconcile now while one runs: LINE's follower list hangs until the
	// gate opens, so the second press meets the first run.
	g := holdLINE(u, "/v2/bot/followers/ids", 0)
	defer g.open()
	path := "/connections/" + c.id
	b.get(path)
	if st, _, _ := b.post(path+"/reconcile", url.Values{"csrf": {"forged"}}); st != 403 {
		t.Fatalf("Reconcile now without CSRF: %d, want 403", st)
	}
	st, _, loc = b.post(path+"/reconcile", url.Values{})
	if st != 303 || loc != path+"?jobs=jobs.flash_reconcile" {
		t.Fatalf("Reconcile now: %d %q", st, loc)
	}
	first := u.lastRun(t, jobs.Reconcile, id)
	_, body = b.get(loc)
	if !strings.Contains(body, `id="jobs-notice"`) || !strings.Contains(body, "Reconcile started") || !strings.Contains(body, `data-job="reconcile" data-state="running"`) {
		t.Errorf("connection page after Reconcile now lacks the notice or the running run")
	}
	st, body, _ = b.post(path+"/reconcile", url.Values{})
	if st != 409 {
		t.Fatalf("second Reconcile now: %d, want 409", st)
	}
	want := fmt.Sprintf("Reconcile follow status is already running (run #%d", first.ID)
	if !strings.Contains(body, `id="jobs-error"`) || !strings.Contains(body, want) || !strings.Contains(body, `id="webhook-url"`) {
		t.Errorf("409 is not the connection page with %q", want)
	}
	_, body = b.get("/jobs")
	if !regexp.MustCompile(`(?s)data-job="reconcile">.*?class="running-cell"><span class="state running">Shop Jobs</span>`).MatchString(body) {
		t.Error("jobs page does not show the reconcile running now")
	}
	g.open()
	if r := u.waitRun(t, first.ID); r.Status != store.RunOK {
		t.Errorf("reconcile run: %+v", r)
	}
	_, body = b.get(path)
	if !strings.Contains(body, `data-job="reconcile" data-state="ok"`) || !strings.Contains(body, "Friends confirmed") {
		t.Error("connection page lacks the finished reconcile run and its message")
	}

	// Drift repair runs from the page too.
	b.get(path)
	if st, _, loc := b.post(path+"/drift-repair", url.Values{}); st != 303 || !strings.Contains(loc, "jobs.flash_drift_repair") {
		t.Errorf("drift repair: %d %q", st, loc)
	}
	u.waitRun(t, u.lastRun(t, jobs.DriftRepair, id).ID)

	// Interrupted runs (a restart) are shown as such, not as failures.
	if _, err := u.st.StartJobRun(u.ctx, jobs.Reconcile, id, jobs.TriggerSchedule); err != nil {
		t.Fatal(err)
	}
	if err := u.st.AbandonRunningJobs(u.ctx); err != nil {
		t.Fatal(err)
	}
	_, body = b.get("/jobs")
	if !strings.Contains(body, `data-job="reconcile" data-state="interrupted"`) || !strings.Contains(body, ">interrupted<") {
		t.Error("jobs page does not show the interrupted run as interrupted")
	}
	// Japanese.
	b.get("/lang/ja")
	if _, body := b.get("/jobs"); !strings.Contains(body, "定期ジョブ") || !strings.Contains(body, "中断") {
		t.Error("jobs page in Japanese")
	}
}

// TestImportProgressUI: a verified account with 1,000 followers; LINE's
// profile calls stall after 450 of them, so the import stands at 400 of
// 1,000 (two stored chunks) while the page is checked.
func TestImportProgressUI(t *testing.T) {
	const followers = 1000
	u, b := newJobsUIEnv(t)
	c := u.connect(t, "Verified Shop", true, true, followers)
	path := "/connections/" + c.id
	_, body := b.get(path)
	if !strings.Contains(body, `id="import-none"`) || strings.Contains(body, `id="import-unavailable"`) {
		t.Error("before any import the page should say none ran (and not call the account unverified)")
	}

	g := holdLINE(u, "/v2/bot/profile/", 450)
	defer g.open()
	if st, _, _ := b.post(path+"/import", url.Values{"csrf": {"forged"}}); st != 403 {
		t.Fatalf("Import friends without CSRF: %d, want 403", st)
	}
	b.get(path)
	st, _, loc := b.post(path+"/import", url.Values{})
	if st != 303 || loc != path+"?jobs=jobs.flash_import" {
		t.Fatalf("Import friends: %d %q", st, loc)
	}
	var status struct {
		State    string `json:"state"`
		Running  bool   `json:"running"`
		Done     int64  `json:"done"`
		Total    int64  `json:"total"`
		Progress string `json:"progress"`
		Rate     string `json:"rate"`
		ETA      string `json:"eta"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for status.Done != 400 {
		if time.Now().After(deadline) {
			t.Fatalf("import did not reach 400: %+v", status)
		}
		time.Sleep(20 * time.Millisecond)
		st, raw := b.get(path + "/import/status")
		if st != 200 {
			t.Fatalf("import status: %d %s", st, raw)
		}
		if err := json.Unmarshal([]byte(raw), &status); err != nil {
			t.Fatalf("import status %q: %v", raw, err)
		}
	}
	if !status.Running || status.Total != followers || status.Progress != "400 of 1,000 friends (40%)" || !strings.HasSuffix(status.Rate, "friends/s") || !strings.HasPrefix(status.ETA, "about ") {
		t.Errorf("import status while running: %+v", status)
	}
	_, body = b.get(path)
	for _, want := range []string{`<progress id="import-bar" max="1000" value="400">`, `data-poll="` + path + `/import/status"`,
		"400 of 1,000 friends (40%)", `data-job="import" data-state="running"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page while importing lacks %q", want)
		}
	}
	if _, body := b.get("/"); !strings.Contains(body, `data-badge="importing"`) {
		t.Error("dashboard card has no importing badge")
	}
	// A second press meets the running import.
	st, body, _ = b.post(path+"/import", url.Values{})
	if st != 409 || !strings.Contains(body, "Import friends is already running") {
		t.Errorf("second Import friends: %d", st)
	}
	// Signed out, the status endpoint sends to the login page.
	anon := u.browser(t)
	if st, _ := anon.get(path + "/import/status"); st != 303 {
		t.Errorf("import status without a session: %d", st)
	}

	g.open()
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, body = b.get(path)
		if strings.Contains(body, `id="import-result"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("import did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, "Imported 1,000 friends") || strings.Contains(body, `data-poll=`) {
		t.Error("finished import: result missing or still polling")
	}
	if _, body := b.get("/"); strings.Contains(body, `data-badge="importing"`) {
		t.Error("importing badge after the import ended")
	}
}

func TestImportNotVerifiedUI(t *testing.T) {
	u, b := newJobsUIEnv(t)
	c := u.connect(t, "Plain Shop", false, true, 3)
	path := "/connections/" + c.id
	b.get(path)
	if st, _, _ := b.post(path+"/import", url.Values{}); st != 303 {
		t.Fatalf("Import friends: %d", st)
	}
	r := u.waitRun(t, u.lastRun(t, jobs.Import, connID(t, c)).ID)
	if !strings.Contains(r.Message, "state=unavailable") {
		t.Fatalf("import of an unverified account: %+v", r)
	}
	_, body := b.get(path)
	if !strings.Contains(body, `id="import-unavailable"`) || !strings.Contains(body, "existing friend appears in HubSpot when they next send a message") {
		t.Error("the page does not say existing friends appear when they next message")
	}
	if !regexp.MustCompile(`<button id="import-now" disabled>`).MatchString(body) {
		t.Error("Import friends enabled for an account LINE does not list friends of")
	}
	b.get("/lang/ja")
	if _, body := b.get(path); !strings.Contains(body, "次にメッセージを送ったときに HubSpot に現れます") {
		t.Error("not-verified note in Japanese")
	}

	// Without a token the buttons are off and a forced press says why.
	c2 := u.connect(t, "No Token Shop", true, false, 0)
	b.get("/lang/en")
	_, body = b.get("/connections/" + c2.id)
	if !strings.Contains(body, `id="jobs-no-token"`) || !strings.Contains(body, `<button id="reconcile-now" class="secondary" disabled>`) {
		t.Error("connection without a token: no note or the buttons are enabled")
	}
	if st, body, _ := b.post("/connections/"+c2.id+"/reconcile", url.Values{}); st != 400 || !strings.Contains(body, `id="jobs-error"`) {
		t.Errorf("reconcile without a token: %d", st)
	}
}

func TestDeadLetterRetryUI(t *testing.T) {
	u, b := newJobsUIEnv(t)
	c := u.connect(t, "Shop Dead", false, true, 0)
	id := connID(t, c)
	uids := []string{linetest.NewUserID(), linetest.NewUserID()}
	for i, uid := range uids {
		u.ln.AddFriend(c.ch.token, line.Profile{UserID: uid, DisplayName: fmt.Sprintf("Hanako %d", i)})
		u.deliver(c, linetest.FollowEvent(uid, false, time.Now()))
	}
	// As in the bridge's tests: a friend HubSpot keeps rejecting, swept
	// into the dead letters.
	for _, uid := range uids {
		_, err := u.st.UpdateFriend(u.ctx, id, uid, func(f *store.Friend) error {
			f.Dirty |= int(contactsync.FieldName)
			f.SyncAttempts, f.SyncError, f.NextSyncAt = 50, "HubSpot rejected the contact (400 VALIDATION_ERROR): bad value for line_user_name", time.Now().Add(time.Hour).UnixMilli()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if parked, _, err := u.sync.SweepDeadLetters(u.ctx); err != nil || parked != 2 {
		t.Fatalf("parked %d, %v", parked, err)
	}
	dls, _ := u.sync.DeadLetters(u.ctx, id, 10)

	path := "/connections/" + c.id
	_, body := b.get(path)
	for _, want := range []string{"Contacts not synced to HubSpot: 2", "Hanako 0", uids[1], "bad value for line_user_name", `id="retry-all"`, fmt.Sprintf(`id="retry-%d"`, dls[0].ID)} {
		if !strings.Contains(body, want) {
			t.Errorf("connection page lacks %q", want)
		}
	}
	if _, body := b.get("/jobs"); !strings.Contains(body, fmt.Sprintf(`data-dead="%d"`, dls[1].ID)) || !strings.Contains(body, "Shop Dead") {
		t.Error("jobs page does not list the dead letters with their connection")
	}
	if _, body := b.get("/"); !strings.Contains(body, `data-badge="dead">not synced to HubSpot: 2`) {
		t.Error("dashboard card has no dead-letter badge")
	}

	// Retry needs the CSRF token.
	if st, _, _ := b.post(path+"/dead-letters/retry", url.Values{"csrf": {"forged"}, "id": {strconv.FormatInt(dls[0].ID, 10)}}); st != 403 {
		t.Fatalf("retry without CSRF: %d", st)
	}
	if n, _ := u.st.CountDeadLetters(u.ctx, id); n != 2 {
		t.Fatalf("a forged retry un-parked: %d left", n)
	}
	// One from the connection's page.
	b.get(path)
	st, _, loc := b.post(path+"/dead-letters/retry", url.Values{"id": {strconv.FormatInt(dls[0].ID, 10)}})
	if st != 303 || loc != path+"?jobs=dead.flash_retried" {
		t.Fatalf("retry one: %d %q", st, loc)
	}
	if f, _ := u.st.Friend(u.ctx, id, dls[0].UserID); f.NextSyncAt != 0 || f.SyncAttempts != 0 {
		t.Errorf("retried friend still parked: next %d attempts %d", f.NextSyncAt, f.SyncAttempts)
	}
	if f, _ := u.st.Friend(u.ctx, id, dls[1].UserID); f.NextSyncAt == 0 {
		t.Error("the other dead letter was un-parked too")
	}
	_, body = b.get(loc)
	if !strings.Contains(body, "Contacts not synced to HubSpot: 1") || !strings.Contains(body, "queued again") {
		t.Error("page after retrying one")
	}
	// The rest from the Jobs page.
	b.get("/jobs")
	if st, _, _ := b.post("/dead-letters/retry", url.Values{"id": {"x"}}); st != 400 {
		t.Errorf("bad id: %d", st)
	}
	b.get("/jobs")
	if st, _, loc := b.post("/dead-letters/retry", url.Values{}); st != 303 || loc != "/jobs?ok=dead.flash_retried" {
		t.Fatalf("retry all: %d %q", st, loc)
	}
	if n, _ := u.st.CountDeadLetters(u.ctx, 0); n != 0 {
		t.Errorf("%d dead letters left after Retry all", n)
	}
	_, body = b.get("/jobs")
	if !strings.Contains(body, "Every contact is synced") {
		t.Error("jobs page after Retry all")
	}
	if _, body := b.get("/"); strings.Contains(body, `data-badge="dead"`) {
		t.Error("dead-letter badge after Retry all")
	}
}

// TestJobsDeletedConnectionNotLinked: runs of a deleted connection name
// it as deleted text, never a link to its page (which is gone).
func TestJobsDeletedConnectionNotLinked(t *testing.T) {
	u, b := newJobsUIEnv(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	c := u.connect(t, "Gone Shop", true, true, 1)
	path := "/connections/" + c.id
	b.get(path)
	if st, _, _ := b.post(path+"/import", url.Values{}); st != 303 {
		t.Fatalf("import: %d", st)
	}
	run := u.lastRun(t, jobs.Import, connID(t, c))
	u.waitRun(t, run.ID)
	if st, out := u.api("DELETE", "/api/v1/connections/"+c.id, nil); st >= 300 {
		t.Fatalf("delete connection: %d %v", st, out)
	}
	link := `href="` + path + `"`
	for _, p := range []string{"/jobs", fmt.Sprintf("/jobs/runs/%d", run.ID)} {
		st, body := b.get(p)
		if st != 200 {
			t.Fatalf("%s: %d", p, st)
		}
		if strings.Contains(body, link) {
			t.Errorf("%s links to the deleted connection %s", p, path)
		}
		if !strings.Contains(body, "#"+c.id+"（削除済み）") {
			t.Errorf("%s does not name the deleted connection as deleted", p)
		}
	}
}

// TestRunSummaryWorded: a reconcile run's summary ("path=followers_ids
// confirmed=3 …") is shown in the admin's language, the raw line only in
// the folded details.
func TestRunSummaryWorded(t *testing.T) {
	u, b := newJobsUIEnv(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	c := u.connect(t, "Shop", true, true, 3)
	path := "/connections/" + c.id
	b.get(path)
	if st, _, _ := b.post(path+"/reconcile", url.Values{}); st != 303 {
		t.Fatalf("reconcile: %d", st)
	}
	run := u.waitRun(t, u.lastRun(t, jobs.Reconcile, connID(t, c)).ID)
	if !strings.Contains(run.Message, "path=followers_ids") {
		t.Fatalf("run message %q", run.Message)
	}
	_, body := b.get(fmt.Sprintf("/jobs/runs/%d", run.ID))
	for _, want := range []string{`id="run-facts"`, "確認できた友だち", "LINE の友だち一覧"} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	if strings.Contains(outsideDetails(body), "path=followers_ids") {
		t.Error("the raw summary is shown outside the details")
	}
}

// TestImportUnavailableNotSuccess: an import that could import nothing
// because LINE does not list an unverified account's friends is shown as
// unavailable with the reason, not as a success, on the Jobs page, the
// run's page and the connection's page, in both languages.
func TestImportUnavailableNotSuccess(t *testing.T) {
	u, b := newJobsUIEnv(t)
	c := u.connect(t, "Plain Shop", false, true, 3)
	path := "/connections/" + c.id
	b.get(path)
	if st, _, _ := b.post(path+"/import", url.Values{}); st != 303 {
		t.Fatalf("Import friends: %d", st)
	}
	r := u.waitRun(t, u.lastRun(t, jobs.Import, connID(t, c)).ID)
	run := "/jobs/runs/" + strconv.FormatInt(r.ID, 10)
	for _, lang := range []struct{ code, state, reason string }{
		{"ja", ">利用不可<", "認証済みアカウントとプレミアムアカウントだけ"},
		{"en", ">Unavailable<", "only of verified and premium accounts"},
	} {
		b.get("/lang/" + lang.code)
		for _, p := range []string{"/jobs", run, path} {
			_, body := b.get(p)
			if !strings.Contains(body, `data-state="unavailable"`) && !strings.Contains(body, `class="state unavailable"`) {
				t.Errorf("%s %s: the import is not marked unavailable", lang.code, p)
			}
			if !strings.Contains(body, lang.state) || !strings.Contains(body, lang.reason) {
				t.Errorf("%s %s: no %q with the reason %q", lang.code, p, lang.state, lang.reason)
			}
			if regexp.MustCompile(`data-job="import" data-state="ok"`).MatchString(body) {
				t.Errorf("%s %s: the unavailable import is labelled a success", lang.code, p)
			}
		}
	}
}

// TestJobsScheduleInWords: the Jobs page describes the default schedules
// in words (the cron text only in a tooltip) and names the changes
// HubSpot refuses in plain Japanese, not "dead letters" transliterated.
func TestJobsScheduleInWords(t *testing.T) {
	_, b := newJobsUIEnv(t)
	b.get("/lang/ja")
	_, body := b.get("/jobs")
	for _, want := range []string{
		`<span title="0 */6 * * *">6 時間ごと</span>`,
		`<span title="30 3 * * *">毎日 03:30</span>`,
		`<span title="@hourly">1 時間ごと</span>`,
		`<span title="@every 1m">1 分ごと</span>`,
		"同期できない連絡先",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("jobs page (ja) lacks %q", want)
		}
	}
	for _, bad := range []string{"<code>0 */6 * * *</code>", "<code>@hourly</code>", "デッドレター"} {
		if strings.Contains(body, bad) {
			t.Errorf("jobs page (ja) shows %q", bad)
		}
	}
	b.get("/lang/en")
	if _, body := b.get("/jobs"); !strings.Contains(body, ">every 6 hours<") || !strings.Contains(body, ">daily at 03:30<") {
		t.Error("jobs page (en) does not word the schedules")
	}
}
