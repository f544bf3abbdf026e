package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

const appWebhooksPath = "/hubspot/app/webhooks"

// setUpApp saves the HubSpot key (portal 4242) and the app's secret.
func (e *env) setUpApp() {
	e.t.Helper()
	e.secrets = append(e.secrets, appSecret)
	if st, m := e.api("PUT", "/api/v1/hubspot", map[string]any{"token": hubspotToken}); st != 200 {
		e.t.Fatalf("save HubSpot key: %d %v", st, m)
	}
	if st, m := e.api("PUT", "/api/v1/hubspot/app", map[string]any{"app_id": "77", "client_secret": appSecret}); st != 200 {
		e.t.Fatalf("save app: %d %v", st, m)
	}
}

func (e *env) hubspotEvents() (pending, total int64) {
	e.t.Helper()
	st, err := e.st.HubSpotEventStats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Pending, st.Total
}

// A webhook batch of the app is stored once, however often HubSpot sends
// it (HubSpot retries a batch it did not see answered, with the next
// attemptNumber), and answered 200 before it is applied.
func TestHubSpotAppWebhooksStoredOnce(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	e.setUpApp()
	hooks := e.hs.AppWebhooks("", publicURL+appWebhooksPath, appSecret, 77)
	batch := []hubspottest.AppWebhookEvent{
		hooks.Deletion("101"),
		hooks.Merge("202", []string{"203"}, "204"),
		hooks.PropertyChange("205", "line_follow_1", "No", "CRM_UI", "userId:9"),
		hooks.PropertyChange("206", "lastname", "Sato", "CRM_UI", "userId:9"), // kept, and found to be none of linehub's when applied
	}
	body := hubspottest.AppWebhookBody(batch...)
	st, out := e.appCall("POST", appWebhooksPath, body, appSecret, 0)
	if st != 200 || !strings.Contains(string(out), `"new":4`) {
		t.Fatalf("first delivery: %d %s", st, out)
	}
	for i := range batch {
		batch[i].AttemptNumber = 1
	}
	st, out = e.appCall("POST", appWebhooksPath, hubspottest.AppWebhookBody(batch...), appSecret, 0)
	if st != 200 || !strings.Contains(string(out), `"new":0`) {
		t.Fatalf("redelivery: %d %s", st, out)
	}
	if pending, total := e.hubspotEvents(); pending != 4 || total != 4 {
		t.Fatalf("stored %d (%d pending), want 4 once", total, pending)
	}
	// Another event in a later batch is new.
	st, out = e.appCall("POST", appWebhooksPath, hubspottest.AppWebhookBody(hooks.Deletion("101")), appSecret, 0)
	if st != 200 || !strings.Contains(string(out), `"new":1`) {
		t.Fatalf("next batch: %d %s", st, out)
	}
}

// What HubSpot did not sign for linehub, signed too long ago, for another
// portal, too large or not an event array is refused and stores nothing.
func TestHubSpotAppWebhooksRefused(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	e.setUpApp()
	hooks := e.hs.AppWebhooks("", publicURL+appWebhooksPath, appSecret, 77)
	good := hubspottest.AppWebhookBody(hooks.Deletion("101"))
	other := hooks.Deletion("102")
	other.PortalID = 9999
	mixed := hubspottest.AppWebhookBody(hooks.Deletion("103"), other)
	big := []byte(`[` + strings.Repeat(" ", 1<<20) + `]`)
	for _, tc := range []struct {
		name   string
		body   []byte
		secret string
		age    time.Duration
		want   int
	}{
		{"unsigned", good, "", 0, 401},
		{"other secret", good, "another-app-secret-0000", 0, 401},
		{"six minutes old (replayed)", good, appSecret, 6 * time.Minute, 401},
		{"one event of another portal", mixed, appSecret, 0, 403},
		{"over 1 MiB", big, appSecret, 0, 413},
		{"not an array", []byte(`{"eventId":1,"portalId":4242,"subscriptionType":"contact.deletion"}`), appSecret, 0, 400},
		{"event without a portal", []byte(`[{"eventId":1,"subscriptionType":"contact.deletion","objectId":5}]`), appSecret, 0, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := e.appCall("POST", appWebhooksPath, tc.body, tc.secret, tc.age)
			if st != tc.want {
				t.Fatalf("%d, want %d: %s", st, tc.want, out)
			}
			if _, total := e.hubspotEvents(); total != 0 {
				t.Fatalf("%d events stored from a refused batch", total)
			}
		})
	}
	// A batch signed with the v1 signature only (X-HubSpot-Signature) is
	// refused: linehub checks v3, which carries a timestamp.
	st, _, out := e.do("POST", appWebhooksPath, map[string]string{"Content-Type": "application/json",
		"X-HubSpot-Signature": "00", "X-HubSpot-Signature-Version": "v1"}, good)
	if st != 401 {
		t.Fatalf("v1 only: %d %s", st, out)
	}
}

// A person's edit of a LINE property, reported by the app's webhook, is
// shown with the friend (who, when, what), so the dashboard and API users
// see why linehub leaves it alone; linehub's own writes are not listed.
func TestHubSpotAppEditShownWithTheFriend(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	e.setUpApp()
	c := e.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	e.ln.AddFriend(c.ch.token, line.Profile{UserID: uid, DisplayName: "Alice"})
	e.deliver(c, linetest.FollowEvent(uid, false, time.Now().Add(-time.Hour)))
	if err := e.sync.SyncPending(e.ctx); err != nil {
		t.Fatal(err)
	}
	ct, ok := e.hs.ContactByEmail(strings.ToLower(uid) + "@line.example.com")
	if !ok {
		t.Fatal("no contact")
	}
	hooks := e.hs.AppWebhooks("", publicURL+appWebhooksPath, appSecret, 77)
	prop := fmt.Sprintf("line_follow_%d", c.serial)
	body := hubspottest.AppWebhookBody(
		hooks.PropertyChange(ct.ID, prop, "No", "CRM_UI", "userId:7"),
		hooks.PropertyChange(ct.ID, fmt.Sprintf("line_unanswered_%d", c.serial), "No", "INTEGRATION", "77"),
	)
	if st, out := e.appCall("POST", appWebhooksPath, body, appSecret, 0); st != 200 {
		t.Fatalf("webhook: %d %s", st, out)
	}
	if err := e.sync.ApplyHubSpotEvents(e.ctx); err != nil {
		t.Fatal(err)
	}
	st, out := e.api("GET", "/api/v1/connections/"+c.id+"/friends", nil)
	fs, _ := out["friends"].([]any)
	if st != 200 || len(fs) != 1 {
		t.Fatalf("friends: %d %v", st, out)
	}
	edits, _ := fs[0].(map[string]any)["edited_in_hubspot"].([]any)
	if len(edits) != 1 {
		t.Fatalf("edits: %v", fs[0])
	}
	ed := edits[0].(map[string]any)
	if ed["property"] != prop || ed["value"] != "No" || ed["source"] != "CRM_UI" || ed["source_id"] != "userId:7" || ed["at"] == "" {
		t.Fatalf("edit: %v", ed)
	}
}
