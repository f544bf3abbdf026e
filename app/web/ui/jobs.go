package ui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/contactsync"
	"linehub/app/jobs"
	"linehub/app/store"
	"linehub/app/web/jobrun"
	"linehub/app/web/request"
	"linehub/app/web/response"
	"linehub/assets"
)

// The dashboard's part of the scheduled jobs: the Jobs page,
// the import / reconcile section of a connection's page and the dead
// letters. Every action calls the same functions as the JSON API in
// api/jobs.go (package jobrun's Start, StartConnection and ImportState, the
// contact sync's dead letter functions); only the answers differ (pages, not JSON).

const (
	uiRunsShown     = 50 // runs on the Jobs page
	uiConnRunsShown = 10 // runs on a connection's page
	uiDeadShown     = 100
)

func (s *Server) jobRoutes(app *fiber.App, authed func(fiber.Handler) []fiber.Handler) {
	app.Get("/jobs", authed(s.jobsPage)...)
	app.Get("/jobs/runs/:run", authed(s.jobRunPage)...)
	app.Post("/jobs/:name/run", authed(s.runJob)...)
	app.Post("/connections/:id/reconcile", authed(s.connectionJob(jobs.Reconcile))...)
	app.Post("/connections/:id/drift-repair", authed(s.connectionJob(jobs.DriftRepair))...)
	app.Post("/connections/:id/import", authed(s.connectionJob(jobs.Import))...)
	app.Get("/connections/:id/import/status", authed(s.importStatus)...)
	app.Post("/dead-letters/retry", authed(s.retryDeadLetters)...)
	app.Post("/connections/:id/dead-letters/retry", authed(s.retryDeadLetters)...)
}

// readPartials returns the shared template sections in templates/partials.
func readPartials() ([]string, error) {
	names, err := fs.Glob(assets.UI, "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(assets.UI, n)
		if err != nil {
			return nil, fmt.Errorf("partial template %s: %w", n, err)
		}
		out = append(out, string(b))
	}
	return out, nil
}

// Run states as the dashboard shows them: a run cut short by a restart or
// shutdown is "interrupted" (it resumes), not failed.
const runInterrupted = "interrupted"

// runUnavailable is an import that finished without error but could not
// import anything because LINE does not list the account's friends: it
// is no success, and the admin needs the reason.
const runUnavailable = "unavailable"

func runState(r store.JobRun) string {
	if r.Status == store.RunFailed && (r.Message == store.InterruptedMessage || r.Message == jobs.StoppedMessage) {
		return runInterrupted
	}
	if r.Status == store.RunOK && r.Job == jobs.Import && slices.Contains(strings.Fields(r.Message), "state="+store.ImportUnavailable) {
		return runUnavailable
	}
	return r.Status
}

// runRow is one job run, ready to show.
type runRow struct {
	store.JobRun
	State       string
	StateText   string
	JobTitle    string
	TriggerText string
	ConnName    string
	ConnGone    bool // the connection was deleted: its page is gone
	Duration    string
	Reason      string // why the run could do nothing (state "unavailable")
	// Facts is Message worded for a person when it is the job's
	// "key=value …" summary; Message stays as the technical detail.
	Facts []runFact
}

// runFact is one figure of a run's summary with its translated label.
type runFact struct{ Label, Value string }

// runFacts words a summary such as "path=followers_ids confirmed=242"
// with the catalogue's labels ("jobs.fact_<key>", values of text keys
// "jobs.fact_<key>_<value>"); nil when any part is not known, so an
// unexpected message is shown as it is.
func runFacts(l *locale, msg string) []runFact {
	fields := strings.Fields(msg)
	if len(fields) == 0 {
		return nil
	}
	out := make([]runFact, 0, len(fields))
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || !l.Has("jobs.fact_"+k) {
			return nil
		}
		switch {
		case l.Has("jobs.fact_" + k + "_" + v):
			v = l.T("jobs.fact_" + k + "_" + v)
		case v == "true":
			v = l.T("jobs.fact_yes")
		case v == "false":
			v = l.T("jobs.fact_no")
		}
		out = append(out, runFact{Label: l.T("jobs.fact_" + k), Value: v})
	}
	return out
}

