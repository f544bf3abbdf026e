package web_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/hubspotproject"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestHubSpotAppDownload: Settings offers the HubSpot project as a zip to
// a signed-in admin only, filled with the public URL and the LINE
// properties of the connected accounts; without an https public URL it
// says why instead.
func TestHubSpotAppDownload(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true, NoPublicURL: true})
	b := u.claim(t)

	if st, body := b.get("/settings/hubspot-app.zip"); st != http.StatusConflict || !strings.Contains(body, "https://") || !strings.Contains(body, "http://localhost") {
		t.Errorf("zip without an https public URL: %d, want 409 naming the URL in use\n%s", st, body)
	}

	// Settings offers no download that would only fail: it says why.
	if st, page := b.get("/settings"); st != 200 || strings.Contains(page, `href="/settings/hubspot-app.zip"`) ||
		!strings.Contains(page, `id="hubspot-app-https"`) || !strings.Contains(page, "http://localhost") {
		t.Fatalf("settings without an https public URL: %d, want the reason in place of the download", st)
	}
	if st, body, _ := b.post("/settings/domain", url.Values{"public_url": {"https://line.example.com"}}); st != 303 {
		t.Fatalf("save public URL: %d %s", st, body)
	}
	ch := u.newChannel("Shop")
	if st, out := u.api("POST", "/api/v1/connections", map[string]string{"name": "Shop", "channel_secret": ch.secret, "channel_access_token": ch.token}); st != http.StatusCreated {
		t.Fatalf("connect: %d %v", st, out)
	}

	st, page := b.get("/settings")
	if st != 200 || !strings.Contains(page, `href="/settings/hubspot-app.zip"`) || !strings.Contains(page, "hs project upload") || !strings.Contains(page, "npm install -g @hubspot/cli") {
		t.Fatalf("settings page does not offer the download with the commands: %d", st)
	}

	req, _ := http.NewRequest("GET", b.abs("/settings/hubspot-app.zip"), nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("zip: %d %v", resp.StatusCode, resp.Header)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		r, _ := f.Open()
		c, _ := io.ReadAll(r)
		r.Close()
		files[strings.TrimPrefix(f.Name, hubspotproject.DirName+"/")] = string(c)
	}
	hooks := files["src/app/webhooks/webhooks-hsmeta.json"]
	if !strings.Contains(hooks, `"https://line.example.com/hubspot/app/webhooks"`) || !strings.Contains(hooks, `"line_user_id_1"`) || !strings.Contains(hooks, `"line_follow_1"`) {
		t.Errorf("webhooks of the download:\n%s", hooks)
	}
	if !strings.Contains(files["src/app/app-hsmeta.json"], `"https://line.example.com/hubspot/app/"`) {
		t.Errorf("app of the download:\n%s", files["src/app/app-hsmeta.json"])
	}

	// Only a signed-in admin gets it; an API token does not.
	anon := u.browser(t)
	if st, _ := anon.get("/settings/hubspot-app.zip"); st == 200 {
		t.Error("zip served without a session")
	}
	req, _ = http.NewRequest("GET", u.base+"/settings/hubspot-app.zip", nil)
	req.Header.Set("Authorization", "Bearer "+u.apiToken)
	resp, err = anon.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 || resp.Header.Get("Content-Type") == "application/zip" {
		t.Errorf("zip served for an API token: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestFriendsPageShowsHubSpotEdits: a person's edit of a LINE property,
// reported by the app's webhook, is shown with the friend on the friends
// page and in the chat's header (which property, the value, when) with the promise that linehub
// leaves it alone until a new LINE event, in Japanese and English.
func TestFriendsPageShowsHubSpotEdits(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	c := u.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	u.ln.AddFriend(c.ch.token, line.Profile{UserID: uid, DisplayName: "Alice"})
	u.deliver(c, linetest.FollowEvent(uid, false, time.Now().Add(-time.Hour)))
	if err := u.sync.SyncPending(u.ctx); err != nil {
		t.Fatal(err)
	}
	ct, ok := u.hs.ContactByEmail(strings.ToLower(uid) + "@line.example.com")
	if !ok {
		t.Fatal("no contact")
	}
	id, _ := strconv.ParseInt(ct.ID, 10, 64)
	ev := hubspot.WebhookEvent{EventID: 1, PortalID: 4242, OccurredAt: time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC).UnixMilli(),
		SubscriptionType: hubspot.EventContactPropertyChange, ObjectID: id,
		PropertyName: fmt.Sprintf("line_follow_%d", c.serial), PropertyValue: "No", ChangeSource: "CRM_UI", SourceID: "userId:7"}
	if _, err := u.sync.IngestHubSpotEvents(u.ctx, []hubspot.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	if err := u.sync.ApplyHubSpotEvents(u.ctx); err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string][]string{
		"en": {"Changed by a person in HubSpot", "LINE Follow", "<q>No</q>", "until a new LINE event"},
		"ja": {"HubSpot で担当者が変更", "LINE フォロー", "<q>No</q>", "新しい LINE イベントが届くまで"},
	} {
		b.header = http.Header{"Accept-Language": {lang}}
		for _, path := range []string{"/connections/" + c.id + "/friends", "/connections/" + c.id + "/chat/" + uid} {
			st, page := b.get(path)
			if st != 200 {
				t.Fatalf("%s: %s %d", lang, path, st)
			}
			for _, w := range want {
				if !strings.Contains(page, w) {
					t.Errorf("%s: %s lacks %q", lang, path, w)
				}
			}
		}
	}
}
