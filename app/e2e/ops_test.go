package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// get fetches a URL with optional headers and returns status and body.
func get(t *testing.T, url string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndReadiness drives some traffic through the real binary and
// reads /metrics and /readyz.
func TestMetricsAndReadiness(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Metrics Shop")
	u := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: u, DisplayName: "Mia"})
	now := time.Now()
	if st := e.deliver(c, linetest.FollowEvent(u, false, now), linetest.TextMessageEvent(u, "hi", now.Add(time.Second))); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	if st := e.postRaw(c.WebhookURL, linetest.Body(e.LINE.BotUserID(c.token), linetest.FollowEvent(u, false, now)), "bm90IGEgc2lnbmF0dXJl"); st != 401 {
		t.Fatalf("bad signature: %d", st)
	}
	e.settled()

	st, body := get(t, e.url("/metrics"), nil)
	if st != 200 {
		t.Fatalf("GET /metrics from loopback: %d %s", st, body)
	}
	for _, want := range []string{
		`(?m)^# TYPE linehub_webhook_requests_total counter$`,
		`(?m)^linehub_webhook_requests_total\{result="ok"\} 1$`,
		`(?m)^linehub_webhook_requests_total\{result="bad_signature"\} 1$`,
		// The bad-signature request is refused before its events count.
		`(?m)^linehub_webhook_events_total\{type="follow"\} 1$`,
		`(?m)^linehub_webhook_events_total\{type="message"\} 1$`,
		`(?m)^linehub_hubspot_requests_total\{endpoint="GET /account-info/2026-03/details",status="200"\} [1-9]\d*$`,
		`(?m)^linehub_hubspot_requests_total\{endpoint="POST /crm/objects/2026-03/contacts/batch/create",status="20\d"\} [1-9]\d*$`,
		`(?m)^linehub_line_api_requests_total\{op="get profile",status="200"\} 1$`,
		`(?m)^# TYPE linehub_hubspot_rate_limited_total counter$`,
		`(?m)^# TYPE linehub_job_runs_total counter$`,
		`(?m)^linehub_inbox_pending 0$`,
		`(?m)^linehub_sync_backlog 0$`,
		`(?m)^linehub_notes_pending\{state="given_up"\} 0$`,
		`(?m)^linehub_connections 1$`,
		`(?m)^linehub_friends\{state="following"\} 1$`,
		`(?m)^linehub_last_sync_success_timestamp_seconds \d+(\.\d+)?(e\+\d+)?$`,
	} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	if strings.Contains(body, u) || strings.Contains(body, c.token) || strings.Contains(body, hubspotToken) {
		t.Error("/metrics shows a user id or token")
	}

	// Through a proxy on this host the request is no longer local.
	if st, _ := get(t, e.url("/metrics"), map[string]string{"X-Forwarded-For": "203.0.113.9"}); st != 401 {
		t.Errorf("proxied /metrics without token: %d, want 401", st)
	}
	if st, _ := get(t, e.url("/metrics"), map[string]string{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer lhk_wrong"}); st != 401 {
		t.Errorf("proxied /metrics with a wrong token: %d, want 401", st)
	}
	if st, _ := get(t, e.url("/metrics"), map[string]string{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer " + e.token}); st != 200 {
		t.Errorf("proxied /metrics with the API token: %d, want 200", st)
	}

	var ready struct {
		Ready  bool
		Checks map[string]struct {
			OK     bool
			Detail string
		}
	}
	st, body = get(t, e.url("/readyz"), nil)
	if err := json.Unmarshal([]byte(body), &ready); err != nil || st != 200 || !ready.Ready {
		t.Fatalf("/readyz: %d %s", st, body)
	}
	for _, k := range []string{"database", "hubspot", "sync"} {
		if !ready.Checks[k].OK {
			t.Errorf("check %s: %+v", k, ready.Checks[k])
		}
	}
	if strings.Contains(body, hubspotToken) {
		t.Error("/readyz shows the HubSpot token")
	}
}

// TestReadyzRejectedToken: a HubSpot token that stops working makes
// linehub unready, with the reason.
func TestReadyzRejectedToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	if st, body := get(t, e.url("/readyz"), nil); st != 200 || !strings.Contains(body, "no HubSpot token configured yet") {
		t.Fatalf("/readyz before setup: %d %s", st, body)
	}
	e.configureHubSpot("starter")
	e.HS.SetToken("pat-na1-rotated-elsewhere")
	st, body := get(t, e.url("/readyz"), nil)
	if st != 503 || !strings.Contains(body, `"ready":false`) || !strings.Contains(body, "rejects the access token") {
		t.Fatalf("/readyz with a revoked token: %d %s", st, body)
	}
	if strings.Contains(body, hubspotToken) {
		t.Error("/readyz shows the HubSpot token")
	}
}

