// Package jobs runs linehub's background jobs on cron schedules (robfig/cron,
// seconds optional, in the configured time zone): reconcile follow status
// with LINE, import the friends of new verified accounts, repair drift in
// HubSpot, park and retry dead letters, prune the inbox. No job overlaps
// itself, and every run's outcome is stored for the API and dashboard.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"linehub/app/config"
	"linehub/app/contactsync"
	"linehub/app/messaging"
	"linehub/app/metrics"
	"linehub/app/store"
)

// Job names (also the jobs.* schedule keys).
const (
	Reconcile   = "reconcile"
	DriftRepair = "drift_repair"
	DeadLetters = "dead_letters"
	PruneInbox  = "prune_inbox"
	ImportCheck = "import_check"
	// Import is not scheduled by itself: import_check and the API start it.
	Import = "import"
)

// Triggers recorded on runs.
const (
	TriggerSchedule = "schedule"
	TriggerAPI      = "api"
	TriggerConnect  = "connect" // a new verified connection, or a restart resuming
	// TriggerDashboard marks runs started by a button in the dashboard.
	TriggerDashboard = "dashboard"
)

// StoppedMessage is the message of a run cancelled by shutdown; like
// store.InterruptedMessage it means "interrupted", not failed.
const StoppedMessage = "stopped by shutdown; resumes on the next run"

// reconcileParallel connections are reconciled at once at most; each one
// talks to its own LINE channel, but all write to the one SQLite file.
const reconcileParallel = 4

// keepRuns job runs are kept in the database.
const keepRuns = 2000

// ErrRunning is returned when the job asked for is already running.
var ErrRunning = errors.New("already running")

// Options wires a Scheduler.
type Options struct {
	Sync *contactsync.Sync
	// Messaging prunes finished sends and old chat messages with the inbox.
	Messaging *messaging.Service
	Store     *store.Store
	Config    *config.Config
	Logger    *slog.Logger
}

// Scheduler owns the cron and the runs it starts.
type Scheduler struct {
	sync *contactsync.Sync
	msg  *messaging.Service
	st   *store.Store
	cfg  *config.Config
	log  *slog.Logger
	loc  *time.Location

	cron    *cron.Cron
	entries map[string]cron.EntryID
	specs   map[string]string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*store.JobRun // by key: job, or job:connection
}

// New parses the schedules; Start runs them.
func New(o Options) (*Scheduler, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	loc, err := o.Config.Jobs.Location()
	if err != nil {
		return nil, fmt.Errorf("jobs.time_zone: %w", err)
	}
	s := &Scheduler{
		sync: o.Sync, msg: o.Messaging, st: o.Store, cfg: o.Config, log: o.Logger.With("component", "jobs"), loc: loc,
		cron:    cron.New(cron.WithParser(config.CronParser), cron.WithLocation(loc)),
		entries: map[string]cron.EntryID{}, specs: map[string]string{},
		running: map[string]*store.JobRun{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	funcs := map[string]func(){
		Reconcile:   func() { s.scheduledPerConnection(Reconcile) },
		DriftRepair: func() { s.scheduledPerConnection(DriftRepair) },
		DeadLetters: func() { s.scheduled(DeadLetters) },
		PruneInbox:  func() { s.scheduled(PruneInbox) },
		ImportCheck: func() { s.importCheck() },
	}
	for name, spec := range o.Config.Jobs.Schedules() {
		spec = strings.TrimSpace(spec)
		s.specs[name] = spec
		if strings.EqualFold(spec, config.ScheduleOff) {
			continue
		}
		id, err := s.cron.AddFunc(spec, funcs[name])
		if err != nil {
			return nil, fmt.Errorf("jobs.%s: %w", name, err)
		}
		s.entries[name] = id
	}
	return s, nil
}

// Start closes runs a previous process left open (their cursors let them
// resume), starts the cron, and resumes interrupted imports at once.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.st.AbandonRunningJobs(ctx); err != nil {
		return err
	}
	s.cron.Start()
	s.importCheck()
	s.log.Info("scheduler started", "time_zone", s.loc.String(), "jobs", len(s.entries))
	return nil
}