// runList is a table of runs.
type runList struct {
	L        *locale
	Rows     []runRow
	ShowConn bool
}

func (s *Server) runRow(l *locale, r store.JobRun, names map[int64]string) runRow {
	end := time.Now()
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	row := runRow{JobRun: r, State: runState(r), JobTitle: jobTitle(l, r.Job), Duration: fmtDuration(l, end.Sub(r.StartedAt)), Facts: runFacts(l, r.Message)}
	row.StateText = l.T("jobs.state_" + row.State)
	if row.State == runUnavailable {
		row.Reason = l.T("import.not_verified")
	}
	row.TriggerText = r.Trigger
	if k := "jobs.trigger_" + r.Trigger; l.Has(k) {
		row.TriggerText = l.T(k)
	}
	if r.ConnectionID != 0 {
		row.ConnName, row.ConnGone = connName(l, names, r.ConnectionID)
	}
	return row
}

// connName is the name of an active connection, or "#id (deleted)" and
// true for one that is gone (shown as text: its page no longer exists).
func connName(l *locale, names map[int64]string, id int64) (string, bool) {
	if n, ok := names[id]; ok {
		return n, false
	}
	return l.T("jobs.conn_deleted", id), true
}

// connNames maps the active connections' ids to their names.
func (s *Server) connNames(ctx context.Context) (map[int64]string, error) {
	conns, err := s.st.Connections(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[int64]string, len(conns))
	for _, c := range conns {
		m[c.ID] = c.Name
	}
	return m, nil
}

func fmtDuration(l *locale, d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return l.T("jobs.dur_ms", d.Milliseconds())
	case d < time.Minute:
		return l.T("jobs.dur_s", d.Seconds())
	case d < time.Hour:
		return l.T("jobs.dur_m", int(d.Minutes()), int(d.Seconds())%60)
	}
	return l.T("jobs.dur_h", int(d.Hours()), int(d.Minutes())%60)
}

// thousands writes n with comma separators (both catalogues use them).
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func jobTitle(l *locale, job string) string { return l.T("jobs.name_" + job) }

// runningMsg says which run is in the way of a button press.
func (s *Server) runningMsg(l *locale, job string, run *store.JobRun) string {
	if run == nil || run.ID == 0 {
		return l.T("jobs.already_running", jobTitle(l, job))
	}
	return l.T("jobs.already_running_run", jobTitle(l, job), run.ID, s.localTime(run.StartedAt))
}

// deadRow is one dead letter with the names to show.
type deadRow struct {
	store.DeadLetter
	ConnName   string
	ConnGone   bool
	FriendName string
}

// deadList is the dead-letters table with its retry forms.
type deadList struct {
	L        *locale
	CSRF     string
	Rows     []deadRow
	Total    int64
	Action   string // the retry URL
	Fragment string // where the browser lands after a retry
	ShowConn bool
}

func (s *Server) deadList(ctx context.Context, p *page, connID int64, names map[int64]string) (deadList, error) {
	dl := deadList{L: p.L, CSRF: p.CSRF, ShowConn: connID == 0, Action: "/dead-letters/retry"}
	if connID != 0 {
		dl.Action = fmt.Sprintf("/connections/%d/dead-letters/retry", connID)
		dl.Fragment = "#jobs"
	}
	dls, err := s.sync.DeadLetters(ctx, connID, uiDeadShown)
	if err != nil {
		return dl, err
	}
	if dl.Total, err = s.st.CountDeadLetters(ctx, connID); err != nil {
		return dl, err
	}
	byConn := map[int64][]string{}
	for _, d := range dls {
		byConn[d.ConnectionID] = append(byConn[d.ConnectionID], d.UserID)
	}
	friends := map[int64]map[string]*store.Friend{}
	for cid, uids := range byConn {
		if friends[cid], err = s.st.FriendsByUser(ctx, cid, uids); err != nil {
			return dl, err
		}
	}
	for _, d := range dls {
		row := deadRow{DeadLetter: d}
		row.ConnName, row.ConnGone = connName(p.L, names, d.ConnectionID)
		if f := friends[d.ConnectionID][d.UserID]; f != nil {
			row.FriendName = f.DisplayName
		}
		dl.Rows = append(dl.Rows, row)
	}
	return dl, nil
}

