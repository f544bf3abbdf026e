package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

func TestClaimSend(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	first := &Send{ConnectionID: 1, IdemKey: "cb:1", Kind: "workflow", UserID: "U1", Messages: "[]", RetryKey: "k1"}
	got, created, err := st.ClaimSend(ctx, first, 0)
	if err != nil || !created || got.Status != SendPending {
		t.Fatalf("first claim: %+v %v %v", got, created, err)
	}
	// A retry before anything was recorded reuses the stored retry key.
	got, created, err = st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: "cb:1", UserID: "U1", RetryKey: "k2", Messages: "[]"}, 0)
	if err != nil || created || got.RetryKey != "k1" {
		t.Fatalf("retry: %+v %v %v", got, created, err)
	}
	if err := st.FinishSend(ctx, got.ID, SendSent, ""); err != nil {
		t.Fatal(err)
	}
	// Another connection may use the same key.
	if _, created, _ := st.ClaimSend(ctx, &Send{ConnectionID: 2, IdemKey: "cb:1", RetryKey: "k3", Messages: "[]"}, 0); !created {
		t.Fatal("key shared across connections")
	}
	// renewAfter: a sent row older than the window becomes a new send.
	if err := st.w.Exec("UPDATE sends SET created_at = ? WHERE id = ?", time.Now().Add(-100*time.Hour).UTC(), got.ID).Error; err != nil {
		t.Fatal(err)
	}
	got, created, err = st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: "cb:1", UserID: "U1", RetryKey: "k4", Messages: "[]"}, 72*time.Hour)
	if err != nil || !created || got.RetryKey != "k4" || got.Status != SendPending {
		t.Fatalf("renewed: %+v %v %v", got, created, err)
	}
}

// A key stands for one request: its retries get the stored send, any
// other request with it ErrKeyReused, with nothing changed.
func TestClaimSendKeyBoundToRequest(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	first := &Send{ConnectionID: 1, IdemKey: "api:k", Kind: "api", UserID: "U1", Messages: `["a"]`, RetryKey: "k1", RequestHash: "h1"}
	if _, created, err := st.ClaimSend(ctx, first, 0); err != nil || !created {
		t.Fatalf("first claim: %v %v", created, err)
	}
	got, created, err := st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: "api:k", UserID: "U1", Messages: `["a"]`, RetryKey: "k2", RequestHash: "h1"}, 0)
	if err != nil || created || got.RetryKey != "k1" {
		t.Fatalf("retry: %+v %v %v", got, created, err)
	}
	for _, other := range []*Send{
		{ConnectionID: 1, IdemKey: "api:k", UserID: "U2", Messages: `["b"]`, RetryKey: "k3", RequestHash: "h2"},
		{ConnectionID: 1, IdemKey: "api:k", UserID: "U1", Messages: `["b"]`, RetryKey: "k3", RequestHash: "h2"},
		{ConnectionID: 1, IdemKey: "api:k", UserID: "U1", Messages: `["a"]`, RetryKey: "k3"},
	} {
		if got, _, err := st.ClaimSend(ctx, other, time.Nanosecond); !errors.Is(err, ErrKeyReused) || got != nil {
			t.Fatalf("other request %+v: %+v %v", other, got, err)
		}
	}
	if got, _, _ := st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: "api:k", UserID: "U1", RequestHash: "h1"}, 0); got.UserID != "U1" || got.Messages != `["a"]` || got.RetryKey != "k1" {
		t.Fatalf("the send changed: %+v", got)
	}
	// A send stored before requests were hashed is compared by recipient.
	if err := st.w.Exec("UPDATE sends SET request_hash = '' WHERE id = ?", first.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: "api:k", UserID: "U2", RequestHash: "h2"}, 0); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("old send, other recipient: %v", err)
	}
	if _, created, err := st.ClaimSend(ctx, &Send{ConnectionID: 1, IdemKey: "api:k", UserID: "U1", RequestHash: "h1"}, 0); err != nil || created {
		t.Fatalf("old send, same recipient: %v %v", created, err)
	}
}