// Stop stops scheduling, cancels running jobs (they store their cursors)
// and waits for them until ctx ends.
func (s *Scheduler) Stop(ctx context.Context) error {
	<-s.cron.Stop().Done()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs still running at shutdown: %w", ctx.Err())
	}
}

func runKey(job string, connID int64) string {
	if connID == 0 {
		return job
	}
	return fmt.Sprintf("%s:%d", job, connID)
}

// begin records a run and reserves its key, or reports the run in the way.
func (s *Scheduler) begin(job string, connID int64, trigger string) (*store.JobRun, error) {
	key := runKey(job, connID)
	s.mu.Lock()
	if r := s.running[key]; r != nil {
		s.mu.Unlock()
		return r, ErrRunning
	}
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return nil, errors.New("the scheduler is stopping")
	}
	s.running[key] = &store.JobRun{Job: job, ConnectionID: connID, Status: store.RunRunning, StartedAt: time.Now().UTC()}
	s.mu.Unlock()
	run, err := s.st.StartJobRun(s.ctx, job, connID, trigger)
	s.mu.Lock()
	if err != nil {
		delete(s.running, key)
	} else {
		s.running[key] = run
	}
	s.mu.Unlock()
	return run, err
}

// end stores a run's outcome and frees its key.
func (s *Scheduler) end(run *store.JobRun, err error) {
	if err != nil {
		run.Errors++
		run.Status = store.RunFailed
		if run.Message != "" {
			run.Message += "; "
		}
		run.Message += err.Error()
		if errors.Is(err, context.Canceled) {
			run.Message = StoppedMessage
		}
	}
	if ferr := s.st.FinishJobRun(context.Background(), run); ferr != nil {
		s.log.Error("record job run", "job", run.Job, "err", ferr)
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	metrics.JobRuns.Inc(run.Job, result)
	s.mu.Lock()
	delete(s.running, runKey(run.Job, run.ConnectionID))
	s.mu.Unlock()
	lvl := slog.LevelInfo
	if err != nil {
		lvl = slog.LevelWarn
	}
	s.log.Log(context.Background(), lvl, "job finished", "job", run.Job, "connection", run.ConnectionID, "run", run.ID,
		"status", run.Status, "items", run.Items, "errors", run.Errors, "message", run.Message)
}

// start runs fn in the background as one recorded run.
func (s *Scheduler) start(job string, connID int64, trigger string, fn func(ctx context.Context, run *store.JobRun) error) (*store.JobRun, error) {
	run, err := s.begin(job, connID, trigger)
	if err != nil {
		return run, err
	}
	snapshot := *run
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.end(run, s.guard(run, fn))
	}()
	return &snapshot, nil
}

// guard runs fn and turns a panic into the run's error: a bug met by one
// connection's data fails that run, logged with its stack, instead of
// taking the whole service (and every other connection) down with it.
func (s *Scheduler) guard(run *store.JobRun, fn func(ctx context.Context, run *store.JobRun) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("job panicked", "job", run.Job, "connection", run.ConnectionID, "run", run.ID,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error (%v); the server log has the details", r)
		}
	}()
	return fn(s.ctx, run)
}

// RunReconcile starts a reconcile of one connection now.
func (s *Scheduler) RunReconcile(connID int64, trigger string) (*store.JobRun, error) {
	return s.startConnection(Reconcile, connID, trigger, 0)
}

// RunDriftRepair starts a drift repair of one connection now.
func (s *Scheduler) RunDriftRepair(connID int64, trigger string) (*store.JobRun, error) {
	return s.startConnection(DriftRepair, connID, trigger, 0)
}

