package store

import (
	"context"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"
)

// TestPendingQueriesUsePartialIndexes: the queries that look up pending
// inbox events and pending notes are planned on the partial indexes of
// migration 11. A query that said "pending = ?" instead of "pending" would
// not match the index's WHERE and scan the table.
func TestPendingQueriesUsePartialIndexes(t *testing.T) {
	st, ctx := openTest(t, t.TempDir()), context.Background()
	var n int64
	st.r.Raw("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('idx_inbox_pending_ts', 'idx_chat_messages_note_pending')").Scan(&n)
	if n != 0 {
		t.Fatal("migration 11 left a full index over the pending flag")
	}

	// Record the SQL the methods send to the readers.
	type stmt struct {
		sql  string
		vars []any
	}
	var mu sync.Mutex
	var got []stmt
	record := func(db *gorm.DB) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, stmt{db.Statement.SQL.String(), append([]any(nil), db.Statement.Vars...)})
	}
	if err := st.r.Callback().Query().After("gorm:query").Register("test:record", record); err != nil {
		t.Fatal(err)
	}
	if err := st.r.Callback().Row().After("gorm:row").Register("test:record", record); err != nil {
		t.Fatal(err)
	}
	// One given-up note, so that NoteStats reads the last refusal too.
	if err := st.AddChatMessage(ctx, &ChatMessage{ConnectionID: 1, SourceKey: "ev:1", UserID: "U1", Direction: ChatIn, NotePending: true, NoteContactID: "101", NoteAttempts: maxNoteAttempts}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, index string
		run         func() error
	}{
		{"PendingInbox", "idx_inbox_pending_order", func() error { _, err := st.PendingInbox(ctx, 100); return err }},
		{"InboxStats", "idx_inbox_pending_order", func() error { _, err := st.InboxStats(ctx, 0); return err }},
		{"NoteStats", "idx_chat_note_pending", func() error { _, err := st.NoteStats(ctx); return err }},
		{"PendingNotes", "idx_chat_note_pending", func() error { _, err := st.PendingNotes(ctx, 100); return err }},
	}
	for _, c := range cases {
		got = nil
		if err := c.run(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		checked := 0
		for _, s := range got {
			if !strings.Contains(s.sql, "pending") {
				continue // the inbox's total and failed counts
			}
			checked++
			var plan []struct {
				ID, Parent, Notused int
				Detail              string
			}
			if err := st.r.Raw("EXPLAIN QUERY PLAN "+s.sql, s.vars...).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			var steps []string
			for _, p := range plan {
				steps = append(steps, p.Detail)
			}
			all := strings.Join(steps, "; ")
			if !strings.Contains(all, c.index) {
				t.Errorf("%s: plan does not use %s: %s\n%s", c.name, c.index, all, s.sql)
			}
		}
		if checked == 0 {
			t.Errorf("%s: no query on the pending flag recorded", c.name)
		}
	}
}
