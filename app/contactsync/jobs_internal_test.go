package contactsync

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/connections"
	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// connectVerified is connect for a verified (or premium) LINE account,
// whose follower list LINE hands out.
func (fx *fixture) connectVerified(name string) fxConn {
	fx.t.Helper()
	c := fxConn{secret: "secret-" + linetest.NewUserID()[1:], token: "token-" + linetest.NewUserID()[1:]}
	fx.ln.AddChannel(linetest.Channel{Secret: c.secret, Token: c.token, DisplayName: name, Verified: true})
	c.bot = fx.ln.BotUserID(c.token)
	conn, err := fx.b.conns.CreateConnection(fx.ctx, connections.NewConnection{Name: name, ChannelSecret: c.secret, ChannelAccessToken: c.token})
	if err != nil {
		fx.t.Fatalf("create connection: %v", err)
	}
	c.conn = conn
	return c
}

// followed makes n LINE users follow c (with webhooks) and syncs them.
func (fx *fixture) followed(c fxConn, n int) []string {
	fx.t.Helper()
	var uids []string
	var evs []json.RawMessage
	at := time.Now().Add(-time.Minute)
	for i := range n {
		uid := fx.friend(c, fmt.Sprintf("Friend %d", i))
		uids = append(uids, uid)
		evs = append(evs, linetest.FollowEvent(uid, false, at))
	}
	fx.deliver(c, evs...)
	fx.apply()
	fx.sync()
	return uids
}

func (fx *fixture) prop(uid, key string, serial int) string {
	fx.t.Helper()
	ct, ok := fx.contact(uid)
	if !ok {
		fx.t.Fatalf("no contact for %s", uid)
	}
	return ct.Properties[fmt.Sprintf("%s_%d", key, serial)]
}

func TestReconcileCatchesBlockWithoutWebhookViaFollowerIDs(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Jobs.LINERate = 2000
	c := fx.connectVerified("Verified Shop")
	uids := fx.followed(c, 3)
	serial := c.conn.Serial
	dateBefore := fx.prop(uids[0], "line_id_sync_date", serial)
	// LINE sends no unfollow webhook (linehub was down, LINE gave up).
	fx.ln.Block(c.token, uids[1])
	fx.ln.SetProfile(c.token, lineProfile(uids[2], "Renamed"))
	// A follow whose webhook was lost.
	missed := fx.friend(c, "Missed")
	time.Sleep(2 * time.Millisecond) // the new sync date must differ

	st, err := fx.b.Reconcile(fx.ctx, c.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Path != "followers_ids" || st.NotListed != 1 || st.Unfollowed != 1 || st.Refreshed != 1 || st.Unknown != 1 {
		t.Fatalf("stats %+v: want the follower-ids path, 1 not listed, 1 renamed, 1 unknown", st)
	}
	fx.sync()
	if got := fx.prop(missed, "line_follow", serial); got != "Yes" || fx.prop(missed, "line_user_name", serial) != "Missed" {
		t.Errorf("follower whose follow webhook was lost: Follow %q", got)
	}
	if got := fx.prop(uids[1], "line_follow", serial); got != "No" {
		t.Errorf("blocked friend Follow = %q, want No", got)
	}
	if got := fx.prop(uids[0], "line_follow", serial); got != "Yes" {
		t.Errorf("friend Follow = %q, want Yes", got)
	}
	if got := fx.prop(uids[0], "line_id_sync_date", serial); got == dateBefore || got == "" {
		t.Errorf("sync date not moved on: %q (was %q)", got, dateBefore)
	}
	if got := fx.prop(uids[2], "line_user_name", serial); got != "Renamed" {
		t.Errorf("name = %q, want the refreshed Renamed", got)
	}
	if cur, _ := fx.st.JobCursor(fx.ctx, jobReconcile, c.conn.ID); cur != nil {
		t.Errorf("cursor left after a complete run: %+v", cur)
	}
}

func TestReconcileCatchesBlockViaProfile404AndRemembers403(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Jobs.LINERate = 2000
	c := fx.connect("Unverified Shop")
	uids := fx.followed(c, 3)
	fx.ln.Block(c.token, uids[0])

	var followerCalls atomic.Int64
	fx.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if r.URL.Path == "/v2/bot/followers/ids" {
			followerCalls.Add(1)
		}
		return 0, "", false
	})
	st, err := fx.b.Reconcile(fx.ctx, c.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Path != "profiles" || st.Unfollowed != 1 || st.Confirmed != 2 {
		t.Fatalf("stats %+v: want the profile path, 1 unfollowed, 2 confirmed", st)
	}
	fx.sync()
	if got := fx.prop(uids[0], "line_follow", c.conn.Serial); got != "No" {
		t.Errorf("blocked friend Follow = %q, want No", got)
	}
	if ok, _ := fx.b.FollowerIDsAvailable(fx.ctx, c.conn.ID); ok {
		t.Error("403 from the follower-ids API not remembered")
	}
	if _, err := fx.b.Reconcile(fx.ctx, c.conn.ID); err != nil {
		t.Fatal(err)
	}
	if n := followerCalls.Load(); n != 1 {
		t.Errorf("follower-ids API called %d times over two runs, want once", n)
	}
}