// jobRow is one scheduled job on the Jobs page.
type jobRow struct {
	jobs.JobInfo
	Title   string
	Running []runRow
	Last    *runRow
	CanRun  bool // import runs per connection, from the connection's page
	// ScheduleText is Schedule in words; "" when it has no common shape
	// (then the cron text is shown).
	ScheduleText string
}

func (s *Server) jobsPage(c *fiber.Ctx) error { return s.jobsView(c, 0, "") }

func (s *Server) jobsView(c *fiber.Ctx, status int, errMsg string) error {
	ctx := c.UserContext()
	p := &page{L: s.locale(c), CSRF: s.csrfToken(c), Title: "jobs.title", Nav: "jobs", Error: errMsg}
	l := p.L
	names, err := s.connNames(ctx)
	if err != nil {
		return err
	}
	data := fiber.Map{"Scheduler": s.jobs != nil}
	if s.jobs != nil {
		list, err := s.jobs.Jobs(ctx)
		if err != nil {
			return err
		}
		rows := make([]jobRow, 0, len(list))
		for _, ji := range list {
			row := jobRow{JobInfo: ji, Title: jobTitle(l, ji.Name), CanRun: ji.Name != jobs.Import}
			for _, r := range ji.Running {
				row.Running = append(row.Running, s.runRow(l, r, names))
			}
			if ji.LastRun != nil {
				lr := s.runRow(l, *ji.LastRun, names)
				row.Last = &lr
			}
			if ji.Name == jobs.Import {
				row.ScheduleText = l.T("jobs.import_schedule")
			} else if t, ok := scheduleText(l, ji.Schedule); ok {
				row.ScheduleText = t
			}
			rows = append(rows, row)
		}
		data["Jobs"] = rows
		data["TimeZone"] = s.jobs.Location().String()
	}
	filter := c.Query("job")
	switch filter {
	case "", jobs.Reconcile, jobs.Import, jobs.DriftRepair, jobs.DeadLetters, jobs.PruneInbox:
	default:
		filter = ""
	}
	runs, err := s.st.JobRuns(ctx, filter, 0, uiRunsShown)
	if err != nil {
		return err
	}
	rl := runList{L: l, ShowConn: true}
	for _, r := range runs {
		rl.Rows = append(rl.Rows, s.runRow(l, r, names))
	}
	data["Runs"] = rl
	data["Filter"] = filter
	data["Filters"] = []string{jobs.Reconcile, jobs.Import, jobs.DriftRepair, jobs.DeadLetters, jobs.PruneInbox}
	if data["Dead"], err = s.deadList(ctx, p, 0, names); err != nil {
		return err
	}
	p.Data = data
	return s.render(c, status, "jobs", p)
}

func (s *Server) jobRunPage(c *fiber.Ctx) error {
	id, err := request.PathID(c, "run", "job run")
	if err != nil {
		return err
	}
	r, err := s.st.JobRun(c.UserContext(), id)
	if err != nil {
		return err
	}
	names, err := s.connNames(c.UserContext())
	if err != nil {
		return err
	}
	l := s.locale(c)
	row := s.runRow(l, *r, names)
	return s.render(c, 0, "job_run", &page{L: l, Title: "jobs.run_title", Nav: "jobs", Data: fiber.Map{"Run": row, "JobTitle": jobTitle(l, r.Job)}})
}

