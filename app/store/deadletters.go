package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// parkedSyncAt is the next_sync_at of a parked friend: far enough in the
// future that the sync worker never picks it, small enough for any int64
// arithmetic on it to stay safe.
const parkedSyncAt int64 = 1 << 60

// DeadLetter is a friend whose HubSpot write keeps being rejected, parked
// until someone (or the dead-letter job) retries it.
type DeadLetter struct {
	ID           int64     `gorm:"primaryKey" json:"id"`
	FriendID     int64     `json:"friend_id"`
	ConnectionID int64     `json:"connection_id"`
	UserID       string    `json:"user_id"`
	Error        string    `json:"error"`
	Attempts     int       `json:"attempts"`
	ParkedAt     time.Time `json:"parked_at"`
}

// ParkFailing parks friends whose sync failed at least minAttempts times
// in a row with an error starting with errPrefix (so that an outage, which
// fails every friend alike, parks nobody). It returns how many it parked.
func (s *Store) ParkFailing(ctx context.Context, minAttempts int, errPrefix string) (int, error) {
	var fs []Friend
	err := s.r.WithContext(ctx).
		Where("dirty > 0 AND next_sync_at < ? AND sync_attempts >= ? AND sync_error LIKE ?", parkedSyncAt, minAttempts, errPrefix+"%").
		Limit(10000).Find(&fs).Error
	if err != nil {
		return 0, fmt.Errorf("find failing friends: %w", err)
	}
	if len(fs) == 0 {
		return 0, nil
	}
	s.yieldToInbox()
	err = s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, f := range fs {
			dl := DeadLetter{FriendID: f.ID, ConnectionID: f.ConnectionID, UserID: f.UserID, Error: f.SyncError, Attempts: f.SyncAttempts, ParkedAt: now()}
			if err := tx.Where("friend_id = ?", f.ID).Delete(&DeadLetter{}).Error; err != nil {
				return err
			}
			if err := tx.Create(&dl).Error; err != nil {
				return err
			}
			if err := tx.Model(&Friend{}).Where("id = ?", f.ID).Update("next_sync_at", parkedSyncAt).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("park failing friends: %w", err)
	}
	return len(fs), nil
}

// DeadLetters lists parked friends, oldest first (connectionID 0 = all).
func (s *Store) DeadLetters(ctx context.Context, connectionID int64, limit int) ([]DeadLetter, error) {
	q := s.r.WithContext(ctx).Order("id").Limit(limit)
	if connectionID != 0 {
		q = q.Where("connection_id = ?", connectionID)
	}
	var out []DeadLetter
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// CountDeadLetters counts parked friends (connectionID 0 = all).
func (s *Store) CountDeadLetters(ctx context.Context, connectionID int64) (int64, error) {
	q := s.r.WithContext(ctx).Model(&DeadLetter{})
	if connectionID != 0 {
		q = q.Where("connection_id = ?", connectionID)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// RetryDeadLetters un-parks dead letters: the given ids, or (ids empty)
// every one parked before parkedBefore (zero time = all). The friends are
// synced again at once with a fresh attempt count.
func (s *Store) RetryDeadLetters(ctx context.Context, connectionID int64, ids []int64, parkedBefore time.Time) (int, error) {
	q := s.r.WithContext(ctx).Model(&DeadLetter{})
	if connectionID != 0 {
		q = q.Where("connection_id = ?", connectionID)
	}
	if len(ids) > 0 {
		q = q.Where("id IN ?", ids)
	} else if !parkedBefore.IsZero() {
		q = q.Where("parked_at < ?", parkedBefore)
	}
	var dls []DeadLetter
	if err := q.Limit(10000).Find(&dls).Error; err != nil {
		return 0, fmt.Errorf("find dead letters: %w", err)
	}
	if len(dls) == 0 {
		return 0, nil
	}
	s.yieldToInbox()
	err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, dl := range dls {
			if err := tx.Model(&Friend{}).Where("id = ? AND next_sync_at >= ?", dl.FriendID, parkedSyncAt).
				Updates(map[string]any{"next_sync_at": 0, "sync_attempts": 0}).Error; err != nil {
				return err
			}
			if err := tx.Delete(&DeadLetter{}, dl.ID).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retry dead letters: %w", err)
	}
	return len(dls), nil
}

// ForgetResolvedDeadLetters drops dead letters whose friend is no longer
// parked (synced, or un-parked by other means such as RetryNow).
func (s *Store) ForgetResolvedDeadLetters(ctx context.Context) error {
	err := s.w.WithContext(ctx).Exec(
		"DELETE FROM dead_letters WHERE friend_id NOT IN (SELECT id FROM friends WHERE next_sync_at >= ?)", parkedSyncAt).Error
	if err != nil {
		return fmt.Errorf("forget resolved dead letters: %w", err)
	}
	return nil
}
