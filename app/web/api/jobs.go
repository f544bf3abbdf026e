package api

import (
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/jobs"
	"linehub/app/store"
	"linehub/app/web/jobrun"
	"linehub/app/web/request"
)

// jobRoutes registers the scheduled jobs' part of the admin API.
func (s *Server) jobRoutes(api fiber.Router) {
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

// listJobs: every job with schedule, next run, runs in progress and last
// run, plus the recent runs (?job=, ?connection=, ?limit=).
func (s *Server) listJobs(c *fiber.Ctx) error {
	sch, err := jobrun.Scheduler(s.jobs)
	if err != nil {
		return err
	}
	limit, err := request.QueryInt(c, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	conn, err := request.QueryInt(c, "connection", 0, 0, 1<<62)
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

func (s *Server) getJobRun(c *fiber.Ctx) error {
	id, err := request.PathID(c, "run", "job run")
	if err != nil {
		return err
	}
	r, err := s.st.JobRun(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) runJob(c *fiber.Ctx) error {
	name := c.Params("name")
	run, err := jobrun.Start(s.jobs, name, jobs.TriggerAPI)
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

func (s *Server) reconcileNow(c *fiber.Ctx) error {
	return s.connectionJob(c, jobs.Reconcile)
}

func (s *Server) driftRepairNow(c *fiber.Ctx) error {
	return s.connectionJob(c, jobs.DriftRepair)
}

func (s *Server) importNow(c *fiber.Ctx) error {
	return s.connectionJob(c, jobs.Import)
}

func (s *Server) connectionJob(c *fiber.Ctx, job string) error {
	conn, err := request.Connection(c, s.st)
	if err != nil {
		return err
	}
	run, err := jobrun.StartConnection(s.jobs, conn, job, jobs.TriggerAPI)
	if errors.Is(err, jobs.ErrRunning) {
		return conflict(runningWhat(job), run)
	}
	if err != nil {
		return err
	}
	out := fiber.Map{"run_id": run.ID, "run": run}
	if job == jobs.Import {
		p, _, err := jobrun.ImportState(c.UserContext(), s.sync, s.jobs, conn.ID)
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

// importStatus is the progress bar: state, total, done, rate, ETA. For an
// account LINE does not list friends for, state is "unavailable" and
// message says that existing friends appear when they next message.
func (s *Server) importStatus(c *fiber.Ctx) error {
	conn, err := request.Connection(c, s.st)
	if err != nil {
		return err
	}
	p, running, err := jobrun.ImportState(c.UserContext(), s.sync, s.jobs, conn.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"import": p, "running": running})
}

func (s *Server) listDeadLetters(c *fiber.Ctx) error {
	connID, err := request.OptionalConnection(c, s.st)
	if err != nil {
		return err
	}
	limit, err := request.QueryInt(c, "limit", 100, 1, 1000)
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
func (s *Server) retryDeadLetters(c *fiber.Ctx) error {
	connID, err := request.OptionalConnection(c, s.st)
	if err != nil {
		return err
	}
	var in struct {
		IDs []int64 `json:"ids"`
	}
	if len(c.Body()) > 0 {
		if err := request.ParseJSON(c, &in); err != nil {
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