// runJob is the Jobs page's "Run now".
func (s *Server) runJob(c *fiber.Ctx) error {
	l := s.locale(c)
	name := c.Params("name")
	if s.jobs == nil {
		return s.jobsView(c, fiber.StatusServiceUnavailable, l.T("jobs.no_scheduler"))
	}
	run, err := jobrun.Start(s.jobs, name, jobs.TriggerDashboard)
	if errors.Is(err, jobs.ErrRunning) {
		return s.jobsView(c, fiber.StatusConflict, s.runningMsg(l, name, run))
	}
	if err != nil {
		status, _ := response.StatusOf(err)
		return s.jobsView(c, status, s.userError(c, err))
	}
	if run == nil {
		return c.Redirect("/jobs?ok=jobs.flash_started_all", fiber.StatusSeeOther)
	}
	return c.Redirect("/jobs?ok=jobs.flash_started", fiber.StatusSeeOther)
}

// connectionJob is a connection page's "Import friends", "Reconcile now"
// or "Repair drift". Its outcome shows in the page's jobs section
// (?jobs=key, or JobsError), where the form's #jobs brings the browser.
func (s *Server) connectionJob(job string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		conn, err := s.connParam(c)
		if err != nil {
			return err
		}
		l := s.locale(c)
		fail := func(status int, msg string) error {
			return s.connView(c, conn, status, "", fiber.Map{"JobsError": msg})
		}
		if s.jobs == nil {
			return fail(fiber.StatusServiceUnavailable, l.T("jobs.no_scheduler"))
		}
		if conn.TokenLast4 == "" && job != jobs.DriftRepair {
			return fail(fiber.StatusBadRequest, l.T("err.no_token"))
		}
		run, err := jobrun.StartConnection(s.jobs, conn, job, jobs.TriggerDashboard)
		if errors.Is(err, jobs.ErrRunning) {
			return fail(fiber.StatusConflict, s.runningMsg(l, job, run))
		}
		if err != nil {
			status, _ := response.StatusOf(err)
			return fail(status, s.userError(c, err))
		}
		return c.Redirect(fmt.Sprintf("/connections/%d?jobs=jobs.flash_%s", conn.ID, job), fiber.StatusSeeOther)
	}
}

// importView is a connection's import progress, ready to show.
type importView struct {
	contactsync.ImportProgress
	Running     bool // an import run is going on now
	Stalled     bool // left "running" by a restart: the import check resumes it
	NotVerified bool // LINE does not list this account's friends
	Progress    string
	Rate        string
	ETA         string
	Result      string // the outcome of a finished import
	Pending     string // friends imported but not yet in HubSpot
}

func (s *Server) importView(ctx context.Context, l *locale, conn *store.Connection) (importView, error) {
	p, running, err := jobrun.ImportState(ctx, s.sync, s.jobs, conn.ID)
	if err != nil {
		return importView{}, err
	}
	v := importView{ImportProgress: p, Running: running}
	v.Stalled = p.State == store.ImportRunning && !running
	v.NotVerified = p.State == store.ImportUnavailable
	if !v.NotVerified && conn.TokenLast4 != "" && p.State == "" {
		ok, err := s.sync.FollowerIDsAvailable(ctx, conn.ID)
		v.NotVerified = err == nil && !ok
	}
	if p.Total > 0 {
		v.Progress = l.T("import.progress", thousands(p.Done), thousands(p.Total), int(p.Percent))
	} else {
		v.Progress = l.T("import.listing")
	}
	if p.RatePerSec > 0 {
		v.Rate = l.T("import.rate", p.RatePerSec)
	}
	if p.State == store.ImportRunning && p.Total > p.Done && p.RatePerSec > 0 {
		v.ETA = l.T("import.eta", fmtDuration(l, time.Duration(max(p.ETASeconds, 1))*time.Second))
	}
	if p.FinishedAt != nil {
		took := fmtDuration(l, p.FinishedAt.Sub(p.StartedAt))
		at := s.localTime(*p.FinishedAt)
		switch p.State {
		case store.ImportDone:
			v.Result = l.T("import.done", thousands(p.Total), at, took)
		case store.ImportFailed:
			v.Result = l.T("import.failed", at, p.Message)
		}
	}
	if p.PendingSync > 0 {
		v.Pending = l.T("import.pending_sync", thousands(p.PendingSync))
	}
	return v, nil
}