// TestGracefulStopKeepsAcknowledgedEvents sends SIGTERM in the middle of a
// webhook burst. linehub must exit cleanly (status 0) after answering what
// it accepted, and after a restart every acknowledged follow has its
// contact, once.
func TestGracefulStopKeepsAcknowledgedEvents(t *testing.T) {
	const (
		users      = 1200
		perRequest = 20
		senders    = 6
	)
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Stop Shop")
	prop := fmt.Sprintf("line_user_id_%d", c.Serial)
	base := time.Now().Add(-time.Hour)
	dest := e.LINE.BotUserID(c.token)
	var bodies [][]byte
	var follows [][]string
	for start := 0; start < users; start += perRequest {
		var evs []json.RawMessage
		var us []string
		for i := start; i < start+perRequest; i++ {
			u := linetest.NewUserID()
			e.LINE.AddFriend(c.token, line.Profile{UserID: u, DisplayName: fmt.Sprintf("F%04d", i)})
			evs = append(evs, linetest.FollowEvent(u, false, base.Add(time.Duration(i)*time.Millisecond)))
			us = append(us, u)
		}
		bodies = append(bodies, linetest.Body(dest, evs...))
		follows = append(follows, us)
	}
	stopAfter := int64(len(bodies) / 3)

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	defer client.CloseIdleConnections()
	acked := make([]bool, len(bodies))
	var next, acks atomic.Int64
	var stopping atomic.Bool
	stopNow := make(chan struct{})
	var mu sync.Mutex
	var refused []string
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequest("POST", c.WebhookURL, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Line-Signature", sign(c.secret, bodies[i]))
				resp, err := client.Do(req)
				if err != nil {
					if stopping.Load() {
						return // listener closed: not acknowledged, LINE would redeliver
					}
					mu.Lock()
					refused = append(refused, err.Error())
					mu.Unlock()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked[i] = true
					mu.Unlock()
					if acks.Add(1) == stopAfter {
						close(stopNow)
					}
				} else {
					mu.Lock()
					refused = append(refused, fmt.Sprintf("request %d: status %d", i, resp.StatusCode))
					mu.Unlock()
				}
			}
		}()
	}
	select {
	case <-stopNow:
	case <-time.After(60 * time.Second):
		t.Fatal("burst never reached the stop point")
	}
	stopping.Store(true)
	sent := time.Now()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.exited:
	case <-time.After(40 * time.Second):
		t.Fatal("linehub did not exit within 40s of SIGTERM")
	}
	took := time.Since(sent)
	wg.Wait()
	code := e.cmd.ProcessState.ExitCode()
	logs := e.logs.String()
	e.cmd = nil
	if code != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", code, logs)
	}
	if len(refused) > 0 {
		t.Errorf("requests refused (not a closed listener): %v", refused)
	}
	for _, want := range []string{"shutting down: finishing in-flight requests", "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	n := 0
	for _, a := range acked {
		if a {
			n++
		}
	}
	t.Logf("SIGTERM after %d acknowledged requests; %d of %d acknowledged in all; exit took %s", stopAfter, n, len(bodies), took.Round(time.Millisecond))

	e.start()
	e.settled()
	byUser := map[string]int{}
	for _, ct := range e.HS.Contacts() {
		byUser[ct.Properties[prop]]++
	}
	missing := 0
	for i, a := range acked {
		if !a {
			continue
		}
		for _, u := range follows[i] {
			if byUser[u] != 1 {
				if missing++; missing <= 10 {
					t.Errorf("acknowledged follow of %s: %d contacts", u, byUser[u])
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged follows without exactly one contact", missing)
	}
	checkNoDatabaseErrors(t, e.logs.String())
}

// TestBackupRestoreLive backs up the database of a running linehub while
// webhooks arrive, then restores it after a stop and checks that the
// restored linehub has the data of the backup and still verifies webhooks
// with the channel secret sealed under the restored key.
func TestBackupRestoreLive(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Backup Shop")
	dest := e.LINE.BotUserID(c.token)
	early := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: early, DisplayName: "Early"})
	if st := e.deliver(c, linetest.FollowEvent(early, false, time.Now())); st != 200 {
		t.Fatal(st)
	}
	e.settled()

	// Webhooks keep coming while the backup runs.
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := linetest.NewUserID()
			body := linetest.Body(dest, linetest.FollowEvent(u, false, time.Now()))
			if st := e.postRaw(c.WebhookURL, body, sign(c.secret, body)); st != 200 {
				t.Errorf("webhook during backup: %d", st)
				return
			}
			sent.Add(1)
		}
	}()
	for sent.Load() < 20 {
		time.Sleep(5 * time.Millisecond)
	}
	file := filepath.Join(t.TempDir(), "linehub.backup")
	out, err := e.command("backup", file).CombinedOutput()
	for sent.Load() < 40 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	t.Logf("%s", out)

	// restore refuses while the server runs and changes nothing.
	out, err = e.command("restore", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "stop it first") {
		t.Fatalf("restore under a running server: %v\n%s", err, out)
	}

	var before struct {
		Inbox struct{ Total int64 }
	}
	e.api("GET", fmt.Sprintf("/connections/%d", c.ID), nil, &before)
	e.stop()
	out, err = e.command("restore", file).CombinedOutput()
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "previous file kept as") {
		t.Errorf("restore did not say where the old files went")
	}
	aside, _ := filepath.Glob(filepath.Join(e.dataDir, "linehub.db.before-restore-*"))
	if len(aside) == 0 {
		t.Error("old database not kept aside")
	}

	e.start()
	var after struct {
		Inbox struct{ Total int64 }
	}
	if st := e.api("GET", fmt.Sprintf("/connections/%d", c.ID), nil, &after); st != 200 {
		t.Fatalf("connection after restore: %d", st)
	}
	// The backup was taken after the early follow and during the burst.
	if after.Inbox.Total < 21 || after.Inbox.Total > before.Inbox.Total {
		t.Errorf("restored inbox holds %d events; %d before the stop, at least 21 when the backup ran", after.Inbox.Total, before.Inbox.Total)
	}
	// The channel secret decrypts with the restored key: webhooks verify.
	u := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: u, DisplayName: "After"})
	if st := e.deliver(c, linetest.FollowEvent(u, false, time.Now())); st != 200 {
		t.Fatalf("webhook after restore: %d", st)
	}
	e.settled()
	if _, err := os.Stat(file); err != nil {
		t.Error(err)
	}
}

