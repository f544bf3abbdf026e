package messaging

import (
	"database/sql"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// restart replaces the fixture's Service (with its registry and contact
// sync) with a new one over the same store,
// as a process started after a kill -9 makes it: nothing of the old one's
// memory survives.
func (fx *fixture) restart() {
	fx.t.Helper()
	logger := slog.New(slog.DiscardHandler)
	hsc := hubspot.New(hubspot.Config{
		BaseURL: fx.cfg.HubSpot.BaseURL, Token: fx.cfg.HubSpot.Token, Tier: fx.cfg.HubSpot.Tier, Logger: logger,
		MaxRetries: -1, Window: 200 * time.Millisecond, RequestTimeout: 10 * time.Second,
	})
	conns, err := connections.New(connections.Options{Store: fx.st, HubSpot: hsc, Config: fx.cfg, LINEHTTPClient: &http.Client{Timeout: 10 * time.Second}, Logger: logger})
	if err != nil {
		fx.t.Fatalf("connections after restart: %v", err)
	}
	pipe, err := contactsync.New(contactsync.Options{Connections: conns, Store: fx.st, HubSpot: hsc, Config: fx.cfg, Logger: logger})
	if err != nil {
		fx.t.Fatalf("contactsync after restart: %v", err)
	}
	b, err := New(Options{Connections: conns, Sync: pipe, Store: fx.st, HubSpot: hsc, Config: fx.cfg, Logger: logger})
	if err != nil {
		fx.t.Fatalf("messaging after restart: %v", err)
	}
	fx.b, fx.conns, fx.pipe = b, conns, pipe
}

// sendRow returns the connection's only send.
func (fx *fixture) sendRow(c fxConn) store.Send {
	fx.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+fx.st.Path()+"?_busy_timeout=10000")
	if err != nil {
		fx.t.Fatalf("open database: %v", err)
	}
	defer db.Close()
	var ids []int64
	rows, err := db.Query("SELECT id FROM sends WHERE connection_id = ?", c.conn.ID)
	if err != nil {
		fx.t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			fx.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 1 {
		fx.t.Fatalf("%d sends, want 1", len(ids))
	}
	s, err := fx.st.GetSend(fx.ctx, ids[0])
	if err != nil {
		fx.t.Fatal(err)
	}
	return *s
}

// unansweredFriend returns a friend of c whose last message waits for an
// answer, with the contact synced to HubSpot.
func (fx *fixture) unansweredFriend(c fxConn, reply bool) string {
	fx.t.Helper()
	uid := fx.friend(c, "Alice")
	at := time.Now()
	if !reply {
		at = at.Add(-time.Minute) // its reply token too old to be tried
	}
	ev := linetest.TextMessageEvent(uid, "question", at)
	if reply {
		fx.ln.IssueReplyTokens(c.token, ev)
	}
	fx.deliver(c, ev)
	fx.apply()
	fx.sync()
	if !fx.friendRow(c, uid).Unanswered || fx.prop(uid, "line_unanswered", c.conn.Serial) != "Yes" {
		fx.t.Fatal("friend not unanswered after a message")
	}
	return uid
}

// A push LINE accepted whose record the process never stored (the record
// is refused, then the process is gone) is completed by the next start,
// without any retry from the caller: sent again with its stored retry key,
// LINE answers 409 and delivers nothing more, and the send is recorded once
// with its chat row, timeline note and Unanswered = No (synced to HubSpot).
// Before, it stayed pending until the caller retried with the same key,
// and a push without a key had no send row at all.
func TestPushRecoveredAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(fx *fixture, c fxConn, uid string) error
	}{
		{"idempotency key", func(fx *fixture, c fxConn, uid string) error {
			_, err := fx.b.SendMessages(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "order-42")
			return err
		}},
		{"no key", func(fx *fixture, c fxConn, uid string) error {
			return fx.b.SendText(fx.ctx, c.conn.ID, uid, "answer")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.connect("Shop")
			uid := fx.unansweredFriend(c, false)

			undo := fx.failOutgoingChat()
			if err := tc.send(fx, c, uid); err == nil {
				t.Fatal("send succeeded although its record could not be stored")
			}
			if p := fx.ln.Pushes(c.token); len(p) != 1 {
				t.Fatalf("LINE got %d pushes, want 1", len(p))
			}
			undo()
			fx.restart()
			fx.b.SendPending(fx.ctx) // the messaging worker's first round

			if p := fx.ln.Pushes(c.token); len(p) != 1 || p[0].Texts[0] != "answer" {
				t.Fatalf("LINE delivered %+v, want the answer once", p)
			}
			got := fx.outgoing(c, uid)
			if len(got) != 1 || got[0].Text != "answer" || got[0].Unconfirmed {
				t.Fatalf("chat rows after the restart: %+v", got)
			}
			if s := fx.sendRow(c); s.Status != store.SendSent || s.RetryKey == "" {
				t.Fatalf("send after the restart: %+v", s)
			}
			fx.sync()
			if fx.friendRow(c, uid).Unanswered || fx.prop(uid, "line_unanswered", c.conn.Serial) != "No" {
				t.Fatal("still unanswered after the recovery")
			}
			fx.b.SendPending(fx.ctx) // the timeline notes
			ct, _ := fx.contact(uid)
			if n := len(fx.hs.Notes(ct.ID)); n != 2 {
				t.Fatalf("%d timeline notes, want 2 (question and answer)", n)
			}
			// Another start finds nothing to do.
			fx.restart()
			fx.b.SendPending(fx.ctx)
			if p, got := fx.ln.Pushes(c.token), fx.outgoing(c, uid); len(p) != 1 || len(got) != 1 {
				t.Fatalf("second restart: %d pushes, %d chat rows", len(p), len(got))
			}
		})
	}
}

