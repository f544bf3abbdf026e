// Package jobrun starts scheduled jobs on request and reads an import's
// progress, for the JSON API and the dashboard alike: both check the same
// things before a run and only answer differently (JSON, or a page).
package jobrun

import (
	"context"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"linehub/app/contactsync"
	"linehub/app/jobs"
	"linehub/app/store"
)

// Scheduler is sch, or a 503 when the scheduler is not running.
func Scheduler(sch *jobs.Scheduler) (*jobs.Scheduler, error) {
	if sch == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "the job scheduler is not running")
	}
	return sch, nil
}

// Start starts a whole job by name. A nil run means it started one run
// per connection; jobs.ErrRunning comes with the run in the way.
func Start(sch *jobs.Scheduler, name, trigger string) (*store.JobRun, error) {
	sch, err := Scheduler(sch)
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

// StartConnection starts a reconcile, drift repair or friend import of one
// connection; jobs.ErrRunning comes with the run in the way.
func StartConnection(sch *jobs.Scheduler, conn *store.Connection, job, trigger string) (*store.JobRun, error) {
	sch, err := Scheduler(sch)
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

// ImportState is a connection's import progress and whether an import
// run is going on now (never, without a scheduler).
func ImportState(ctx context.Context, sync *contactsync.Sync, sch *jobs.Scheduler, connID int64) (contactsync.ImportProgress, bool, error) {
	p, err := sync.ImportStatus(ctx, connID)
	if err != nil {
		return p, false, err
	}
	running := false
	if sch != nil {
		running = sch.Running(jobs.Import, connID) != nil
	}
	return p, running, nil
}