func TestReconcileDoesNotRecreateDeletedContactButAMessageDoes(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Jobs.LINERate = 2000
	c := fx.connectVerified("Shop")
	uids := fx.followed(c, 1)
	uid := uids[0]
	ct, _ := fx.contact(uid)
	fx.hs.DeleteContact(ct.ID)
	fx.takeRequests("")
	// The sync date moves only when LINE confirms the friend later than the
	// last profile read; on a fast machine both can fall in the same
	// millisecond, and then reconcile rightly writes nothing.
	time.Sleep(2 * time.Millisecond)

	if _, err := fx.b.Reconcile(fx.ctx, c.conn.ID); err != nil {
		t.Fatal(err)
	}
	fx.sync()
	if creates := fx.takeRequests("/batch/create"); len(creates) != 0 {
		t.Fatalf("reconcile led to %d create requests", len(creates))
	}
	if _, ok := fx.contact(uid); ok {
		t.Fatal("contact deleted in HubSpot was recreated by reconcile")
	}
	if f := fx.friendRow(c, uid); !f.ContactGone || f.Dirty != 0 {
		t.Fatalf("friend after reconcile: gone=%v dirty=%b", f.ContactGone, f.Dirty)
	}

	fx.deliver(c, linetest.TextMessageEvent(uid, "I'm back", time.Now()))
	fx.apply()
	fx.sync()
	if got := fx.prop(uid, "line_last_response", c.conn.Serial); got != "I'm back" {
		t.Fatalf("recreated contact Last Response = %q", got)
	}
}

