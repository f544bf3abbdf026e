package web

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

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
	sch, err := s.scheduler()
	if err != nil {
		return err
	}
	name := c.Params("name")
	switch name {
	case jobs.Reconcile, jobs.DriftRepair, jobs.DeadLetters, jobs.PruneInbox, jobs.ImportCheck:
	default:
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no job %q (reconcile, drift_repair, dead_letters, prune_inbox, import_check)", name))
	}
	run, err := sch.RunJob(name, jobs.TriggerAPI)
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

func (s *server) connectionJob(c *fiber.Ctx, job string) error {
	sch, err := s.scheduler()
	if err != nil {
		return err
	}
	conn, err := s.activeConnection(c)
	if err != nil {
		return err
	}
	if conn.TokenLast4 == "" && job == jobs.Reconcile {
		return fiber.NewError(fiber.StatusBadRequest, "this connection has no channel access token: set it before reconciling with LINE")
	}
	var run *store.JobRun
	if job == jobs.Reconcile {
		run, err = sch.RunReconcile(conn.ID, jobs.TriggerAPI)
	} else {
		run, err = sch.RunDriftRepair(conn.ID, jobs.TriggerAPI)
	}
	if errors.Is(err, jobs.ErrRunning) {
		return conflict("a "+job+" of this connection", run)
	}
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"run_id": run.ID, "run": run})
}

func (s *server) importNow(c *fiber.Ctx) error {
	sch, err := s.scheduler()
	if err != nil {
		return err
	}
	conn, err := s.activeConnection(c)
	if err != nil {
		return err
	}
	if conn.TokenLast4 == "" {
		return fiber.NewError(fiber.StatusBadRequest, "this connection has no channel access token: set it before importing friends")
	}
	run, err := sch.RunImport(conn.ID, jobs.TriggerAPI)
	if errors.Is(err, jobs.ErrRunning) {
		return conflict("an import of this connection's friends", run)
	}
	if err != nil {
		return err
	}
	p, err := s.b.ImportStatus(c.UserContext(), conn.ID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"run_id": run.ID, "run": run, "import": p})
}

// importStatus is the progress bar: state, total, done, rate, ETA. For an
// account LINE does not list friends for, state is "unavailable" and
// message says that existing friends appear when they next message.
func (s *server) importStatus(c *fiber.Ctx) error {
	conn, err := s.activeConnection(c)
	if err != nil {
		return err
	}
	p, err := s.b.ImportStatus(c.UserContext(), conn.ID)
	if err != nil {
		return err
	}
	running := false
	if s.jobs != nil {
		running = s.jobs.Running(jobs.Import, conn.ID) != nil
	}
	return c.JSON(fiber.Map{"import": p, "running": running})
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
	dls, err := s.b.DeadLetters(c.UserContext(), connID, int(limit))
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
	n, err := s.b.RetryDeadLetters(c.UserContext(), connID, in.IDs)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"retried": n})
}
