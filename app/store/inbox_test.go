package store

import (
	"context"
	"testing"
	"time"
)

// TestAppendInboxKeepsPendingFalse: a row created with Pending false (an
// event already applied, as the backup benchmark and an import store
// them) is stored applied. With a column default of true in the model,
// gorm left the false zero value out of the INSERT and the row came back
// pending.
func TestAppendInboxKeepsPendingFalse(t *testing.T) {
	st, ctx := openTest(t, t.TempDir()), context.Background()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rows := []InboxEvent{
		{ConnectionID: 1, WebhookEventID: "applied", Type: "message", UserID: "U1", Timestamp: 1, Raw: "{}", ReceivedAt: at, Pending: false, AppliedAt: &at},
		{ConnectionID: 1, WebhookEventID: "pending", Type: "message", UserID: "U1", Timestamp: 2, Raw: "{}", ReceivedAt: at, Pending: true},
	}
	if n, err := st.AppendInbox(ctx, rows); err != nil || n != 2 {
		t.Fatalf("append: %d %v", n, err)
	}
	var got InboxEvent
	if err := st.r.Where("webhook_event_id = ?", "applied").First(&got).Error; err != nil {
		t.Fatal(err)
	}
	if got.Pending || got.AppliedAt == nil || !got.AppliedAt.Equal(at) {
		t.Fatalf("applied row read back as pending=%v applied_at=%v", got.Pending, got.AppliedAt)
	}
	pend, err := st.PendingInbox(ctx, 10)
	if err != nil || len(pend) != 1 || pend[0].WebhookEventID != "pending" {
		t.Fatalf("pending inbox %+v %v", pend, err)
	}
	stats, err := st.InboxStats(ctx, 0)
	if err != nil || stats.Pending != 1 || stats.Total != 2 {
		t.Fatalf("inbox stats %+v %v", stats, err)
	}
}