func TestReconcileResumesFromStoredCursor(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Jobs.LINERate = 2000
	c := fx.connect("Shop")
	fx.followed(c, 5)
	// A run stopped by a restart in the profile pass after the first two.
	fs, _ := fx.st.FollowingPage(fx.ctx, c.conn.ID, 0, 10)
	started := time.Now().UnixMilli() + 1 // after the friends' profiles were read
	cur := &store.JobCursor{Job: jobReconcile, ConnectionID: c.conn.ID, RunStarted: started, Phase: phaseProfiles, Cursor: fmt.Sprint(fs[1].ID)}
	if err := fx.st.SaveJobCursor(fx.ctx, cur); err != nil {
		t.Fatal(err)
	}
	before := fx.ln.ProfileCalls(c.token)
	st, err := fx.b.Reconcile(fx.ctx, c.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Resumed || st.Confirmed != 3 || fx.ln.ProfileCalls(c.token)-before != 3 {
		t.Fatalf("resumed run: %+v, %d profile calls; want the 3 friends after the cursor", st, fx.ln.ProfileCalls(c.token)-before)
	}
}

func TestDriftRepairKeepsHumanEditsAndRepairsOthers(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uids := fx.followed(c, 3)
	serial := c.conn.Serial
	fx.deliver(c, linetest.TextMessageEvent(uids[0], "any news?", time.Now()))
	fx.apply()
	fx.sync()
	p := func(key string) string { return PropertyName(key, serial) }
	a, _ := fx.contact(uids[0])
	b, _ := fx.contact(uids[1])
	d, _ := fx.contact(uids[2])
	// A person answers on the phone and sets Unanswered to No by hand.
	fx.hs.EditContact(a.ID, map[string]string{p("line_unanswered"): "No"})
	// Another app overwrites a LINE property linehub owns.
	fx.hs.EditContactAs(b.ID, map[string]string{p("line_user_name"): "Mallory"}, hubspottest.SourceIntegration)
	fx.hs.DeleteContact(d.ID)
	fx.takeRequests("")

	st, err := fx.b.RepairDrift(fx.ctx, c.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Checked != 3 || st.Gone != 1 || st.Repaired != 1 || st.Kept != 1 || st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
	fx.sync()
	if got := fx.prop(uids[0], "line_unanswered", serial); got != "No" {
		t.Errorf("human edit of Unanswered overwritten: %q", got)
	}
	if got := fx.prop(uids[1], "line_user_name", serial); got != "Friend 1" {
		t.Errorf("name = %q, want linehub's Friend 1 back", got)
	}
	if _, ok := fx.contact(uids[2]); ok {
		t.Error("deleted contact recreated by drift repair")
	}
	if f := fx.friendRow(c, uids[2]); !f.ContactGone || f.ContactID != "" {
		t.Errorf("deleted contact not marked gone: %+v", f)
	}
	if creates := fx.takeRequests("/batch/create"); len(creates) != 0 {
		t.Errorf("%d create requests after drift repair", len(creates))
	}
	// A new LINE message changes Unanswered again: the human's value was
	// only kept until then.
	fx.deliver(c, linetest.TextMessageEvent(uids[0], "hello?", time.Now()))
	fx.apply()
	fx.sync()
	if got := fx.prop(uids[0], "line_unanswered", serial); got != "Yes" {
		t.Errorf("Unanswered after a new message = %q", got)
	}
}

func TestDeadLettersParkRetryAndOutagesDoNotPark(t *testing.T) {
	fx := newFixture(t)
	c := fx.connect("Shop")
	uids := fx.followed(c, 2)
	fail := func(uid, msg string) {
		_, err := fx.st.UpdateFriend(fx.ctx, c.conn.ID, uid, func(f *store.Friend) error {
			f.Dirty |= int(FieldName)
			f.SyncAttempts, f.SyncError, f.NextSyncAt = deadLetterAttempts, msg, time.Now().Add(time.Hour).UnixMilli()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The message the sync worker stores for a contact HubSpot rejects on its own.
	rejected := failures([]hubspot.ItemFailure{{Ref: "r", Status: 400, Category: "VALIDATION_ERROR", Message: "bad value"}})["r"]
	fail(uids[0], rejected)
	fail(uids[1], "hubspot: POST /crm/objects/2026-03/contacts/batch/update failed after 6 attempts: 503")
	parked, _, err := fx.b.SweepDeadLetters(fx.ctx)
	if err != nil || parked != 1 {
		t.Fatalf("parked %d, %v; want 1 (the rejected one, not the outage)", parked, err)
	}
	dls, _ := fx.b.DeadLetters(fx.ctx, c.conn.ID, 10)
	if len(dls) != 1 || dls[0].UserID != uids[0] || dls[0].Error != rejected {
		t.Fatalf("dead letters %+v", dls)
	}
	// Parked friends are counted apart, not as sync backlog.
	if st, err := fx.st.FriendStats(fx.ctx, c.conn.ID); err != nil || st.Parked != 1 || st.Backlog != 1 {
		t.Fatalf("stats %+v, %v; want 1 parked and the outage one as backlog", st, err)
	}
	n, err := fx.b.RetryDeadLetters(fx.ctx, c.conn.ID, nil)
	if err != nil || n != 1 {
		t.Fatalf("retried %d, %v", n, err)
	}
	if f := fx.friendRow(c, uids[0]); f.NextSyncAt != 0 || f.SyncAttempts != 0 {
		t.Fatalf("retried friend still waits: %+v", f)
	}
	fx.sync()
	if err := fx.st.ForgetResolvedDeadLetters(fx.ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := fx.st.CountDeadLetters(fx.ctx, 0); n != 0 {
		t.Fatalf("%d dead letters left", n)
	}
}

// TestDailyLimitConvergesAfterMidnight: HubSpot's DAILY 429 suspends all
// calls until midnight; nothing is lost and everything is written after.
func TestDailyLimitConvergesAfterMidnight(t *testing.T) {
	fx := newFixture(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	hsc := hubspot.New(hubspot.Config{
		BaseURL: fx.cfg.HubSpot.BaseURL, Token: fx.cfg.HubSpot.Token, MaxRetries: -1, Window: 200 * time.Millisecond,
		Now: func() time.Time { return time.Unix(0, clock.Load()) },
	})
	b, err := New(Options{Store: fx.st, HubSpot: hsc, Config: fx.cfg, Logger: fx.b.log})
	if err != nil {
		t.Fatal(err)
	}
	fx.b = b
	c := fx.connect("Shop")
	daily := func(r *http.Request, _ []byte) (int, string, bool) {
		return 429, `{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY","correlationId":"x"}`, true
	}
	fx.setFault(daily)
	var uids []string
	var evs []json.RawMessage
	for i := range 150 {
		uid := fx.friend(c, fmt.Sprint("F", i))
		uids = append(uids, uid)
		evs = append(evs, linetest.FollowEvent(uid, false, time.Now()))
	}
	fx.deliver(c, evs...)
	fx.apply()
	if err := fx.b.SyncPending(fx.ctx); err == nil {
		t.Fatal("sync under a DAILY 429 reported no error")
	}
	fx.setFault(nil)
	fx.takeRequests("")
	// Still before midnight: no request is even sent.
	_ = fx.b.SyncPending(fx.ctx)
	if n := len(fx.takeRequests("")); n != 0 {
		t.Fatalf("%d requests sent while the daily limit holds", n)
	}
	if p, err := time.Parse(time.RFC3339, fx.b.Status().HubSpotPaused); err != nil || !p.After(time.Unix(0, clock.Load())) {
		t.Fatalf("status while paused: hubspot_paused = %q (%v), want the time calls resume", fx.b.Status().HubSpotPaused, err)
	}
	clock.Add(int64(25 * time.Hour))
	if p := fx.b.Status().HubSpotPaused; p != "" {
		t.Fatalf("status after midnight: hubspot_paused = %q", p)
	}
	for range 5 { // backoffs of the failed friends are not the point here
		for _, uid := range uids {
			fx.retryNow(c, uid)
		}
		fx.sync()
	}
	for _, uid := range uids {
		if _, ok := fx.contact(uid); !ok {
			t.Fatalf("friend %s never became a contact", uid)
		}
	}
}
