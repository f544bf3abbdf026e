package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
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
			if i != 1 { // friend 1 is unanswered but has no conversation rows
				ms = append(ms, ChatMessage{ConnectionID: id, SourceKey: fmt.Sprintf("ev:%d:%d", id, i), UserID: u, Direction: ChatIn, Text: "hi", Timestamp: 1})
			}
		}
	}
	if err := st.Apply(ctx, func(tx *ApplyTx) error { return tx.SaveFriends(fs) }); err != nil {
		t.Fatal(err)
	}
	if err := st.AddChatMessagesBulk(ctx, ms); err != nil {
		t.Fatal(err)
	}
	if n, err := st.UnansweredCount(ctx); err != nil || n != 2 {
		t.Fatalf("count: %d, %v; want 2", n, err)
	}
	if err := st.DeleteConnection(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if n, err := st.UnansweredCount(ctx); err != nil || n != 1 {
		t.Fatalf("count after deleting a connection: %d, %v; want 1", n, err)
	}
	var plan []struct {
		ID, Parent, Notused int
		Detail              string
	}
	q := "EXPLAIN QUERY PLAN SELECT count(*) FROM friends WHERE connection_id IN (SELECT id FROM connections WHERE deleted_at IS NULL) AND unanswered = 1 AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.connection_id = friends.connection_id AND m.user_id = friends.user_id)"
	if err := st.r.Raw(q).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, p := range plan {
		steps = append(steps, p.Detail)
	}
	if all := strings.Join(steps, "; "); !strings.Contains(all, "idx_friend_chat_order") {
		t.Errorf("query plan: %s", all)
	}
}
