package web

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/contactsync"
	"linehub/app/jobs"
	"linehub/app/store"
)

// jobRoutes registers the scheduled jobs' part of the admin API.
func (s *server) jobRoutes(api fiber.Router) {
	api.Get("/jobs", s.listJobs)
	api.Get("/jobs/runs/:run", s.getJobRun)
	api.Post("/jobs/:name/run", s.runJob)
	api.Post("/connections/:id/reconcile", s.reconcileNow)
	api.Post("/connections/:id/drift-repair", s.driftRepairNow)
	api.Post("/connections/:id/import", s.importNow)
	api.Get("/connections/:id/import", s.importStatus)
	api.Get("/dead-letters", s.listDeadLetters)
	api.Get("/connections/:id/dead-letters", s.listDeadLetters)
	api.Post("/dead-letters/retry", s.retryDeadLetters)
	api.Post("/connections/:id/dead-letters/retry", s.retryDeadLetters)
}

func (s *server) scheduler() (*jobs.Scheduler, error) {
	if s.jobs == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "the job scheduler is not running")
	}
	return s.jobs, nil
}

func queryInt(c *fiber.Ctx, name string, def, lo, hi int64) (int64, error) {
	q := c.Query(name)
	if q == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s must be a whole number %d..%d", name, lo, hi))
	}
	return n, nil
}

// listJobs: every job with schedule, next run, runs in progress and last
// run, plus the recent runs (?job=, ?connection=, ?limit=).
func (s *server) listJobs(c *fiber.Ctx) error {
	sch, err := s.scheduler()
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	conn, err := queryInt(c, "connection", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	list, err := sch.Jobs(ctx)
	if err != nil {
		return err
	}
	runs, err := s.st.JobRuns(ctx, c.Query("job"), conn, int(limit))
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []store.JobRun{}
	}
	dead, err := s.st.CountDeadLetters(ctx, 0)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"time_zone": sch.Location().String(), "jobs": list, "runs": runs, "dead_letters": dead})
}

func (s *server) getJobRun(c *fiber.Ctx) error {
	id, err := pathID(c, "run", "job run")
	if err != nil {
		return err
	}
	r, err := s.st.JobRun(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *server) runJob(c *fiber.Ctx) error {
	name := c.Params("name")
	run, err := s.startJob(name, jobs.TriggerAPI)
	if errors.Is(err, jobs.ErrRunning) {
		return conflict(name, run)
	}
	if err != nil {
		return err
	}
	if run == nil {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"job": name, "started": true})
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"job": name, "started": true, "run": run})
}

// startJob starts a whole job by name for the API and the dashboard. A
// nil run means it started one run per connection; jobs.ErrRunning comes
// with the run in the way.
func (s *server) startJob(name, trigger string) (*store.JobRun, error) {
	sch, err := s.scheduler()
	if err != nil {
		return nil, err
	}
	switch name {
	case jobs.Reconcile, jobs.DriftRepair, jobs.DeadLetters, jobs.PruneInbox, jobs.ImportCheck:
	default:
		return nil, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no job %q (reconcile, drift_repair, dead_letters, prune_inbox, import_check)", name))
	}
	return sch.RunJob(name, trigger)
}

func conflict(what string, run *store.JobRun) error {
	msg := what + " is already running"
	if run != nil && run.ID != 0 {
		msg += fmt.Sprintf(" (run %d, started %s); wait for it to finish", run.ID, run.StartedAt.Format(time.RFC3339))
	}
	return fiber.NewError(fiber.StatusConflict, msg)
}

// optionalConnection resolves :id for routes that exist both globally and
// per connection; 0 means "all connections".
func (s *server) optionalConnection(c *fiber.Ctx) (int64, error) {
	if c.Params("id") == "" {
		return 0, nil
	}
	conn, err := s.activeConnection(c)
	if err != nil {
		return 0, err
	}
	return conn.ID, nil
}

// activeConnection resolves :id to a connection that exists.
func (s *server) activeConnection(c *fiber.Ctx) (*store.Connection, error) {
	id, err := s.connectionID(c)
	if err != nil {
		return nil, err
	}
	return s.st.Connection(c.UserContext(), id)
}

