package store

import (
	"context"
	"fmt"
)

// DirtyFriendsFair is DirtyFriends shared out between connections: each
// connection with eligible friends gets an equal part of limit, oldest
// change first within it. With plain DirtyFriends one connection's burst of
// 10,000 changes would be written before another connection's single
// message, which then waits a minute or more behind the request budget.
func (s *Store) DirtyFriendsFair(ctx context.Context, nowMs int64, limit int) ([]Friend, error) {
	var conns []int64
	err := s.r.WithContext(ctx).Model(&Friend{}).Where("dirty > 0 AND next_sync_at <= ?", nowMs).
		Distinct("connection_id").Order("connection_id").Pluck("connection_id", &conns).Error
	if err != nil {
		return nil, fmt.Errorf("read connections with dirty friends: %w", err)
	}
	if len(conns) <= 1 {
		return s.DirtyFriends(ctx, nowMs, limit)
	}
	per := max((limit+len(conns)-1)/len(conns), 1)
	out := make([]Friend, 0, limit)
	for _, c := range conns {
		var fs []Friend
		err := s.r.WithContext(ctx).Where("dirty > 0 AND next_sync_at <= ? AND connection_id = ?", nowMs, c).
			Order("next_sync_at, updated_at, id").Limit(per).Find(&fs).Error
		if err != nil {
			return nil, fmt.Errorf("read dirty friends: %w", err)
		}
		out = append(out, fs...)
	}
	return out, nil
}