// RunImport starts importing a connection's existing friends now.
func (s *Scheduler) RunImport(connID int64, trigger string) (*store.JobRun, error) {
	return s.start(Import, connID, trigger, func(ctx context.Context, run *store.JobRun) error {
		fi, err := s.sync.ImportFriends(ctx, connID)
		run.Items = fi.Done
		run.Message = fmt.Sprintf("state=%s total=%d done=%d", fi.State, fi.Total, fi.Done)
		return err
	})
}

func (s *Scheduler) startConnection(job string, connID int64, trigger string, delay time.Duration) (*store.JobRun, error) {
	return s.start(job, connID, trigger, func(ctx context.Context, run *store.JobRun) error {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		switch job {
		case Reconcile:
			st, err := s.sync.Reconcile(ctx, connID)
			run.Items, run.Errors = st.Items(), st.Errors
			run.Message = fmt.Sprintf("path=%s confirmed=%d unfollowed=%d profiles_refreshed=%d unknown_followers=%d resumed=%t",
				st.Path, st.Confirmed, st.Unfollowed, st.Refreshed, st.Unknown, st.Resumed)
			return err
		case DriftRepair:
			st, err := s.sync.RepairDrift(ctx, connID)
			run.Items = st.Checked
			run.Message = fmt.Sprintf("checked=%d gone=%d merged=%d properties_repaired=%d human_edits_kept=%d batch_reads=%d",
				st.Checked, st.Gone, st.Merged, st.Repaired, st.Kept, st.Requests)
			return err
		}
		return fmt.Errorf("unknown job %s", job)
	})
}

// scheduledPerConnection starts job for every connection, spread over
// jobs.reconcile_spread so that 50 connections do not call LINE (or take
// the HubSpot budget) in the same minute. A connection whose previous run
// is still going is skipped.
func (s *Scheduler) scheduledPerConnection(job string) {
	conns, err := s.st.Connections(s.ctx)
	if err != nil {
		s.log.Error("list connections for job", "job", job, "err", err)
		return
	}
	n := len(conns)
	if n == 0 {
		return
	}
	parallel := reconcileParallel
	if job == DriftRepair {
		// One connection at a time: jobs.drift_reads_per_minute is then the
		// HubSpot budget drift repair takes in all.
		parallel = 1
	}
	sem := make(chan struct{}, parallel)
	for i, c := range conns {
		delay := time.Duration(0)
		if job == Reconcile {
			delay = s.cfg.Jobs.ReconcileSpread * time.Duration(i) / time.Duration(n)
		}
		connID := c.ID
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			select {
			case sem <- struct{}{}:
			case <-s.ctx.Done():
				return
			}
			defer func() { <-sem }()
			run, err := s.startConnection(job, connID, TriggerSchedule, 0)
			if errors.Is(err, ErrRunning) {
				s.log.Info("job skipped: the previous run is still going", "job", job, "connection", connID, "run", run.ID)
				return
			}
			if err != nil {
				s.log.Error("start job", "job", job, "connection", connID, "err", err)
				return
			}
			s.waitFor(runKey(job, connID))
		}()
	}
}

