package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPendingIndexSize measures the indexes of the inbox and the
// chat table holding 1,000,000 rows each, of which 1,000 are pending
// (events not applied, notes not logged): what a long retention leaves.
// Each index's size is the number of pages dropping it frees. Run it with
// -benchtime 1x; see docs/benchmarks.md.
func BenchmarkPendingIndexSize(b *testing.B) {
	const rows, pending = 1000000, 1000
	ctx := context.Background()
	for b.Loop() {
		dir := b.TempDir()
		st, err := Open(dir, Options{Synchronous: "OFF"})
		if err != nil {
			b.Fatal(err)
		}
		at := time.Now().UTC()
		for start := 0; start < rows; start += 4000 {
			evs := make([]InboxEvent, 4000)
			ms := make([]ChatMessage, 4000)
			for i := range evs {
				n := start + i
				applied := n >= pending
				evs[i] = InboxEvent{ConnectionID: int64(1 + n%3), WebhookEventID: fmt.Sprintf("01H%022d", n), Type: "message",
					UserID: fmt.Sprintf("U%032d", n%10000), Timestamp: int64(1700000000000 + n), Raw: "{}", ReceivedAt: at, Pending: !applied}
				if applied {
					evs[i].AppliedAt = &at
				}
				ms[i] = ChatMessage{ConnectionID: int64(1 + n%3), SourceKey: fmt.Sprintf("ev:%d", n), UserID: fmt.Sprintf("U%032d", n%10000),
					Direction: ChatIn, Text: "hi", Timestamp: int64(1700000000000 + n), NotePending: !applied}
				if applied {
					ms[i].NoteID = fmt.Sprint(n)
				}
			}
			if _, err := st.AppendInbox(ctx, evs); err != nil {
				b.Fatal(err)
			}
			if err := st.AddChatMessagesBulk(ctx, ms); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		sizes, err := indexSizes(ctx, filepath.Join(dir, DBFile), "inbox_events", "chat_messages")
		if err != nil {
			b.Fatal(err)
		}
		for name, bytes := range sizes {
			b.ReportMetric(float64(bytes)/(1<<20), name+"-MiB")
		}
	}
}

// indexSizes drops every index of the tables (the unique ones too) and
// returns the bytes each freed.
func indexSizes(ctx context.Context, path string, tables ...string) (map[string]int64, error) {
	db, err := openSQLiteFile(path, false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var pageSize int64
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, table := range tables {
		r, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", table)
		if err != nil {
			return nil, err
		}
		var names []string
		for r.Next() {
			var n string
			if err := r.Scan(&n); err != nil {
				return nil, err
			}
			names = append(names, n)
		}
		r.Close()
		for _, n := range names {
			var before, after int64
			if err := db.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&before); err != nil {
				return nil, err
			}
			if _, err := db.ExecContext(ctx, "DROP INDEX "+n); err != nil {
				return nil, fmt.Errorf("drop %s: %w", n, err)
			}
			if err := db.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&after); err != nil {
				return nil, err
			}
			out[n] = (after - before) * pageSize
		}
	}
	return out, nil
}
