package store

import (
	"context"
	"testing"
	"time"
)

func TestPruneInboxKeepsPendingAndRecent(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := st.AppendInbox(ctx, inboxRows(1, "old", "recent", "pending")); err != nil {
		t.Fatal(err)
	}
	rows, _ := st.PendingInbox(ctx, 10)
	ids := map[string]int64{}
	for _, r := range rows {
		ids[r.WebhookEventID] = r.ID
	}
	err := st.Apply(ctx, func(tx *ApplyTx) error {
		if err := tx.MarkApplied(ids["old"], time.Now().UTC().Add(-31*24*time.Hour), ""); err != nil {
			return err
		}
		return tx.MarkApplied(ids["recent"], time.Now().UTC().Add(-time.Hour), "")
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneInbox(ctx, time.Now().UTC().Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want only the old applied row", n, err)
	}
	stats, _ := st.InboxStats(ctx, 0)
	if stats.Total != 2 || stats.Pending != 1 {
		t.Fatalf("inbox after prune: %+v", stats)
	}
}

func TestJobRunsAndCursors(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	r, err := st.StartJobRun(ctx, "reconcile", 3, "api")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AbandonRunningJobs(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := st.JobRun(ctx, r.ID)
	if got.Status != RunFailed || got.FinishedAt == nil {
		t.Fatalf("run left by a restart: %+v", got)
	}
	c := &JobCursor{Job: "reconcile", ConnectionID: 3, RunStarted: 42, Phase: "ids", Cursor: "abc"}
	if err := st.SaveJobCursor(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Cursor = "def"
	if err := st.SaveJobCursor(ctx, c); err != nil {
		t.Fatal(err)
	}
	if back, _ := st.JobCursor(ctx, "reconcile", 3); back == nil || back.Cursor != "def" || back.RunStarted != 42 {
		t.Fatalf("cursor %+v", back)
	}
	if err := st.DeleteJobCursor(ctx, "reconcile", 3); err != nil {
		t.Fatal(err)
	}
	if back, _ := st.JobCursor(ctx, "reconcile", 3); back != nil {
		t.Fatalf("cursor after delete %+v", back)
	}
	for range 5 {
		if _, err := st.StartJobRun(ctx, "prune_inbox", 0, "schedule"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PruneJobRuns(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if runs, _ := st.JobRuns(ctx, "", 0, 100); len(runs) != 3 {
		t.Fatalf("%d runs kept, want 3", len(runs))
	}
}

func TestPruneSendsKeepsPendingAndRecent(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	for _, k := range []string{"old-sent", "old-pending", "recent-sent"} {
		if _, _, err := st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: k, Kind: "workflow", UserID: "U1", Messages: "[]", RetryKey: k}, 0); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().UTC().Add(-10 * 24 * time.Hour)
	if err := st.w.Exec("UPDATE sends SET created_at = ? WHERE idem_key LIKE 'old-%'", old).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.w.Exec("UPDATE sends SET status = ? WHERE idem_key LIKE '%-sent'", SendSent).Error; err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneSends(ctx, time.Now().UTC().Add(-4*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want only the old sent one", n, err)
	}
	for k, want := range map[string]bool{"old-sent": false, "old-pending": true, "recent-sent": true} {
		_, created, err := st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: k, Kind: "workflow", UserID: "U1", Messages: "[]", RetryKey: "new"}, 0)
		if err != nil || created == want {
			t.Errorf("%s: kept %v, want %v (%v)", k, !created, want, err)
		}
	}
}

func TestPruneChatKeepsRecentAndUnloggedMessages(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	for i, m := range []ChatMessage{
		{SourceKey: "old-logged", NoteID: "n1"},
		{SourceKey: "old-note-pending", NotePending: true},
		{SourceKey: "old-note-refused", NotePending: true, NoteAttempts: maxNoteAttempts, NoteError: "HubSpot answered 400: property hs_note_body is too long"},
		{SourceKey: "recent", NotePending: true},
	} {
		m.ConnectionID, m.UserID, m.Direction, m.Text, m.Timestamp = 1, "U1", ChatIn, "hi", int64(i)
		if err := st.AddChatMessage(ctx, &m); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().UTC().Add(-400 * 24 * time.Hour)
	if err := st.w.Exec("UPDATE chat_messages SET created_at = ? WHERE source_key LIKE 'old-%'", old).Error; err != nil {
		t.Fatal(err)
	}
	if ns, err := st.NoteStats(ctx); err != nil || ns.Pending != 2 || ns.GivenUp != 1 || ns.LastRefusal != "HubSpot answered 400: property hs_note_body is too long" {
		t.Fatalf("note stats %+v, %v; want 2 pending, 1 given up with its refusal", ns, err)
	}
	n, err := st.PruneChat(ctx, time.Now().UTC().Add(-365*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the old logged one and the old refused one", n, err)
	}
	ms, err := st.ChatMessages(ctx, 1, "U1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, m := range ms {
		kept = append(kept, m.SourceKey)
	}
	if len(kept) != 2 || kept[0] != "old-note-pending" || kept[1] != "recent" {
		t.Fatalf("kept %v, want the unlogged old message and the recent one", kept)
	}
}