// waitFor blocks until the run under key has ended (or the scheduler stops).
func (s *Scheduler) waitFor(key string) {
	for {
		s.mu.Lock()
		_, busy := s.running[key]
		s.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// importCheck starts the import of connections that never had one (or
// whose import a restart interrupted).
func (s *Scheduler) importCheck() {
	ids, err := s.st.ConnectionsWithoutImport(s.ctx)
	if err != nil {
		s.log.Error("look for connections to import", "err", err)
		return
	}
	for _, id := range ids {
		if _, err := s.RunImport(id, TriggerConnect); err != nil && !errors.Is(err, ErrRunning) {
			s.log.Error("start friend import", "connection", id, "err", err)
		}
	}
}

// scheduled starts a whole-process job from the cron; a run still going
// means this one is skipped.
func (s *Scheduler) scheduled(name string) {
	run, err := s.RunJob(name, TriggerSchedule)
	switch {
	case errors.Is(err, ErrRunning):
		s.log.Info("job skipped: the previous run is still going", "job", name, "run", run.ID)
	case err != nil:
		s.log.Error("start job", "job", name, "err", err)
	}
}

// RunJob starts a whole job now (every connection for the per-connection
// ones).
func (s *Scheduler) RunJob(name, trigger string) (*store.JobRun, error) {
	switch name {
	case DeadLetters:
		return s.start(DeadLetters, 0, trigger, func(ctx context.Context, run *store.JobRun) error {
			parked, retried, err := s.sync.SweepDeadLetters(ctx)
			run.Items = int64(parked + retried)
			run.Message = fmt.Sprintf("parked=%d retried=%d", parked, retried)
			return err
		})
	case PruneInbox:
		return s.start(PruneInbox, 0, trigger, func(ctx context.Context, run *store.JobRun) error {
			n, err := s.sync.PruneInbox(ctx)
			if err == nil {
				var m int64
				m, err = s.msg.PruneSends(ctx)
				n += m
			}
			run.Items = n
			run.Message = fmt.Sprintf("deleted=%d", n)
			if err == nil {
				err = s.st.PruneJobRuns(ctx, keepRuns)
			}
			return err
		})
	case Reconcile, DriftRepair:
		go s.scheduledPerConnection(name)
		return nil, nil
	case ImportCheck:
		go s.importCheck()
		return nil, nil
	}
	return nil, fmt.Errorf("unknown job %q", name)
}

// JobInfo describes one scheduled job for the API and dashboard.
type JobInfo struct {
	Name     string         `json:"name"`
	Schedule string         `json:"schedule"`
	Enabled  bool           `json:"enabled"`
	NextRun  *time.Time     `json:"next_run"`
	PrevRun  *time.Time     `json:"prev_run"`
	Running  []store.JobRun `json:"running"`
	LastRun  *store.JobRun  `json:"last_run"`
}

// Jobs lists the jobs with their schedule, next run, current and last runs.
func (s *Scheduler) Jobs(ctx context.Context) ([]JobInfo, error) {
	names := []string{Reconcile, Import, DriftRepair, DeadLetters, PruneInbox, ImportCheck}
	out := make([]JobInfo, 0, len(names))
	s.mu.Lock()
	running := map[string][]store.JobRun{}
	for _, r := range s.running {
		running[r.Job] = append(running[r.Job], *r)
	}
	s.mu.Unlock()
	for _, name := range names {
		ji := JobInfo{Name: name, Schedule: s.specs[name], Running: running[name]}
		if ji.Running == nil {
			ji.Running = []store.JobRun{}
		}
		slices.SortFunc(ji.Running, func(a, b store.JobRun) int { return int(a.ConnectionID - b.ConnectionID) })
		if name == Import {
			ji.Schedule = "on connect (import_check) and on demand"
		}
		if id, ok := s.entries[name]; ok {
			ji.Enabled = true
			e := s.cron.Entry(id)
			if !e.Next.IsZero() {
				t := e.Next
				ji.NextRun = &t
			}
			if !e.Prev.IsZero() {
				t := e.Prev
				ji.PrevRun = &t
			}
		} else if name == Import {
			ji.Enabled = true
		}
		runs, err := s.st.JobRuns(ctx, name, 0, 1)
		if err != nil {
			return nil, err
		}
		if len(runs) > 0 {
			ji.LastRun = &runs[0]
		}
		out = append(out, ji)
	}
	return out, nil
}

// Location is the time zone of the schedules.
func (s *Scheduler) Location() *time.Location { return s.loc }

// Running returns the run in progress for a job and connection, if any.
func (s *Scheduler) Running(job string, connID int64) *store.JobRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.running[runKey(job, connID)]; r != nil {
		c := *r
		return &c
	}
	return nil
}