// TestCheckCommand runs `linehub check` against a healthy setup and then
// one whose HubSpot token was revoked.
func TestCheckCommand(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	e.connect("Check Shop")
	out, err := e.command("check").CombinedOutput()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    database", "ok    hubspot", "token …", "ok    line #1", "Check Shop", "all checks passed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), hubspotToken) {
		t.Error("check prints the HubSpot token")
	}
	e.HS.SetToken("pat-na1-rotated")
	out, err = e.command("check").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FAIL  hubspot") {
		t.Fatalf("check with a revoked token: %v\n%s", err, out)
	}
}

// TestStopFinishesHubSpotBatch sends SIGTERM while a batch create is on its
// way to HubSpot. linehub must wait for the answer and record it: after a
// restart nothing is sent again (a cut-off batch would be resent and its
// contacts found as duplicates).
func TestStopFinishesHubSpotBatch(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Drain Shop")
	const createPath = "POST /crm/objects/2026-03/contacts/batch/create"
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	e.HS.SetFault(func(r *http.Request) (int, string, bool) {
		if r.Method+" "+r.URL.Path == createPath {
			once.Do(func() { close(entered) })
			<-release
		}
		return 0, "", false
	})
	var evs []json.RawMessage
	for i := range 5 {
		u := linetest.NewUserID()
		e.LINE.AddFriend(c.token, line.Profile{UserID: u, DisplayName: fmt.Sprintf("D%d", i)})
		evs = append(evs, linetest.FollowEvent(u, false, time.Now()))
	}
	if st := e.deliver(c, evs...); st != 200 {
		t.Fatal(st)
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no batch create reached HubSpot")
	}
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun once the listener is gone; only then does HubSpot
	// answer.
	e.eventually("listener closed", func() bool {
		resp, err := http.Get(e.url("/healthz"))
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
	close(release)
	select {
	case <-e.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("linehub did not exit")
	}
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, e.logs.String())
	}
	e.cmd = nil
	e.HS.SetFault(nil)

	e.start()
	e.settled()
	if n := e.HS.RequestsByPath()[createPath]; n != 1 {
		t.Errorf("%d batch creates in all, want 1 (the batch in flight at the stop was not recorded)", n)
	}
	if n := len(e.HS.Contacts()); n != 5 {
		t.Errorf("%d contacts, want 5", n)
	}
	// linehub recorded the answer: every friend knows its contact.
	for _, f := range listAllFriends(t, e, c.ID) {
		if f.ContactID == "" || !f.Synced {
			t.Errorf("friend %s after restart: contact %q, synced %v", f.UserID, f.ContactID, f.Synced)
		}
	}
}
