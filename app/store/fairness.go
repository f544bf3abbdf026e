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

// pendingConnections lists the connections with pending events. It walks
// idx_inbox_pending_conn one connection at a time (a "skip scan" written as
// a recursive query, valid in SQLite and PostgreSQL), so its cost grows
// with the number of connections, not with the depth of the inbox.
func (s *Store) pendingConnections(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.r.WithContext(ctx).Raw(`WITH RECURSIVE c(id) AS (
		SELECT MIN(connection_id) FROM inbox_events WHERE pending
		UNION ALL
		SELECT (SELECT MIN(connection_id) FROM inbox_events WHERE pending AND connection_id > c.id) FROM c WHERE c.id IS NOT NULL
	) SELECT id FROM c WHERE id IS NOT NULL`).Scan(&ids).Error
	return ids, err
}

// PendingInboxFair is PendingInbox made fair between connections: the
// oldest events overall, as PendingInbox reads them (one query; when every
// connection is busy they interleave anyway), plus the oldest few of every
// connection with pending events that this would leave out, which take up
// to half the batch. A burst on one connection therefore cannot hold back
// another's events for more than one batch.
func (s *Store) PendingInboxFair(ctx context.Context, limit int) ([]InboxEvent, error) {
	rows, err := s.PendingInbox(ctx, limit)
	if err != nil || len(rows) < limit {
		return rows, err // everything pending is in the batch
	}
	conns, err := s.pendingConnections(ctx)
	if err != nil {
		return nil, fmt.Errorf("list connections with pending events: %w", err)
	}
	present := map[int64]bool{}
	for _, r := range rows {
		present[r.ConnectionID] = true
	}
	var missing []int64
	for _, c := range conns {
		if !present[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return rows, nil
	}
	room := max(limit/2, 1)
	each := max(room/len(missing), 1)
	var extra []InboxEvent
	for _, c := range missing {
		if len(extra) >= room {
			break
		}
		var more []InboxEvent
		// "pending" literally, so that SQLite can use the partial index.
		err := s.r.WithContext(ctx).Where("pending AND connection_id = ?", c).
			Order("timestamp, id").Limit(min(each, room-len(extra))).Find(&more).Error
		if err != nil {
			return nil, fmt.Errorf("read pending inbox: %w", err)
		}
		extra = append(extra, more...)
	}
	return append(rows[:limit-len(extra)], extra...), nil
}
