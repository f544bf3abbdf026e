package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkBackup measures `linehub backup` (Backup) of a database holding
// 100,000 inbox events of a realistic size (a text message event is about
// 600 bytes of JSON), as a busy year of one shop would leave without
// pruning. One op is one complete backup. See docs/benchmarks.md.
func BenchmarkBackup(b *testing.B) {
	const events = 100000
	ctx := context.Background()
	dir := b.TempDir()
	st, err := Open(dir, Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	raw := `{"type":"message","message":{"type":"text","id":"468789577898262530","quoteToken":"q","text":"` +
		strings.Repeat("x", 300) + `"},"webhookEventId":"%s","deliveryContext":{"isRedelivery":false},` +
		`"timestamp":1700000000000,"source":{"type":"user","userId":"U4af4980629aaaaaaaaaaaaaaaaaaaaaaaa"},"replyToken":"r","mode":"active"}`
	for start := 0; start < events; start += 1000 {
		rows := make([]InboxEvent, 1000)
		for i := range rows {
			id := fmt.Sprintf("01H%022d", start+i)
			rows[i] = InboxEvent{ConnectionID: 1, WebhookEventID: id, Type: "message", UserID: fmt.Sprintf("U%032d", (start+i)%10000),
				Timestamp: int64(start + i), Raw: fmt.Sprintf(raw, id), ReceivedAt: time.Now(), Pending: false}
		}
		if _, err := st.AppendInbox(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	fi, _ := os.Stat(filepath.Join(dir, DBFile))
	dest := filepath.Join(b.TempDir(), "backup.db")
	b.ResetTimer()
	var size int64
	for b.Loop() {
		info, err := Backup(ctx, dir, dest)
		if err != nil {
			b.Fatal(err)
		}
		size = info.Bytes
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
	b.ReportMetric(float64(size)/(1<<20), "backup-MiB")
}