func TestTakeReplyTokenOnce(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	now := time.Now().UnixMilli()
	err := st.Apply(ctx, func(tx *ApplyTx) error {
		return tx.AddChatMessages([]ChatMessage{
			{ConnectionID: 1, SourceKey: "ev:a", UserID: "U1", Direction: ChatIn, Text: "old", ReplyToken: "t-old", Timestamp: now - 1000},
			{ConnectionID: 1, SourceKey: "ev:b", UserID: "U1", Direction: ChatIn, Text: "new", ReplyToken: "t-new", Timestamp: now},
			{ConnectionID: 1, SourceKey: "ev:b", UserID: "U1", Direction: ChatIn, Text: "redelivered", ReplyToken: "t-dup", Timestamp: now},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := st.ChatMessages(ctx, 1, "U1", 0, 10); len(ms) != 2 || ms[1].Text != "new" {
		t.Fatalf("chat: %+v", ms)
	}
	if m, _ := st.TakeReplyToken(ctx, 1, "U1", now+1, 0); m != nil {
		t.Fatal("stale token taken")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var taken []string
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := st.TakeReplyToken(ctx, 1, "U1", now-5000, 0)
			if err != nil {
				t.Error(err)
			}
			if m != nil {
				mu.Lock()
				taken = append(taken, m.ReplyToken)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(taken) != 1 || taken[0] != "t-new" {
		t.Fatalf("tokens taken: %v", taken)
	}
}

func TestHookKey(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	if ok, err := st.CheckHookKey(ctx, 1, "anything"); ok || err != nil {
		t.Fatalf("no key yet: %v %v", ok, err)
	}
	k1, err := st.RotateHookKey(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetHookSigningSecret(ctx, 1, "app-secret"); err != nil {
		t.Fatal(err)
	}
	k2, _ := st.RotateHookKey(ctx, 1)
	if ok, _ := st.CheckHookKey(ctx, 1, k1); ok {
		t.Fatal("rotated key still works")
	}
	if ok, _ := st.CheckHookKey(ctx, 1, k2); !ok {
		t.Fatal("new key refused")
	}
	info, err := st.HookKeyInfo(ctx, 1)
	if err != nil || info.Last4 != k2[len(k2)-4:] {
		t.Fatalf("%+v %v", info, err)
	}
	if sec, err := st.HookSigningSecret(info); err != nil || sec != "app-secret" {
		t.Fatalf("secret survived rotation? %q %v", sec, err)
	}
	if _, err := st.HookKeyInfo(ctx, 2); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

// TestConversationsWalkAnIndex: the chat list reads friends in index order
// and stops at the page, instead of sorting every friend (see
// BenchmarkConversations for what that cost).
func TestConversationsWalkAnIndex(t *testing.T) {
	st := openTest(t, t.TempDir())
	q := st.r.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var fs []Friend
		return conversations(tx, 1, 200).Find(&fs)
	})
	var plan []struct {
		ID, Parent, Notused int
		Detail              string
	}
	if err := st.r.Raw("EXPLAIN QUERY PLAN " + q).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, p := range plan {
		steps = append(steps, p.Detail)
	}
	all := strings.Join(steps, "; ")
	if !strings.Contains(all, "USING INDEX idx_friend_chat_order") || strings.Contains(all, "TEMP B-TREE") || !strings.Contains(all, "idx_chat_user") {
		t.Fatalf("query plan: %s\n%s", all, q)
	}
}

// A message sent to a user linehub has no friend for is offered as a note
// on the contact recorded with it; a note whose batch had an unknown
// outcome keeps its marker and sending mark until an outcome is recorded,
// and KnownNoteIDs knows the recorded note ids.
func TestNotesSendingMarkAndListContact(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	rows := []ChatMessage{
		{ConnectionID: 1, SourceKey: "bc:1:0:U1", UserID: "U1", Direction: ChatOut, Text: "sale", Timestamp: 1, NotePending: true, NoteContactID: "501"},
		{ConnectionID: 1, SourceKey: "bc:1:0:U2", UserID: "U2", Direction: ChatOut, Text: "sale", Timestamp: 1},
	}
	if err := st.AddChatMessagesBulk(ctx, rows); err != nil {
		t.Fatal(err)
	}
	p, err := st.PendingNotes(ctx, 10)
	if err != nil || len(p) != 1 || p[0].ContactID != "501" || p[0].UserID != "U1" {
		t.Fatalf("pending: %+v %v", p, err)
	}
	if err := st.SendingNotes(ctx, map[int64]string{p[0].ID: "lhabc"}); err != nil {
		t.Fatal(err)
	}
	// Unknown outcome: nothing recorded, the mark stays.
	if err := st.FinishNotes(ctx, NoteOutcome{Error: "EOF"}); err != nil {
		t.Fatal(err)
	}
	p, _ = st.PendingNotes(ctx, 10)
	if len(p) != 1 || p[0].NoteMarker != "lhabc" || p[0].NoteSentAt == 0 {
		t.Fatalf("after an unknown outcome: %+v", p)
	}
	// Certainly not sent: the mark goes, no attempt is used.
	if err := st.FinishNotes(ctx, NoteOutcome{Unsent: []int64{p[0].ID}, Error: "429"}); err != nil {
		t.Fatal(err)
	}
	p, _ = st.PendingNotes(ctx, 10)
	if len(p) != 1 || p[0].NoteSentAt != 0 || p[0].NoteAttempts != 0 || p[0].NoteMarker != "lhabc" {
		t.Fatalf("after unsent: %+v", p)
	}
	if err := st.FinishNotes(ctx, NoteOutcome{Done: map[int64]string{p[0].ID: "90001"}}); err != nil {
		t.Fatal(err)
	}
	if p, _ = st.PendingNotes(ctx, 10); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	known, err := st.KnownNoteIDs(ctx, []string{"90001", "90002"})
	if err != nil || !known["90001"] || known["90002"] {
		t.Fatalf("known: %v %v", known, err)
	}
}

// A reply an older linehub left pending did not record the reply token it
// used: the upgrade marks it so, so that the recovery after the restart
// neither pushes it (that could answer twice) nor tries a token; a pending
// push keeps no token.
func TestUpgradeMarksPendingRepliesTokenUnknown(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	all := migrations
	migrations = migrationsBefore(10)
	old, err := Open(dir, Options{Synchronous: "NORMAL"})
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO sends (connection_id, idem_key, kind, user_id, messages, retry_key, status, created_at) VALUES (1, 'reply:a', 'reply', 'U1', '[]', 'k1', 'pending', CURRENT_TIMESTAMP)`,
		`INSERT INTO sends (connection_id, idem_key, kind, user_id, messages, retry_key, status, created_at) VALUES (1, 'api:b', 'api', 'U1', '[]', 'k2', 'pending', CURRENT_TIMESTAMP)`,
		`INSERT INTO sends (connection_id, idem_key, kind, user_id, messages, retry_key, status, created_at) VALUES (1, 'reply:c', 'reply', 'U1', '[]', 'k3', 'sent', CURRENT_TIMESTAMP)`,
	} {
		if err := old.w.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	st := openTest(t, dir)
	want := map[int64]int64{1: ReplyTokenUnknown, 2: 0, 3: 0}
	for id, w := range want {
		s, err := st.GetSend(ctx, id)
		if err != nil || s.ReplyMsgID != w {
			t.Fatalf("send %d after the upgrade: %+v %v, want reply_msg_id %d", id, s, err, w)
		}
	}
}

// migrationsBefore is the schema history up to, not including, version v:
// a database as the linehub before that step left it.
func migrationsBefore(v int) []migration {
	for i, m := range migrations {
		if m.version == v {
			return migrations[:i:i]
		}
	}
	panic(fmt.Sprintf("no migration %d", v))
}