// A push cut short before LINE had it (the process died after storing the
// send) goes out once at the next start.
func TestPushNeverSentRecoveredAfterCrash(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.unansweredFriend(c, false)
	// LINE fails every push: the send stays pending, as if the process had
	// died before LINE answered.
	fx.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/message/push") {
			return 500, `{"message":"An error occurred in the server"}`, true
		}
		return 0, "", false
	})
	if _, err := fx.b.SendMessages(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, ""); err == nil {
		t.Fatal("send succeeded although LINE failed")
	}
	if p := fx.ln.Pushes(c.token); len(p) != 0 {
		t.Fatalf("LINE accepted %d pushes", len(p))
	}
	fx.ln.SetFault(nil)
	fx.restart()
	fx.b.SendPending(fx.ctx)
	if p := fx.ln.Pushes(c.token); len(p) != 1 {
		t.Fatalf("LINE delivered %d pushes, want 1", len(p))
	}
	if got := fx.outgoing(c, uid); len(got) != 1 {
		t.Fatalf("chat rows: %+v", got)
	}
	if fx.friendRow(c, uid).Unanswered {
		t.Fatal("still unanswered")
	}
}

// Sends a process claims itself are not its recovery's business: only
// those pending when it started are.
func TestRecoveryLeavesOwnSendsAlone(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.unansweredFriend(c, false)
	fx.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/message/push") {
			return 500, `{"message":"An error occurred in the server"}`, true
		}
		return 0, "", false
	})
	if _, err := fx.b.SendMessages(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "k"); err == nil {
		t.Fatal("send succeeded although LINE failed")
	}
	fx.ln.SetFault(nil)
	fx.b.SendPending(fx.ctx)
	if p := fx.ln.Pushes(c.token); len(p) != 0 {
		t.Fatalf("recovery pushed a send of its own process: %d pushes", len(p))
	}
	if s := fx.sendRow(c); s.Status != store.SendPending {
		t.Fatalf("send: %+v", s)
	}
}

