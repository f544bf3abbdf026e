package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestCrashKeepsAcknowledgedEvents kills linehub with SIGKILL in the middle
// of a webhook burst (docs/design.md §4: "Nothing is acknowledged to LINE before
// it is durable. A crash at any point loses no event"). After a restart on
// the same data directory every event that was answered 200 must reach
// HubSpot exactly once. Events whose request was stored but whose 200 never
// arrived may appear too; the guarantee is about acknowledged ones.
//
// A second phase then redelivers every request that was not acknowledged,
// as LINE does, and checks that the inbox holds each event once and that
// every friend ends up with exactly one contact.
func TestCrashKeepsAcknowledgedEvents(t *testing.T) {
	const (
		users      = 2000
		perRequest = 50
		senders    = 6
	)
	t0 := time.Now()
	progress := func(w string) { t.Logf("%6.2fs %s", time.Since(t0).Seconds(), w) } // for reading a slow or failed run
	e := newEnv(t, envOptions{})
	progress("env")
	e.configureHubSpot("starter")
	c := e.connect("Crash Shop")
	if !c.PropertiesReady {
		t.Fatalf("properties of the connection not ready: %+v", c)
	}
	prop := func(key string) string { return fmt.Sprintf("%s_%d", key, c.Serial) }

	// Friends and their events. Every third friend also sends a text after
	// following it; each message request follows the follow request of the
	// same friends, so acknowledged messages are spread over the burst.
	base := time.Now().Add(-time.Hour)
	ids := make([]string, users)
	names := map[string]string{}
	texts := map[string]string{}
	for i := range ids {
		ids[i] = linetest.NewUserID()
		names[ids[i]] = fmt.Sprintf("Friend %04d", i)
		e.LINE.AddFriend(c.token, line.Profile{UserID: ids[i], DisplayName: names[ids[i]], PictureURL: "https://profile.line-scdn.net/" + ids[i]})
	}
	type request struct {
		follows  []string // users whose follow is in the request
		messages []string // users whose text is in the request
		events   []json.RawMessage
	}
	var reqs []*request
	var prevMsgs *request
	for start := 0; start < users; start += perRequest {
		follow, msgs := &request{}, &request{}
		for i := start; i < min(start+perRequest, users); i++ {
			u := ids[i]
			follow.follows = append(follow.follows, u)
			follow.events = append(follow.events, linetest.FollowEvent(u, false, base.Add(time.Duration(i)*time.Millisecond)))
			if i%3 == 0 {
				texts[u] = fmt.Sprintf("hello from %s", names[u])
				msgs.messages = append(msgs.messages, u)
				msgs.events = append(msgs.events, linetest.TextMessageEvent(u, texts[u], base.Add(time.Minute+time.Duration(i)*time.Millisecond)))
			}
		}
		reqs = append(reqs, follow)
		if prevMsgs != nil {
			reqs = append(reqs, prevMsgs)
		}
		prevMsgs = msgs
	}
	reqs = append(reqs, prevMsgs)
	killAfter := int64(len(reqs) / 3)
	progress("built")

	dest := e.LINE.BotUserID(c.token)
	bodies := make([][]byte, len(reqs))
	sigs := make([]string, len(reqs))
	for i, r := range reqs {
		bodies[i] = linetest.Body(dest, r.events...)
		sigs[i] = sign(c.secret, bodies[i])
	}

	// The burst: senders take requests in order; the one that receives the
	// killAfter-th 200 triggers the kill while the others keep sending.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	defer client.CloseIdleConnections()
	post := func(i int) (int, error) {
		req, _ := http.NewRequest("POST", c.WebhookURL, bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("X-Line-Signature", sigs[i])
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var sink bytes.Buffer
		_, err = sink.ReadFrom(resp.Body)
		return resp.StatusCode, err
	}
	acked := make([]bool, len(reqs))
	var next, acks atomic.Int64
	var killed atomic.Bool
	killNow := make(chan struct{})
	var unexpected []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !killed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				st, err := post(i)
				if err == nil && st == 200 {
					mu.Lock()
					acked[i] = true
					mu.Unlock()
					if acks.Add(1) == killAfter {
						close(killNow)
					}
					continue
				}
				if err == nil && !killed.Load() {
					mu.Lock()
					unexpected = append(unexpected, fmt.Sprintf("request %d: status %d", i, st))
					mu.Unlock()
				}
				// A transport error (or a status) during the kill: not
				// acknowledged, so LINE would redeliver it.
			}
		}()
	}
	select {
	case <-killNow:
	case <-time.After(60 * time.Second):
		t.Fatal("the burst never reached the kill point")
	}
	killed.Store(true)
	e.kill()
	wg.Wait()
	if len(unexpected) > 0 {
		t.Fatalf("webhook refused requests before the kill: %v", unexpected)
	}
	nAcked := 0
	for _, a := range acked {
		if a {
			nAcked++
		}
	}
	if nAcked < int(killAfter) || nAcked == len(reqs) {
		t.Fatalf("%d of %d requests acknowledged; the kill must fall inside the burst", nAcked, len(reqs))
	}
	t.Logf("killed after %d of %d requests were acknowledged; HubSpot had received %v", nAcked, len(reqs), e.HS.RequestsByPath())

	// Restart on the same data directory and let it catch up.
	progress("killed")
	e.start()
	progress("started")
	e.settled()
	progress("settled")

	ackFollow, ackMsg := map[string]bool{}, map[string]bool{}
	for i, r := range reqs {
		if !acked[i] {
			continue
		}
		for _, u := range r.follows {
			ackFollow[u] = true
		}
		for _, u := range r.messages {
			ackMsg[u] = true
		}
	}
	checkContacts := func(phase string, mustFollow, mustMsg map[string]bool) {
		t.Helper()
		problems := 0
		fail := func(format string, args ...any) {
			t.Helper()
			if problems++; problems <= 20 {
				t.Errorf(phase+": "+format, args...)
			}
		}
		expect := func(u string, ct hubspottest.Contact, want map[string]string) {
			t.Helper()
			for k, v := range want {
				if got := ct.Properties[k]; got != v {
					fail("contact %s of %s: %s = %q, want %q", ct.ID, names[u], k, got, v)
				}
			}
		}
		byUser := map[string][]hubspottest.Contact{}
		byEmail := map[string]int{}
		contacts := e.HS.Contacts()
		for _, ct := range contacts {
			byEmail[strings.ToLower(ct.Properties["email"])]++
			u := ct.Properties[prop("line_user_id")]
			if u == "" {
				fail("contact %s has no %s: %v", ct.ID, prop("line_user_id"), ct.Properties)
				continue
			}
			byUser[u] = append(byUser[u], ct)
		}
		for u, cts := range byUser {
			if len(cts) != 1 {
				fail("user %s has %d contacts", u, len(cts))
			}
			if _, ok := names[u]; !ok {
				fail("contact for unknown user %s", u)
			}
		}
		for u := range mustFollow {
			cts := byUser[u]
			if len(cts) == 0 {
				fail("acknowledged follow of %s (%s) has no contact", u, names[u])
				continue
			}
			email := strings.ToLower(u) + "@line.example.com"
			if n := byEmail[email]; n != 1 {
				fail("%d contacts with the email of %s", n, u)
			}
			expect(u, cts[0], map[string]string{
				prop("line_follow"): "Yes", prop("line_user_name"): names[u], "firstname": names[u], "email": email,
			})
		}
		for u := range mustMsg {
			cts := byUser[u]
			if len(cts) == 0 {
				fail("acknowledged message of %s (%s) has no contact", u, names[u])
				continue
			}
			expect(u, cts[0], map[string]string{
				prop("line_follow"): "Yes", prop("line_last_response"): texts[u], prop("line_unanswered"): "Yes",
			})
		}

		// linehub's own record agrees: one friend per contact and back.
		withContact := map[string]string{} // contact id → user
		for _, f := range listAllFriends(t, e, c.ID) {
			if f.ContactID == "" {
				continue
			}
			if other, dup := withContact[f.ContactID]; dup {
				fail("contact %s belongs to friends %s and %s", f.ContactID, other, f.UserID)
			}
			withContact[f.ContactID] = f.UserID
			if ct, ok := e.HS.Contact(f.ContactID); !ok || ct.Properties[prop("line_user_id")] != f.UserID {
				fail("friend %s points at contact %s, which is %v", f.UserID, f.ContactID, ct.Properties[prop("line_user_id")])
			}
		}
		if len(contacts) != len(withContact) || len(contacts) != len(byUser) {
			fail("HubSpot holds %d contacts for %d users; linehub knows %d contact ids", len(contacts), len(byUser), len(withContact))
		}
		if problems > 20 {
			t.Errorf("%s: %d problems in all", phase, problems)
		}
		t.Logf("%s: %d contacts; %d acknowledged follows, %d acknowledged messages; HubSpot requests %v, 429s %d",
			phase, len(contacts), len(mustFollow), len(mustMsg), e.HS.Requests(), e.HS.RateLimited())
	}
	checkContacts("after restart", ackFollow, ackMsg)
	checkNoDatabaseErrors(t, e.logs.String())
	if t.Failed() {
		t.FailNow()
	}

	// Phase 2: LINE redelivers what was not acknowledged. Each event is then
	// stored once (dedupe on webhookEventId survives the crash) and every
	// friend has exactly one contact.
	for i, r := range reqs {
		if acked[i] {
			continue
		}
		redelivered := make([]json.RawMessage, len(r.events))
		for j, ev := range r.events {
			redelivered[j] = linetest.Redelivered(ev)
		}
		if st := e.deliver(c, redelivered...); st != 200 {
			t.Fatalf("redelivery of request %d: status %d", i, st)
		}
	}
	progress("redelivered")
	e.settled()
	progress("settled2")
	allFollow, allMsg := map[string]bool{}, map[string]bool{}
	for _, u := range ids {
		allFollow[u] = true
		if texts[u] != "" {
			allMsg[u] = true
		}
	}
	checkContacts("after redelivery", allFollow, allMsg)
	var conn struct {
		Inbox struct{ Total, Pending, Failed int64 }
	}
	e.api("GET", fmt.Sprintf("/connections/%d", c.ID), nil, &conn)
	if want := int64(users + len(texts)); conn.Inbox.Total != want || conn.Inbox.Failed != 0 {
		t.Errorf("inbox holds %d events (%d failed); want each of the %d events once", conn.Inbox.Total, conn.Inbox.Failed, want)
	}
	checkNoDatabaseErrors(t, e.logs.String())
}

