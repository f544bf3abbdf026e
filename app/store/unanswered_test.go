package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// TestUnansweredCount: the menu's count is the unanswered conversations of
// live connections only, and it reads an index, not the chat table.
func TestUnansweredCount(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	var ids []int64
	for i := range 2 {
		c := &Connection{Name: fmt.Sprintf("Shop %d", i)}
		if err := st.CreateConnection(ctx, c, "secret", "token", 10); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	var fs []*Friend
	var ms []ChatMessage
	for _, id := range ids {
		for i := range 3 {
			u := fmt.Sprintf("U%032d", i)
			fs = append(fs, &Friend{ConnectionID: id, UserID: u, Following: true, Unanswered: i < 2})
			ms = append(ms, ChatMessage{ConnectionID: id, SourceKey: fmt.Sprintf("ev:%d:%d", id, i), UserID: u, Direction: ChatIn, Text: "hi", Timestamp: 1})
		}
	}
	if err := st.Apply(ctx, func(tx *ApplyTx) error { return tx.SaveFriends(fs) }); err != nil {
		t.Fatal(err)
	}
	if err := st.AddChatMessagesBulk(ctx, ms); err != nil {
		t.Fatal(err)
	}
	if n, err := st.UnansweredCount(ctx); err != nil || n != 4 {
		t.Fatalf("count: %d, %v; want 4", n, err)
	}
	if err := st.DeleteConnection(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if n, err := st.UnansweredCount(ctx); err != nil || n != 2 {
		t.Fatalf("count after deleting a connection: %d, %v; want 2", n, err)
	}
	var plan []struct {
		ID, Parent, Notused int
		Detail              string
	}
	q := st.r.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var n int64
		return unansweredCount(tx).Count(&n)
	})
	if err := st.r.Raw("EXPLAIN QUERY PLAN " + q).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, p := range plan {
		steps = append(steps, p.Detail)
	}
	if all := strings.Join(steps, "; "); !strings.Contains(all, "COVERING INDEX idx_friend_chat_order") {
		t.Errorf("query plan: %s", all)
	}
}

// BenchmarkUnansweredCount: the menu's count, read on every signed-in
// page, with 100,000 friends who each got a broadcast and 2,000 of whom
// wait for an answer.
func BenchmarkUnansweredCount(b *testing.B) {
	st, err := Open(b.TempDir(), Options{Synchronous: "OFF"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	c := &Connection{Name: "Shop"}
	if err := st.CreateConnection(ctx, c, "secret", "token", 10); err != nil {
		b.Fatal(err)
	}
	const friends = 100000
	var fs []*Friend
	var ms []ChatMessage
	for i := range friends {
		u := fmt.Sprintf("U%032d", i)
		fs = append(fs, &Friend{ConnectionID: c.ID, UserID: u, Following: true, Unanswered: i%50 == 0, LastMessageAt: int64(i)})
		ms = append(ms, ChatMessage{ConnectionID: c.ID, SourceKey: fmt.Sprintf("bc:1:%d", i), UserID: u, Direction: ChatOut, Via: "broadcast", Text: "Sale", Timestamp: int64(i)})
	}
	if err := st.Apply(ctx, func(tx *ApplyTx) error { return tx.SaveFriends(fs) }); err != nil {
		b.Fatal(err)
	}
	if err := st.AddChatMessagesBulk(ctx, ms); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if n, err := st.UnansweredCount(ctx); err != nil || n != friends/50 {
			b.Fatalf("%d, %v", n, err)
		}
	}
}