// A reply LINE accepted whose record the process never stored: the reply
// API has no retry key, and pushing it instead could answer twice. The
// next start tries its reply token once more; LINE refuses the used token,
// so the send is recorded as unconfirmed: a chat row that says the answer
// may not have arrived, the friend still unanswered, no second delivery.
// Before, it stayed pending for ever, with no chat row.
func TestReplyUnconfirmedAfterCrash(t *testing.T) {
	for _, key := range []string{"r-1", ""} {
		t.Run("key="+key, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.connect("Shop")
			uid := fx.unansweredFriend(c, true)

			undo := fx.failOutgoingChat()
			if _, err := fx.b.Reply(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, key); err == nil {
				t.Fatal("reply succeeded although its record could not be stored")
			}
			if r := fx.ln.Replies(c.token); len(r) != 1 {
				t.Fatalf("LINE got %d replies, want 1", len(r))
			}
			undo()
			fx.restart()
			fx.b.SendPending(fx.ctx)

			if n := len(fx.ln.Replies(c.token)) + len(fx.ln.Pushes(c.token)); n != 1 {
				t.Fatalf("the answer went out %d times", n)
			}
			got := fx.outgoing(c, uid)
			if len(got) != 1 || !got[0].Unconfirmed || got[0].Via != "reply" || got[0].Text != "answer" || (!got[0].NotePending && got[0].NoteID == "") {
				t.Fatalf("chat rows after the restart: %+v", got)
			}
			if s := fx.sendRow(c); s.Status != store.SendUnconfirmed {
				t.Fatalf("send after the restart: %+v", s)
			}
			if !fx.friendRow(c, uid).Unanswered {
				t.Fatal("Unanswered reset by an answer nobody knows arrived")
			}
			fx.b.SendPending(fx.ctx)
			ct, _ := fx.contact(uid)
			notes := fx.hs.Notes(ct.ID)
			found := false
			for _, n := range notes {
				found = found || strings.Contains(n.Body, "may not have been delivered")
			}
			if len(notes) != 2 || !found {
				t.Fatalf("timeline notes: %+v", notes)
			}
			if key != "" {
				if _, err := fx.b.Reply(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, key); err == nil {
					t.Fatal("a retry of the unconfirmed answer was not refused")
				}
				if n := len(fx.ln.Replies(c.token)) + len(fx.ln.Pushes(c.token)); n != 1 {
					t.Fatalf("the retry sent the answer again: %d", n)
				}
			}
		})
	}
}

// A reply whose token was taken but which LINE never got (the process died
// first) is delivered at the next start with that token, once.
func TestReplyDeliveredAfterCrash(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.unansweredFriend(c, true)
	undo := fx.failOutgoingChat()
	// LINE fails the reply without using the token; the unconfirmed record
	// is refused too, so the send stays pending as a crash leaves it.
	fx.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/message/reply") {
			return 500, `{"message":"An error occurred in the server"}`, true
		}
		return 0, "", false
	})
	if _, err := fx.b.Reply(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "r-2"); err == nil {
		t.Fatal("reply succeeded although LINE failed")
	}
	fx.ln.SetFault(nil)
	undo()
	if s := fx.sendRow(c); s.Status != store.SendPending || s.ReplyMsgID == 0 {
		t.Fatalf("send before the restart: %+v", s)
	}
	fx.restart()
	fx.b.SendPending(fx.ctx)
	if r, p := fx.ln.Replies(c.token), fx.ln.Pushes(c.token); len(r) != 1 || len(p) != 0 {
		t.Fatalf("%d replies and %d pushes, want the reply once", len(r), len(p))
	}
	got := fx.outgoing(c, uid)
	if len(got) != 1 || got[0].Unconfirmed || got[0].Via != "reply" {
		t.Fatalf("chat rows: %+v", got)
	}
	if fx.friendRow(c, uid).Unanswered {
		t.Fatal("still unanswered")
	}
	if s := fx.sendRow(c); s.Status != store.SendSent {
		t.Fatalf("send: %+v", s)
	}
}

// A reply an older linehub left pending does not say which token it used:
// the restart records it as unconfirmed without calling LINE at all (no
// token to try, and a push could answer twice).
func TestReplyTokenUnknownUnconfirmedAfterCrash(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uid := fx.unansweredFriend(c, true)
	undo := fx.failOutgoingChat()
	if _, err := fx.b.Reply(fx.ctx, c.conn.ID, uid, MessageInput{Text: "answer"}, "r-3"); err == nil {
		t.Fatal("reply succeeded although its record could not be stored")
	}
	undo()
	db, err := sql.Open("sqlite3", "file:"+fx.st.Path()+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE sends SET reply_msg_id = ?", store.ReplyTokenUnknown); err != nil {
		t.Fatal(err)
	}
	fx.restart()
	fx.b.SendPending(fx.ctx)
	if r, p := fx.ln.Replies(c.token), fx.ln.Pushes(c.token); len(r) != 1 || len(p) != 0 {
		t.Fatalf("%d replies and %d pushes, want the first reply only", len(r), len(p))
	}
	if got := fx.outgoing(c, uid); len(got) != 1 || !got[0].Unconfirmed {
		t.Fatalf("chat rows: %+v", got)
	}
	if s := fx.sendRow(c); s.Status != store.SendUnconfirmed {
		t.Fatalf("send: %+v", s)
	}
}