type friendView struct {
	UserID    string `json:"user_id"`
	ContactID string `json:"contact_id"`
	Following bool   `json:"following"`
	Synced    bool   `json:"synced"`
}

func listAllFriends(t testing.TB, e *env, connID int64) []friendView {
	t.Helper()
	var all []friendView
	after := int64(0)
	for {
		var page struct {
			Friends []friendView `json:"friends"`
			Next    string       `json:"next"`
		}
		if st := e.api("GET", fmt.Sprintf("/connections/%d/friends?limit=1000&after=%d", connID, after), nil, &page); st != 200 {
			t.Fatalf("list friends: %d", st)
		}
		all = append(all, page.Friends...)
		if page.Next == "" || len(page.Friends) == 0 {
			return all
		}
		n, err := strconv.ParseInt(page.Next, 10, 64)
		if err != nil || n <= after {
			t.Fatalf("list friends: bad cursor %q", page.Next)
		}
		after = n
	}
}

// databaseTrouble matches log lines that speak of a damaged or unusable
// database.
var databaseTrouble = regexp.MustCompile(`(?i)\b(database|sqlite|malformed|corrupt|disk i/o|locked|readonly|no such table|wal)\b`)

// logURL is a URL field of a log line: its random token (the setup link's)
// may spell any of those words.
var logURL = regexp.MustCompile(`url=\S+`)

func checkNoDatabaseErrors(t *testing.T, logs string) {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, "level=ERROR") && !strings.Contains(l, "level=WARN") {
			continue
		}
		if databaseTrouble.MatchString(logURL.ReplaceAllString(l, "url=…")) {
			t.Errorf("database trouble in the log after restart: %s", l)
		} else if strings.Contains(l, "level=ERROR") {
			t.Logf("error in the log after restart: %s", l)
		}
	}
}
