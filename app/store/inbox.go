package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Group commit: concurrent webhook requests are written in one transaction
// (one fsync) instead of one each, which is what lets SQLite with
// synchronous=FULL acknowledge thousands of events per second.
const maxGroupRows = 4000

type appendReq struct {
	rows []InboxEvent
	done chan appendRes
}

type appendRes struct {
	inserted int
	err      error
}

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("store closed")

// AppendInbox durably stores webhook events, skipping those whose
// (connection, webhookEventId) is already stored. It returns how many rows
// are new. When it returns nil the events survive a crash.
func (s *Store) AppendInbox(ctx context.Context, rows []InboxEvent) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	req := appendReq{rows: rows, done: make(chan appendRes, 1)}
	select {
	case <-s.stop:
		return 0, ErrClosed
	default:
	}
	select {
	case s.appendCh <- req:
	case <-s.stop:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// Once queued the write happens whatever the caller does; waiting on ctx
	// here only lets a caller give up on the answer.
	select {
	case res := <-req.done:
		return res.inserted, res.err
	case <-s.stopped:
		// The committer answers everything it drained before it exits; a
		// request that slipped into the queue after that was never written.
		select {
		case res := <-req.done:
			return res.inserted, res.err
		default:
			return 0, ErrClosed
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (s *Store) committer() {
	defer close(s.stopped)
	for {
		var first appendReq
		select {
		case first = <-s.appendCh:
		case <-s.stop:
			// Drain what was queued before Close so no caller waits forever.
			for {
				select {
				case req := <-s.appendCh:
					s.commitGroup([]appendReq{req}, false)
				default:
					return
				}
			}
		}
		s.commitGroup([]appendReq{first}, true)
	}
}

// join adds requests waiting in the queue to group, up to maxGroupRows.
func (s *Store) join(group []appendReq) []appendReq {
	n := 0
	for _, req := range group {
		n += len(req.rows)
	}
	for n < maxGroupRows {
		select {
		case req := <-s.appendCh:
			group = append(group, req)
			n += len(req.rows)
		default:
			return group
		}
	}
	return group
}

// yieldToInbox lets webhook commits go first: other writers (the applier,
// the sync worker) call it before they start a transaction, and wait while
// the committer has requests queued or is writing, up to 20 ms, so that
// acknowledging LINE never queues behind more than the one transaction
// already running.
func (s *Store) yieldToInbox() {
	for i := 0; i < 20 && (len(s.appendCh) > 0 || s.committing.Load()); i++ {
		time.Sleep(time.Millisecond)
	}
}

// commitGroup writes group in one transaction. With join, the requests that
// queued up while it waited for the single writer (the applier or the sync
// worker may hold it) are added once the writer is held, so they are
// committed now instead of waiting for that writer a second time.
func (s *Store) commitGroup(group []appendReq, join bool) {
	s.committing.Store(true)
	defer s.committing.Store(false)
	var counts []int
	err := s.w.Transaction(func(tx *gorm.DB) error {
		if join {
			group = s.join(group)
		}
		counts = make([]int, len(group))
		for i, req := range group {
			n, err := insertInbox(tx, req.rows)
			if err != nil {
				return err
			}
			counts[i] = n
		}
		return nil
	})
	if err == nil {
		for i, req := range group {
			req.done <- appendRes{inserted: counts[i]}
		}
		return
	}
	if len(group) == 1 {
		group[0].done <- appendRes{err: err}
		return
	}
	// One request's rows can fail the whole group; retry each alone so the
	// others are not refused because of it.
	for _, req := range group {
		s.commitGroup([]appendReq{req}, false)
	}
}

// inboxInsertBatch rows of 10 columns stay far below SQLite's parameter limit.
const inboxInsertBatch = 500

func insertInbox(tx *gorm.DB, rows []InboxEvent) (int, error) {
	// In batches: one INSERT of a few thousand events would pass SQLite's
	// limit of 32766 bound parameters and fail the whole request, forever.
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&rows, inboxInsertBatch)
	if res.Error != nil {
		return 0, fmt.Errorf("insert inbox events: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

// PendingInbox returns up to limit unapplied events, oldest event first.
func (s *Store) PendingInbox(ctx context.Context, limit int) ([]InboxEvent, error) {
	var rows []InboxEvent
	err := s.r.WithContext(ctx).Where("pending").Order("timestamp, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read pending inbox: %w", err)
	}
	return rows, nil
}

// InboxStats counts stored and pending events.
type InboxStats struct {
	Pending int64 `json:"pending"`
	Total   int64 `json:"total"`
	Failed  int64 `json:"failed"`
}

// InboxStats reports the inbox depth, optionally for one connection (0 = all).
func (s *Store) InboxStats(ctx context.Context, connectionID int64) (InboxStats, error) {
	var st InboxStats
	q := func() *gorm.DB {
		db := s.r.WithContext(ctx).Model(&InboxEvent{})
		if connectionID != 0 {
			db = db.Where("connection_id = ?", connectionID)
		}
		return db
	}
	if err := q().Count(&st.Total).Error; err != nil {
		return st, fmt.Errorf("count inbox: %w", err)
	}
	if err := q().Where("pending").Count(&st.Pending).Error; err != nil {
		return st, fmt.Errorf("count inbox: %w", err)
	}
	if err := q().Where("error <> ''").Count(&st.Failed).Error; err != nil {
		return st, fmt.Errorf("count inbox: %w", err)
	}
	return st, nil
}

// PruneInbox deletes applied inbox rows applied before cutoff, in small
// transactions so webhooks never wait long for the writer.
func (s *Store) PruneInbox(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		s.yieldToInbox()
		res := s.w.WithContext(ctx).Exec(
			"DELETE FROM inbox_events WHERE id IN (SELECT id FROM inbox_events WHERE NOT pending AND applied_at < ? LIMIT 1000)", cutoff)
		if res.Error != nil {
			return total, fmt.Errorf("prune inbox: %w", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < 1000 || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// DayCount is the number of events of one type on one day (UTC unless
// asked for another zone).
type DayCount struct {
	Day   string // YYYY-MM-DD
	Type  string
	Count int
}

// EventsPerDay counts inbox events by type and UTC day since a time, for
// the dashboard's charts (0 = all connections).
func (s *Store) EventsPerDay(ctx context.Context, connectionID int64, since time.Time) ([]DayCount, error) {
	return s.EventsPerDayIn(ctx, connectionID, since, time.UTC)
}

// EventsPerDayIn is EventsPerDay with days that begin at midnight in loc.
func (s *Store) EventsPerDayIn(ctx context.Context, connectionID int64, since time.Time, loc *time.Location) ([]DayCount, error) {
	var rows []struct {
		Timestamp int64
		Type      string
	}
	q := s.r.WithContext(ctx).Model(&InboxEvent{}).Select("timestamp, type").Where("timestamp >= ? AND type IN ?", since.UnixMilli(), []string{"follow", "unfollow", "message"})
	if connectionID != 0 {
		q = q.Where("connection_id = ?", connectionID)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("count events per day: %w", err)
	}
	// Grouped in Go: date functions differ between SQLite and PostgreSQL.
	idx := map[[2]string]int{}
	var out []DayCount
	for _, r := range rows {
		k := [2]string{time.UnixMilli(r.Timestamp).In(loc).Format("2006-01-02"), r.Type}
		if i, ok := idx[k]; ok {
			out[i].Count++
			continue
		}
		idx[k] = len(out)
		out = append(out, DayCount{Day: k[0], Type: k[1], Count: 1})
	}
	return out, nil
}
