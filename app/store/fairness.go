package store

import (
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// Fair reads share a batch between connections: with plain oldest-first
// order one connection's burst of 10,000 events is applied and written
// before another connection's single message, which then waits behind the
// whole burst (9 s measured at the starter budget, docs/benchmarks.md).
// Order per friend is kept: a friend belongs to one connection, whose rows
// still come oldest first.

type connCount struct {
	ConnectionID int64
	N            int
}

// fairShares splits limit between connections as evenly as their counts
// allow (water-filling): a connection with less than an equal share takes
// what it has and leaves the rest to the others, so the batch stays full.
func fairShares(counts []connCount, limit int) map[int64]int {
	slices.SortStableFunc(counts, func(a, b connCount) int { return a.N - b.N })
	out := make(map[int64]int, len(counts))
	left := limit
	for i, c := range counts {
		share := left / (len(counts) - i)
		if c.N < share {
			share = c.N
		}
		if i == len(counts)-1 {
			share = min(c.N, left)
		}
		out[c.ConnectionID] = share
		left -= share
	}
	return out
}

func countByConnection(q *gorm.DB) ([]connCount, error) {
	var counts []connCount
	err := q.Select("connection_id, COUNT(*) AS n").Group("connection_id").Scan(&counts).Error
	return counts, err
}

// DirtyFriendsFair is DirtyFriends with the batch shared out between
// connections.
func (s *Store) DirtyFriendsFair(ctx context.Context, nowMs int64, limit int) ([]Friend, error) {
	counts, err := countByConnection(s.r.WithContext(ctx).Model(&Friend{}).Where("dirty > 0 AND next_sync_at <= ?", nowMs))
	if err != nil {
		return nil, fmt.Errorf("count dirty friends: %w", err)
	}
	if len(counts) <= 1 {
		return s.DirtyFriends(ctx, nowMs, limit)
	}
	out := make([]Friend, 0, limit)
	for conn, n := range fairShares(counts, limit) {
		if n == 0 {
			continue
		}
		var fs []Friend
		err := s.r.WithContext(ctx).Where("dirty > 0 AND next_sync_at <= ? AND connection_id = ?", nowMs, conn).
			Order("next_sync_at, updated_at, id").Limit(n).Find(&fs).Error
		if err != nil {
			return nil, fmt.Errorf("read dirty friends: %w", err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// PendingInboxFair is PendingInbox with the batch shared out between
// connections.
func (s *Store) PendingInboxFair(ctx context.Context, limit int) ([]InboxEvent, error) {
	counts, err := countByConnection(s.r.WithContext(ctx).Model(&InboxEvent{}).Where("pending = ?", true))
	if err != nil {
		return nil, fmt.Errorf("count pending events: %w", err)
	}
	if len(counts) <= 1 {
		return s.PendingInbox(ctx, limit)
	}
	out := make([]InboxEvent, 0, limit)
	for conn, n := range fairShares(counts, limit) {
		if n == 0 {
			continue
		}
		var rows []InboxEvent
		err := s.r.WithContext(ctx).Where("pending = ? AND connection_id = ?", true, conn).
			Order("timestamp, id").Limit(n).Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("read pending inbox: %w", err)
		}
		out = append(out, rows...)
	}
	return out, nil
}
