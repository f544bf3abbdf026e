package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Job run states.
const (
	RunRunning = "running"
	RunOK      = "ok"
	RunFailed  = "failed"
)

// InterruptedMessage is the message of a run a restart cut short; the
// dashboard shows such runs as "interrupted" rather than failed.
const InterruptedMessage = "interrupted by a restart; resumes on the next run"

// JobRun is one execution of a scheduled or requested job.
type JobRun struct {
	ID           int64      `gorm:"primaryKey" json:"id"`
	Job          string     `json:"job"`
	ConnectionID int64      `json:"connection_id,omitempty"`
	Trigger      string     `json:"trigger"` // schedule | api | startup
	Status       string     `json:"status"`
	StartedAt    time.Time  `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	Items        int64      `json:"items"`
	Errors       int64      `json:"errors"`
	Message      string     `json:"message,omitempty"`
}

// StartJobRun records that a job started.
func (s *Store) StartJobRun(ctx context.Context, job string, connectionID int64, trigger string) (*JobRun, error) {
	r := &JobRun{Job: job, ConnectionID: connectionID, Trigger: trigger, Status: RunRunning, StartedAt: now()}
	if err := s.w.WithContext(ctx).Create(r).Error; err != nil {
		return nil, fmt.Errorf("record job start: %w", err)
	}
	return r, nil
}

// FinishJobRun records a run's outcome.
func (s *Store) FinishJobRun(ctx context.Context, r *JobRun) error {
	t := now()
	r.FinishedAt = &t
	if r.Status == RunRunning {
		r.Status = RunOK
	}
	err := s.w.WithContext(ctx).Model(&JobRun{}).Where("id = ?", r.ID).Updates(map[string]any{
		"status": r.Status, "finished_at": t, "items": r.Items, "errors": r.Errors, "message": r.Message,
	}).Error
	if err != nil {
		return fmt.Errorf("record job outcome: %w", err)
	}
	return nil
}

// AbandonRunningJobs marks runs left "running" by a process that stopped
// without finishing them; their work resumes from the stored cursors.
func (s *Store) AbandonRunningJobs(ctx context.Context) error {
	err := s.w.WithContext(ctx).Model(&JobRun{}).Where("status = ?", RunRunning).
		Updates(map[string]any{"status": RunFailed, "finished_at": now(), "message": InterruptedMessage}).Error
	if err != nil {
		return fmt.Errorf("close interrupted job runs: %w", err)
	}
	return nil
}

// JobRuns lists recent runs, newest first; job "" means all jobs.
func (s *Store) JobRuns(ctx context.Context, job string, connectionID int64, limit int) ([]JobRun, error) {
	q := s.r.WithContext(ctx).Order("id DESC").Limit(limit)
	if job != "" {
		q = q.Where("job = ?", job)
	}
	if connectionID != 0 {
		q = q.Where("connection_id = ?", connectionID)
	}
	var out []JobRun
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list job runs: %w", err)
	}
	return out, nil
}

// JobRun returns one run.
func (s *Store) JobRun(ctx context.Context, id int64) (*JobRun, error) {
	var r JobRun
	if err := s.r.WithContext(ctx).First(&r, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &r, nil
}

// PruneJobRuns keeps the newest keep runs.
func (s *Store) PruneJobRuns(ctx context.Context, keep int) error {
	err := s.w.WithContext(ctx).Exec("DELETE FROM job_runs WHERE id <= (SELECT id FROM job_runs ORDER BY id DESC LIMIT 1 OFFSET ?)", keep).Error
	if err != nil {
		return fmt.Errorf("prune job runs: %w", err)
	}
	return nil
}

// JobCursor is where an interrupted job resumes.
type JobCursor struct {
	Job          string `gorm:"primaryKey"`
	ConnectionID int64  `gorm:"primaryKey;autoIncrement:false"`
	RunStarted   int64  // ms; the start of the run the cursor belongs to
	Phase        string
	Cursor       string
	UpdatedAt    time.Time
}

// JobCursor returns the stored cursor, or nil when there is none.
func (s *Store) JobCursor(ctx context.Context, job string, connectionID int64) (*JobCursor, error) {
	var c JobCursor
	err := s.r.WithContext(ctx).Where("job = ? AND connection_id = ?", job, connectionID).First(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read job cursor: %w", err)
	}
	return &c, nil
}

// SaveJobCursor stores a cursor (replacing the previous one).
func (s *Store) SaveJobCursor(ctx context.Context, c *JobCursor) error {
	c.UpdatedAt = now()
	err := s.w.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(c).Error
	if err != nil {
		return fmt.Errorf("save job cursor: %w", err)
	}
	return nil
}

// DeleteJobCursor forgets a finished job's cursor.
func (s *Store) DeleteJobCursor(ctx context.Context, job string, connectionID int64) error {
	err := s.w.WithContext(ctx).Where("job = ? AND connection_id = ?", job, connectionID).Delete(&JobCursor{}).Error
	if err != nil {
		return fmt.Errorf("delete job cursor: %w", err)
	}
	return nil
}

// Friend import states.
const (
	ImportRunning     = "running"
	ImportDone        = "done"
	ImportFailed      = "failed"
	ImportUnavailable = "unavailable" // LINE does not list this account's friends
)

// FriendImport is the progress of importing a connection's existing friends.
type FriendImport struct {
	ConnectionID int64      `gorm:"primaryKey;autoIncrement:false" json:"connection_id"`
	State        string     `json:"state"`
	Total        int64      `json:"total"`
	Done         int64      `json:"done"`
	Message      string     `json:"message,omitempty"`
	StartedAt    time.Time  `json:"started_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	FinishedAt   *time.Time `json:"finished_at"`
}

// FriendImport returns a connection's import record, or nil if it never ran.
func (s *Store) FriendImport(ctx context.Context, connectionID int64) (*FriendImport, error) {
	var fi FriendImport
	err := s.r.WithContext(ctx).Where("connection_id = ?", connectionID).First(&fi).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read friend import: %w", err)
	}
	return &fi, nil
}

// SaveFriendImport stores import progress.
func (s *Store) SaveFriendImport(ctx context.Context, fi *FriendImport) error {
	fi.UpdatedAt = now()
	err := s.w.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(fi).Error
	if err != nil {
		return fmt.Errorf("save friend import: %w", err)
	}
	return nil
}

// ConnectionsWithoutImport lists active connections with a channel access
// token and no finished import (none yet, or one a restart interrupted).
func (s *Store) ConnectionsWithoutImport(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.r.WithContext(ctx).Model(&Connection{}).
		Where("deleted_at IS NULL AND channel_token_sealed <> '' AND id NOT IN (SELECT connection_id FROM friend_imports WHERE state <> ?)", ImportRunning).
		Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("list connections to import: %w", err)
	}
	return ids, nil
}