// connJobs is the jobs section of a connection's page.
type connJobs struct {
	Scheduler bool
	HasToken  bool
	Import    importView
	Active    []runRow // this connection's runs going on now
	Runs      runList
	Dead      deadList
	Notice    string
}

// connJobsData fills the jobs section of a connection's page.
func (s *Server) connJobsData(c *fiber.Ctx, conn *store.Connection) (*connJobs, error) {
	ctx := c.UserContext()
	l := s.locale(c)
	p := &page{L: l, CSRF: s.csrfToken(c)}
	cj := &connJobs{Scheduler: s.jobs != nil, HasToken: conn.TokenLast4 != ""}
	var err error
	if cj.Import, err = s.importView(ctx, l, conn); err != nil {
		return nil, err
	}
	names := map[int64]string{conn.ID: conn.Name}
	if s.jobs != nil {
		for _, job := range []string{jobs.Import, jobs.Reconcile, jobs.DriftRepair} {
			if r := s.jobs.Running(job, conn.ID); r != nil {
				cj.Active = append(cj.Active, s.runRow(l, *r, names))
			}
		}
	}
	runs, err := s.st.JobRuns(ctx, "", conn.ID, uiConnRunsShown)
	if err != nil {
		return nil, err
	}
	cj.Runs.L = l
	for _, r := range runs {
		cj.Runs.Rows = append(cj.Runs.Rows, s.runRow(l, r, names))
	}
	if cj.Dead, err = s.deadList(ctx, p, conn.ID, names); err != nil {
		return nil, err
	}
	if k := c.Query("jobs"); (strings.HasPrefix(k, "jobs.") || strings.HasPrefix(k, "dead.")) && l.Has(k) {
		cj.Notice = l.T(k)
	}
	return cj, nil
}

// importStatus feeds app.js's progress bar while an import runs (the
// page itself shows the same without JavaScript).
func (s *Server) importStatus(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	v, err := s.importView(c.UserContext(), s.locale(c), conn)
	if err != nil {
		return err
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(fiber.Map{
		"state": v.State, "running": v.Running, "done": v.Done, "total": v.Total, "percent": v.Percent,
		"progress": v.Progress, "rate": v.Rate, "eta": v.ETA,
	})
}

// retryDeadLetters un-parks the dead letters named by the form's id
// fields, or all of them (of the connection in the path, if any).
func (s *Server) retryDeadLetters(c *fiber.Ctx) error {
	connID, err := request.OptionalConnection(c, s.st)
	if errors.Is(err, store.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "no such connection")
	}
	if err != nil {
		return err
	}
	var ids []int64
	for _, v := range c.Request().PostArgs().PeekMulti("id") {
		id, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || id <= 0 {
			return fiber.NewError(fiber.StatusBadRequest, "bad dead letter id")
		}
		ids = append(ids, id)
	}
	if len(ids) > uiDeadShown {
		return fiber.NewError(fiber.StatusBadRequest, "too many ids")
	}
	n, err := s.sync.RetryDeadLetters(c.UserContext(), connID, ids)
	if err != nil {
		return err
	}
	s.log.Info("dead letters retried from the dashboard", "connection", connID, "count", n)
	key := "dead.flash_retried"
	if n == 0 {
		key = "dead.flash_none"
	}
	if connID != 0 {
		return c.Redirect(fmt.Sprintf("/connections/%d?jobs=%s", connID, key), fiber.StatusSeeOther)
	}
	return c.Redirect("/jobs?ok="+key, fiber.StatusSeeOther)
}

// cardBadges are the dashboard card's signs that a connection needs a look.
type cardBadges struct {
	DeadLetters int64
	Importing   bool
}

func (s *Server) cardBadges(ctx context.Context, connID int64) (cardBadges, error) {
	var b cardBadges
	var err error
	if b.DeadLetters, err = s.st.CountDeadLetters(ctx, connID); err != nil {
		return b, err
	}
	b.Importing = s.jobs != nil && s.jobs.Running(jobs.Import, connID) != nil
	return b, nil
}
