package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Broadcast states.
const (
	BroadcastScheduled = "scheduled" // waits for ScheduledAt
	BroadcastPreparing = "preparing" // reading the list; no chunk stored yet
	BroadcastSending   = "sending"   // chunks stored; sending the pending ones
	BroadcastDone      = "done"
	BroadcastFailed    = "failed"
	BroadcastCanceled  = "canceled"
)

// Broadcast is one message to the LINE friends among a HubSpot list's
// members.
type Broadcast struct {
	ID           int64      `gorm:"primaryKey" json:"id"`
	ConnectionID int64      `json:"connection_id"`
	ListID       string     `json:"list_id"`
	ListName     string     `json:"list_name"`
	Messages     string     `json:"-"`
	Status       string     `json:"status"`
	ScheduledAt  *time.Time `json:"scheduled_at"`
	Members      int        `json:"members"`
	Recipients   int        `json:"recipients"`
	SkippedNoID  int        `json:"skipped_no_line_id"`
	SkippedBlock int        `json:"skipped_blocked"`
	Error        string     `json:"error,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
}

// BroadcastChunk is one multicast of at most 500 recipients. Its RetryKey
// is stored with it before the first attempt.
type BroadcastChunk struct {
	ID          int64      `gorm:"primaryKey"`
	BroadcastID int64      `gorm:"not null"`
	Seq         int        `gorm:"not null"`
	UserIDs     string     // comma-separated LINE user ids
	ContactIDs  string     // comma-separated HubSpot contact ids, one per user id ("" unknown)
	Count       int        //
	RetryKey    string     `gorm:"not null"`
	Status      string     `gorm:"not null"` // pending, sent, failed
	Error       string     //
	SentAt      *time.Time //
	TriedAt     *time.Time // first attempt: when the retry key's 24 h began
}

// Recipients splits UserIDs.
func (c *BroadcastChunk) Recipients() []string {
	if c.UserIDs == "" {
		return nil
	}
	return strings.Split(c.UserIDs, ",")
}

// Contacts maps each recipient to the HubSpot contact the list read named
// for it (chunks stored before contacts were kept have none).
func (c *BroadcastChunk) Contacts() map[string]string {
	users, contacts := c.Recipients(), strings.Split(c.ContactIDs, ",")
	if c.ContactIDs == "" || len(contacts) != len(users) {
		return nil
	}
	out := make(map[string]string, len(users))
	for i, u := range users {
		if contacts[i] != "" {
			out[u] = contacts[i]
		}
	}
	return out
}

// CreateBroadcast stores a new broadcast.
func (s *Store) CreateBroadcast(ctx context.Context, b *Broadcast) error {
	b.CreatedAt = now()
	if err := s.w.WithContext(ctx).Create(b).Error; err != nil {
		return fmt.Errorf("store broadcast: %w", err)
	}
	return nil
}

// GetBroadcast returns one broadcast.
func (s *Store) GetBroadcast(ctx context.Context, id int64) (*Broadcast, error) {
	var b Broadcast
	if err := s.r.WithContext(ctx).First(&b, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &b, nil
}

// Broadcasts lists a connection's broadcasts (all connections with 0),
// newest first.
func (s *Store) Broadcasts(ctx context.Context, connID int64, limit int) ([]Broadcast, error) {
	q := s.r.WithContext(ctx)
	if connID > 0 {
		q = q.Where("connection_id = ?", connID)
	}
	var bs []Broadcast
	err := q.Order("id DESC").Limit(limit).Find(&bs).Error
	return bs, err
}

// DueBroadcasts returns broadcasts that have work to do now: scheduled
// ones whose time has come, and any preparing or sending (interrupted by a
// restart, say).
func (s *Store) DueBroadcasts(ctx context.Context, at time.Time) ([]Broadcast, error) {
	var bs []Broadcast
	err := s.r.WithContext(ctx).
		Where("status IN ? OR (status = ? AND scheduled_at <= ?)", []string{BroadcastPreparing, BroadcastSending}, BroadcastScheduled, at).
		Order("id").Find(&bs).Error
	if err != nil {
		return nil, fmt.Errorf("read due broadcasts: %w", err)
	}
	return bs, nil
}

// SetBroadcastStatus moves a broadcast from one of the states in from to
// status; it reports false (and changes nothing) if it was in none of them.
func (s *Store) SetBroadcastStatus(ctx context.Context, id int64, from []string, status, errMsg string) (bool, error) {
	up := map[string]any{"status": status, "error": errMsg}
	switch status {
	case BroadcastPreparing:
		up["started_at"] = now()
	case BroadcastDone, BroadcastFailed, BroadcastCanceled:
		up["finished_at"] = now()
	}
	res := s.w.WithContext(ctx).Model(&Broadcast{}).Where("id = ? AND status IN ?", id, from).Updates(up)
	if res.Error != nil {
		return false, fmt.Errorf("update broadcast %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// BroadcastPlan is the outcome of reading the list: the counts and the
// recipients already cut into chunks.
type BroadcastPlan struct {
	Members, SkippedNoID, SkippedBlock int
	Chunks                             []BroadcastChunk
}

// SaveBroadcastPlan stores the chunks (each with its retry key) and counts
// in one transaction and moves the broadcast to sending. A broadcast that
// is no longer preparing is left alone (false).
func (s *Store) SaveBroadcastPlan(ctx context.Context, id int64, p BroadcastPlan) (bool, error) {
	ok := false
	err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		recips := 0
		for _, c := range p.Chunks {
			recips += c.Count
		}
		res := tx.Model(&Broadcast{}).Where("id = ? AND status = ?", id, BroadcastPreparing).Updates(map[string]any{
			"status": BroadcastSending, "members": p.Members, "recipients": recips,
			"skipped_no_id": p.SkippedNoID, "skipped_block": p.SkippedBlock,
		})
		if res.Error != nil {
			return fmt.Errorf("update broadcast: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		for i := range p.Chunks {
			p.Chunks[i].BroadcastID, p.Chunks[i].Status = id, SendPending
		}
		if len(p.Chunks) > 0 {
			if err := tx.CreateInBatches(p.Chunks, 50).Error; err != nil {
				return fmt.Errorf("store broadcast chunks: %w", err)
			}
		}
		ok = true
		return nil
	})
	return ok, err
}

// BroadcastChunks returns a broadcast's chunks in order.
func (s *Store) BroadcastChunks(ctx context.Context, id int64) ([]BroadcastChunk, error) {
	var cs []BroadcastChunk
	if err := s.r.WithContext(ctx).Where("broadcast_id = ?", id).Order("seq").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("read broadcast chunks: %w", err)
	}
	return cs, nil
}

// ChunkTried records the first attempt to send a chunk; later attempts
// keep the first time.
func (s *Store) ChunkTried(ctx context.Context, c *BroadcastChunk) error {
	if c.TriedAt != nil {
		return nil
	}
	t := now()
	if err := s.w.WithContext(ctx).Model(&BroadcastChunk{}).Where("id = ? AND tried_at IS NULL", c.ID).Update("tried_at", t).Error; err != nil {
		return fmt.Errorf("record attempt of chunk %d: %w", c.ID, err)
	}
	c.TriedAt = &t
	return nil
}

// FinishChunk records a chunk's outcome.
func (s *Store) FinishChunk(ctx context.Context, id int64, status, errMsg string) error {
	return finishChunk(s.w.WithContext(ctx), id, status, errMsg)
}

// FinishChunk records a chunk's outcome in the transaction that records its
// chat rows, for the same reason as ApplyTx.FinishSend.
func (t *ApplyTx) FinishChunk(id int64, status, errMsg string) error {
	return finishChunk(t.db, id, status, errMsg)
}

func finishChunk(db *gorm.DB, id int64, status, errMsg string) error {
	up := map[string]any{"status": status, "error": errMsg}
	if status == SendSent {
		up["sent_at"] = now()
	}
	if err := db.Model(&BroadcastChunk{}).Where("id = ?", id).Updates(up).Error; err != nil {
		return fmt.Errorf("record chunk %d: %w", id, err)
	}
	return nil
}

// FailBroadcast marks a sending broadcast failed with errMsg and every
// chunk of it still pending failed, in one transaction: a crash cannot
// leave it half failed, with its other chunks sent after a restart.
func (s *Store) FailBroadcast(ctx context.Context, id int64, errMsg string) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&BroadcastChunk{}).Where("broadcast_id = ? AND status = ?", id, SendPending).
			Updates(map[string]any{"status": SendFailed, "error": errMsg}).Error; err != nil {
			return fmt.Errorf("fail chunks of broadcast %d: %w", id, err)
		}
		err := tx.Model(&Broadcast{}).Where("id = ? AND status = ?", id, BroadcastSending).
			Updates(map[string]any{"status": BroadcastFailed, "error": errMsg, "finished_at": now()}).Error
		if err != nil {
			return fmt.Errorf("fail broadcast %d: %w", id, err)
		}
		return nil
	})
}

// BroadcastProgress counts recipients by chunk state.
type BroadcastProgress struct {
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
}

// BroadcastProgress sums a broadcast's chunks.
func (s *Store) BroadcastProgress(ctx context.Context, id int64) (BroadcastProgress, error) {
	var rows []struct {
		Status string
		N      int
	}
	var p BroadcastProgress
	err := s.r.WithContext(ctx).Model(&BroadcastChunk{}).Select("status, COALESCE(SUM(count), 0) AS n").
		Where("broadcast_id = ?", id).Group("status").Scan(&rows).Error
	if err != nil {
		return p, fmt.Errorf("broadcast progress: %w", err)
	}
	for _, r := range rows {
		switch r.Status {
		case SendSent:
			p.Sent = r.N
		case SendFailed:
			p.Failed = r.N
		default:
			p.Pending += r.N
		}
	}
	return p, nil
}
