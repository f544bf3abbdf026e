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

// PendingInboxFair is PendingInbox with the batch shared out between
// connections: an equal share each, and what a connection leaves unused
// goes to the others, so the batch is full whenever enough is pending.
func (s *Store) PendingInboxFair(ctx context.Context, limit int) ([]InboxEvent, error) {
	conns, err := s.pendingConnections(ctx)
	if err != nil {
		return nil, fmt.Errorf("list connections with pending events: %w", err)
	}
	if len(conns) <= 1 {
		return s.PendingInbox(ctx, limit)
	}
	read := func(conn int64, offset, n int) ([]InboxEvent, error) {
		var rows []InboxEvent
		// "pending" literally, so that SQLite can use the partial index.
		err := s.r.WithContext(ctx).Where("pending AND connection_id = ?", conn).
			Order("timestamp, id").Offset(offset).Limit(n).Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("read pending inbox: %w", err)
		}
		return rows, nil
	}
	per := max(limit/len(conns), 1)
	out := make([]InboxEvent, 0, limit)
	var full []int64 // connections that may have more
	for _, c := range conns {
		if len(out) >= limit {
			break
		}
		rows, err := read(c, 0, min(per, limit-len(out)))
		if err != nil {
			return nil, err
		}
		if len(rows) == per {
			full = append(full, c)
		}
		out = append(out, rows...)
	}
	for _, c := range full {
		if len(out) >= limit {
			break
		}
		rows, err := read(c, per, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}