func (s *server) reconcileNow(c *fiber.Ctx) error {
	return s.connectionJob(c, jobs.Reconcile)
}

func (s *server) driftRepairNow(c *fiber.Ctx) error {
	return s.connectionJob(c, jobs.DriftRepair)
}

func (s *server) importNow(c *fiber.Ctx) error {
	return s.connectionJob(c, jobs.Import)
}

func (s *server) connectionJob(c *fiber.Ctx, job string) error {
	conn, err := s.activeConnection(c)
	if err != nil {
		return err
	}
	run, err := s.startConnectionJob(conn, job, jobs.TriggerAPI)
	if errors.Is(err, jobs.ErrRunning) {
		return conflict(runningWhat(job), run)
	}
	if err != nil {
		return err
	}
	out := fiber.Map{"run_id": run.ID, "run": run}
	if job == jobs.Import {
		p, _, err := s.importState(c.UserContext(), conn.ID)
		if err != nil {
			return err
		}
		out["import"] = p
	}
	return c.Status(fiber.StatusAccepted).JSON(out)
}

func runningWhat(job string) string {
	if job == jobs.Import {
		return "an import of this connection's friends"
	}
	return "a " + job + " of this connection"
}

// startConnectionJob starts a reconcile, drift repair or friend import of
// one connection for the API and the dashboard; jobs.ErrRunning comes
// with the run in the way.
func (s *server) startConnectionJob(conn *store.Connection, job, trigger string) (*store.JobRun, error) {
	sch, err := s.scheduler()
	if err != nil {
		return nil, err
	}
	switch job {
	case jobs.Reconcile:
		if conn.TokenLast4 == "" {
			return nil, fiber.NewError(fiber.StatusBadRequest, "this connection has no channel access token: set it before reconciling with LINE")
		}
		return sch.RunReconcile(conn.ID, trigger)
	case jobs.DriftRepair:
		return sch.RunDriftRepair(conn.ID, trigger)
	case jobs.Import:
		if conn.TokenLast4 == "" {
			return nil, fiber.NewError(fiber.StatusBadRequest, "this connection has no channel access token: set it before importing friends")
		}
		return sch.RunImport(conn.ID, trigger)
	}
	return nil, fmt.Errorf("no per-connection job %q", job)
}

// importStatus is the progress bar: state, total, done, rate, ETA. For an
// account LINE does not list friends for, state is "unavailable" and
// message says that existing friends appear when they next message.
func (s *server) importStatus(c *fiber.Ctx) error {
	conn, err := s.activeConnection(c)
	if err != nil {
		return err
	}
	p, running, err := s.importState(c.UserContext(), conn.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"import": p, "running": running})
}

// importState is a connection's import progress and whether an import
// run is going on now.
func (s *server) importState(ctx context.Context, connID int64) (contactsync.ImportProgress, bool, error) {
	p, err := s.sync.ImportStatus(ctx, connID)
	if err != nil {
		return p, false, err
	}
	running := false
	if s.jobs != nil {
		running = s.jobs.Running(jobs.Import, connID) != nil
	}
	return p, running, nil
}

func (s *server) listDeadLetters(c *fiber.Ctx) error {
	connID, err := s.optionalConnection(c)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	dls, err := s.sync.DeadLetters(c.UserContext(), connID, int(limit))
	if err != nil {
		return err
	}
	if dls == nil {
		dls = []store.DeadLetter{}
	}
	total, err := s.st.CountDeadLetters(c.UserContext(), connID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"dead_letters": dls, "total": total})
}

// retryDeadLetters un-parks {"ids": [...]} or, with no body or no ids, all
// dead letters (of the connection in the path, if any).
func (s *server) retryDeadLetters(c *fiber.Ctx) error {
	connID, err := s.optionalConnection(c)
	if err != nil {
		return err
	}
	var in struct {
		IDs []int64 `json:"ids"`
	}
	if len(c.Body()) > 0 {
		if err := parseJSON(c, &in); err != nil {
			return err
		}
	}
	if len(in.IDs) > 10000 {
		return fiber.NewError(fiber.StatusBadRequest, "at most 10000 ids at once")
	}
	n, err := s.sync.RetryDeadLetters(c.UserContext(), connID, in.IDs)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"retried": n})
}
