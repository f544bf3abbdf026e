package messaging

import (
	"database/sql"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the store's driver, for injecting faults

	"linehub/app/hubspot"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// failOutgoingChat makes the database refuse to record sent chat messages,
// the last write of a send's record, as a crash or a full disk would
// stop it; the returned func lifts it. A send whose outcome is stored apart
// from its record is then left marked as sent with no record.
func (fx *fixture) failOutgoingChat() (undo func()) {
	fx.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+fx.st.Path()+"?_busy_timeout=10000")
	if err != nil {
		fx.t.Fatalf("open database: %v", err)
	}
	fx.t.Cleanup(func() { db.Close() })
	exec := func(q string) {
		fx.t.Helper()
		if _, err := db.Exec(q); err != nil {
			fx.t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TRIGGER fail_outgoing_chat BEFORE INSERT ON chat_messages WHEN NEW.direction = 'out'
		BEGIN SELECT RAISE(ABORT, 'injected fault: chat record refused'); END`)
	return func() { exec(`DROP TRIGGER fail_outgoing_chat`) }
}

// outgoing returns the friend's sent chat messages.
func (fx *fixture) outgoing(c fxConn, uid string) []store.ChatMessage {
	fx.t.Helper()
	ms, err := fx.st.ChatMessages(fx.ctx, c.conn.ID, uid, 0, 100)
	if err != nil {
		fx.t.Fatal(err)
	}
	var out []store.ChatMessage
	for _, m := range ms {
		if m.Direction == store.ChatOut {
			out = append(out, m)
		}
	}
	return out
}

// A push LINE accepted whose record could not be stored must stay
// retryable: the retry reuses the stored retry key (LINE answers 409, so
// nothing is delivered twice) and records it. Before, the send was already
// committed as sent, so the retry answered "duplicate" and the chat row,
// the timeline note and Unanswered = No never came.
func TestSendOutcomeAndRecordCommitTogether(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	fx.deliver(c, linetest.TextMessageEvent(uid, "question", time.Now().Add(-time.Minute)))
	fx.apply()
	if !fx.friendRow(c, uid).Unanswered {
		t.Fatal("friend not unanswered after a message")
	}

	undo := fx.failOutgoingChat()
	if _, err := fx.b.SendMessages(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "order-42"); err == nil {
		t.Fatal("send succeeded although its record could not be stored")
	}
	if p := fx.ln.Pushes(c.token); len(p) != 1 {
		t.Fatalf("LINE got %d pushes, want 1", len(p))
	}
	// Neither half of the record without the other.
	if !fx.friendRow(c, uid).Unanswered {
		t.Fatal("Unanswered reset although the send's record was refused")
	}
	if got := fx.outgoing(c, uid); len(got) != 0 {
		t.Fatalf("chat rows %+v", got)
	}

	undo()
	res, err := fx.b.SendMessages(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "order-42")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if res.Duplicate || res.Status != "sent" {
		t.Fatalf("retry answered %+v: the send counted as done with no record of it", res)
	}
	if p := fx.ln.Pushes(c.token); len(p) != 1 {
		t.Fatalf("LINE delivered %d pushes, want 1 (the retry must reuse the retry key)", len(p))
	}
	if got := fx.outgoing(c, uid); len(got) != 1 || got[0].Text != "answer" || !got[0].NotePending {
		t.Fatalf("chat rows after the retry: %+v", got)
	}
	if fx.friendRow(c, uid).Unanswered {
		t.Fatal("still unanswered after the retry")
	}
	// A further retry is a duplicate and records nothing more.
	res, err = fx.b.SendMessages(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "order-42")
	if err != nil || !res.Duplicate {
		t.Fatalf("second retry: %+v %v", res, err)
	}
	if got := fx.outgoing(c, uid); len(got) != 1 {
		t.Fatalf("%d chat rows after a duplicate", len(got))
	}
}

// An answer given with the reply token cannot be retried at LINE (the
// reply API has no retry key); whatever happens, it must not be counted as
// sent while nothing records it.
func TestReplyOutcomeAndRecordCommitTogether(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	ev := linetest.TextMessageEvent(uid, "question", time.Now())
	fx.ln.IssueReplyTokens(c.token, ev)
	fx.deliver(c, ev)
	fx.apply()

	undo := fx.failOutgoingChat()
	if _, err := fx.b.Reply(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "r-1"); err == nil {
		t.Fatal("reply succeeded although its record could not be stored")
	}
	if r := fx.ln.Replies(c.token); len(r) != 1 {
		t.Fatalf("LINE got %d replies, want 1", len(r))
	}
	undo()
	res, err := fx.b.Reply(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "r-1")
	if err == nil && res.Duplicate && len(fx.outgoing(c, uid)) == 0 {
		t.Fatalf("the reply counts as sent (%+v) but nothing records it", res)
	}
	if !fx.friendRow(c, uid).Unanswered && len(fx.outgoing(c, uid)) == 0 {
		t.Fatal("Unanswered reset without a chat record")
	}
	if n := len(fx.ln.Replies(c.token)) + len(fx.ln.Pushes(c.token)); n != 1 {
		t.Fatalf("the answer went out %d times", n)
	}
}

// A broadcast chunk LINE accepted whose record could not be stored stays
// pending and is recorded when the retry (same retry key, LINE answers
// 409) goes through. Before, the chunk was committed as sent and its chat
// rows were lost for good.
func TestBroadcastChunkAndRecordCommitTogether(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	serial := strconv.Itoa(c.conn.Serial)
	var in []hubspot.ContactInput
	var uids []string
	for i := range 3 {
		uid := fx.friend(c, fmt.Sprintf("Member %d", i))
		uids = append(uids, uid)
		in = append(in, hubspot.ContactInput{Ref: strconv.Itoa(i), Email: fmt.Sprintf("m%d@example.com", i),
			Properties: map[string]string{"line_user_id_" + serial: uid, "line_follow_" + serial: "Yes"}})
	}
	res, err := fx.b.hs.BatchCreateContacts(fx.ctx, in)
	if err != nil || len(res.Contacts) != 3 {
		t.Fatalf("seed contacts: %v %+v", err, res)
	}
	var ids []string
	for _, ct := range res.Contacts {
		ids = append(ids, ct.ID)
	}
	list := fx.hs.AddList("VIP", ids)

	undo := fx.failOutgoingChat()
	bc, err := fx.b.CreateBroadcast(fx.ctx, BroadcastInput{ConnectionID: c.conn.ID, ListID: list, Message: MessageInput{Text: "Sale"}})
	if err != nil {
		t.Fatal(err)
	}
	fx.b.SendPending(fx.ctx)
	if m := fx.ln.Multicasts(c.token); len(m) != 1 {
		t.Fatalf("%d multicasts, want 1", len(m))
	}
	v, err := fx.b.GetBroadcast(fx.ctx, bc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Progress.Sent != 0 {
		t.Fatalf("chunk counted as sent without its chat record: %+v", v.Progress)
	}

	undo()
	fx.b.SendPending(fx.ctx)
	if m := fx.ln.Multicasts(c.token); len(m) != 1 {
		t.Fatalf("LINE delivered %d multicasts, want 1 (the retry must reuse the retry key)", len(m))
	}
	for _, uid := range uids {
		if got := fx.outgoing(c, uid); len(got) != 1 || got[0].Via != "broadcast" {
			t.Fatalf("chat rows of %s: %+v", uid, got)
		}
	}
	if v, _ = fx.b.GetBroadcast(fx.ctx, bc.ID); v.Status != store.BroadcastDone || v.Progress.Sent != 3 {
		t.Fatalf("broadcast after the retry: %s %+v", v.Status, v.Progress)
	}
}

// failChunkUpdate makes the database refuse to mark chunk seq of any
// broadcast failed, as a crash in the middle of failing a broadcast would
// stop it; the returned func lifts it.
func (fx *fixture) failChunkUpdate(seq int) (undo func()) {
	fx.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+fx.st.Path()+"?_busy_timeout=10000")
	if err != nil {
		fx.t.Fatalf("open database: %v", err)
	}
	fx.t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(fmt.Sprintf(`CREATE TRIGGER fail_chunk BEFORE UPDATE OF status ON broadcast_chunks
		WHEN NEW.seq = %d AND NEW.status = 'failed' BEGIN SELECT RAISE(ABORT, 'injected fault'); END`, seq)); err != nil {
		fx.t.Fatal(err)
	}
	return func() {
		if _, err := db.Exec(`DROP TRIGGER fail_chunk`); err != nil {
			fx.t.Fatal(err)
		}
	}
}

// A broadcast that LINE refuses (quota used up) is failed as a whole:
// however the failing is cut short, no chunk of it goes out afterwards
// next to chunks marked failed.
func TestBroadcastFailsWhole(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	serial := strconv.Itoa(c.conn.Serial)
	var in []hubspot.ContactInput
	for i := range 501 { // two multicasts
		in = append(in, hubspot.ContactInput{Ref: strconv.Itoa(i), Email: fmt.Sprintf("m%d@example.com", i),
			Properties: map[string]string{"line_user_id_" + serial: linetest.NewUserID(), "line_follow_" + serial: "Yes"}})
	}
	res, err := fx.b.hs.BatchCreateContacts(fx.ctx, in)
	if err != nil || len(res.Contacts) != len(in) {
		t.Fatalf("seed contacts: %v, %d", err, len(res.Contacts))
	}
	var ids []string
	for _, ct := range res.Contacts {
		ids = append(ids, ct.ID)
	}
	list := fx.hs.AddList("All", ids)

	fx.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/message/multicast") {
			return 429, `{"message":"You have reached your monthly limit."}`, true
		}
		return 0, "", false
	})
	undo := fx.failChunkUpdate(1)
	bc, err := fx.b.CreateBroadcast(fx.ctx, BroadcastInput{ConnectionID: c.conn.ID, ListID: list, Message: MessageInput{Text: "Sale"}})
	if err != nil {
		t.Fatal(err)
	}
	fx.b.SendPending(fx.ctx)
	undo()
	fx.ln.SetFault(nil) // the quota is back (a new month)
	fx.b.SendPending(fx.ctx)
	v, err := fx.b.GetBroadcast(fx.ctx, bc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Progress.Failed > 0 && v.Progress.Sent > 0 {
		t.Fatalf("broadcast %s half failed and half sent: %+v", v.Status, v.Progress)
	}
}

func TestSendTextMarksAnsweredAndLateMessagesStayAnswered(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.friend(c, "Alice")
	t0 := time.Now().Add(-time.Hour)
	fx.deliver(c, linetest.TextMessageEvent(uid, "question", t0))
	fx.apply()
	fx.sync()
	if err := fx.b.SendText(fx.ctx, c.conn.ID, uid, "answer"); err != nil {
		t.Fatal(err)
	}
	if p := fx.ln.Pushes(c.token); len(p) != 1 || p[0].To != uid || len(p[0].Texts) != 1 || p[0].Texts[0] != "answer" {
		t.Fatalf("pushes %+v", p)
	}
	fx.takeRequests("")
	fx.sync()
	ups := fx.takeRequests("batch/update")
	if len(ups) != 1 {
		t.Fatalf("%d updates after the push, want 1", len(ups))
	}
	if got := sortedKeys(batchInputs(t, ups[0])[0].Properties); !slices.Equal(got, []string{"line_unanswered_1"}) {
		t.Fatalf("push wrote %v, want only line_unanswered_1", got)
	}
	ct, _ := fx.contact(uid)
	if ct.Properties["line_unanswered_1"] != "No" || ct.Properties["line_last_response_1"] != "question" {
		t.Fatalf("after push: %v", ct.Properties)
	}
	// A message sent before the push but delivered after it: still answered.
	fx.deliver(c, linetest.TextMessageEvent(uid, "older", t0.Add(-time.Minute)))
	fx.apply()
	fx.sync()
	ct, _ = fx.contact(uid)
	if ct.Properties["line_unanswered_1"] != "No" || ct.Properties["line_last_response_1"] != "question" {
		t.Fatalf("late message changed the answered chat: %v", ct.Properties)
	}
	// A new message opens it again.
	fx.deliver(c, linetest.TextMessageEvent(uid, "follow-up", t0.Add(time.Minute)))
	fx.apply()
	fx.sync()
	ct, _ = fx.contact(uid)
	if ct.Properties["line_unanswered_1"] != "Yes" || ct.Properties["line_last_response_1"] != "follow-up" {
		t.Fatalf("after new message: %v", ct.Properties)
	}
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
