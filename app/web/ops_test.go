package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestReadyzHidesErrorTextFromStrangers: a failing sync shows up in
// /readyz, but the HubSpot error text (which can quote contact data) only
// for callers with the API token.
func TestReadyzHidesErrorTextFromStrangers(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Ready Shop", true, true)
	u := linetest.NewUserID()
	e.ln.AddFriend(c.ch.token, line.Profile{UserID: u, DisplayName: "Jane"})
	e.deliver(c, linetest.FollowEvent(u, false, time.Now()))
	e.hs.SetFault(func(r *http.Request) (int, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/contacts/batch/create") {
			return 500, `{"status":"error","category":"INTERNAL_ERROR","message":"could not write jane.private@example.com"}`, true
		}
		return 0, "", false
	})
	if err := e.sync.SyncPending(e.ctx); err == nil {
		t.Fatal("sync succeeded against a failing HubSpot")
	}

	read := func(hdr map[string]string) (int, map[string]struct {
		OK     bool
		Detail string
	}) {
		t.Helper()
		status, _, body := e.do("GET", "/readyz", hdr, nil)
		var out struct {
			Ready  bool
			Checks map[string]struct {
				OK     bool
				Detail string
			}
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("/readyz: %q", body)
		}
		if out.Ready != (status == 200) {
			t.Errorf("/readyz: status %d with ready=%v", status, out.Ready)
		}
		return status, out.Checks
	}
	// A sync failing for less than 10 minutes does not make linehub unready.
	status, checks := read(nil)
	if status != 200 || !checks["sync"].OK || !strings.Contains(checks["sync"].Detail, "last sync error") {
		t.Fatalf("/readyz: %d %+v", status, checks)
	}
	if strings.Contains(checks["sync"].Detail, "jane.private") {
		t.Errorf("/readyz shows HubSpot's error text without a token: %q", checks["sync"].Detail)
	}
	_, checks = read(map[string]string{"Authorization": "Bearer " + e.apiToken})
	if !strings.Contains(checks["sync"].Detail, "jane.private@example.com") {
		t.Errorf("/readyz with the API token lacks the error text: %q", checks["sync"].Detail)
	}
	_, checks = read(map[string]string{"Authorization": "Bearer lhk_not_a_token"})
	if strings.Contains(checks["sync"].Detail, "jane.private") {
		t.Errorf("/readyz shows HubSpot's error text for a wrong token")
	}
}

func TestMetricsNeedTokenFromOutside(t *testing.T) {
	e := newEnv(t, envOpts{})
	if status, _, _ := e.do("GET", "/metrics", nil, nil); status != 401 {
		t.Errorf("/metrics from a non-loopback address without a token: %d", status)
	}
	status, hdr, body := e.do("GET", "/metrics", map[string]string{"Authorization": "Bearer " + e.apiToken}, nil)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") || !strings.Contains(string(body), "linehub_build_info{version=\"test-1.2.3\"} 1\n") {
		t.Errorf("/metrics with token: %d %q\n%s", status, hdr.Get("Content-Type"), body)
	}
}

// TestDashboardSaysWhatIsWrong: a failing HubSpot sync appears at the top
// of the dashboard with HubSpot's error, and goes away once a round works.
func TestDashboardSaysWhatIsWrong(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	c := u.createConn("Shop", true, true)
	if _, body := b.get("/"); strings.Contains(body, "data-health") {
		t.Fatalf("a healthy dashboard shows a problem:\n%s", body)
	}
	uid := linetest.NewUserID()
	u.ln.AddFriend(c.ch.token, line.Profile{UserID: uid, DisplayName: "Jane"})
	u.deliver(c, linetest.FollowEvent(uid, false, time.Now()))
	u.hs.SetFault(func(r *http.Request) (int, string, bool) {
		return 503, `{"status":"error","category":"SERVICE_UNAVAILABLE","message":"HubSpot is down for maintenance"}`, true
	})
	if err := u.sync.SyncPending(u.ctx); err == nil {
		t.Fatal("sync succeeded against a failing HubSpot")
	}
	b.wantPage("/", 200, "data-health", "Syncing with HubSpot is failing", "HubSpot is down for maintenance", "nothing is lost")

	u.hs.SetFault(nil)
	// A new friend's round succeeds (the failed one waits out its backoff).
	other := linetest.NewUserID()
	u.ln.AddFriend(c.ch.token, line.Profile{UserID: other, DisplayName: "Ken"})
	u.deliver(c, linetest.FollowEvent(other, false, time.Now()))
	if err := u.sync.SyncPending(u.ctx); err != nil {
		t.Fatal(err)
	}
	if body := b.wantPage("/", 200); strings.Contains(body, "data-health") {
		t.Fatalf("the dashboard still shows the problem after a sync round worked:\n%s", body)
	}
}
