package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot"
)

const appSecret = "6c7a0a4e-1b1f-4c47-9a56-0d1a2b3c4d5e"

// appCall sends a request as HubSpot's app does: signed with secret
// (none: unsigned) for the public URL, age old.
func (e *env) appCall(method, path string, body []byte, secret string, age time.Duration) (int, []byte) {
	e.t.Helper()
	hdr := map[string]string{"Content-Type": "application/json"}
	if secret != "" {
		ts := hubspot.NowMillis(time.Now().Add(-age))
		hdr["X-HubSpot-Request-Timestamp"] = ts
		hdr["X-HubSpot-Signature-v3"] = hubspot.SignV3(secret, method, publicURL+path, body, ts)
	}
	st, _, out := e.do(method, path, hdr, body)
	return st, out
}

// Every request of the HubSpot app is answered only when HubSpot signed it
// with the app's client secret for linehub's public URL, recently, for the
// portal linehub syncs to; the secret is never shown back.
func TestHubSpotAppRequestsVerified(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	e.secrets = append(e.secrets, appSecret)
	if st, m := e.api("PUT", "/api/v1/hubspot", map[string]any{"token": hubspotToken}); st != 200 { // learns the portal id
		t.Fatalf("save HubSpot key: %d %v", st, m)
	}
	ping := "/hubspot/app/ping?userId=1&portalId=4242&userEmail=a%40b.jp&appId=77"

	// Before the app is set up nothing is answered.
	if st, out := e.appCall("GET", ping, nil, appSecret, 0); st != 401 || !strings.Contains(string(out), "Settings") {
		t.Fatalf("before setup: %d %s", st, out)
	}
	if st, m := e.api("PUT", "/api/v1/hubspot/app", map[string]any{"app_id": "77", "client_secret": "not a secret"}); st != 400 {
		t.Fatalf("bad secret saved: %d %v", st, m)
	}
	if st, m := e.api("PUT", "/api/v1/hubspot/app", map[string]any{"app_id": "77", "client_secret": appSecret}); st != 200 || m["configured"] != true {
		t.Fatalf("save app: %d %v", st, m)
	}
	// Saving the id alone keeps the secret.
	if st, m := e.api("PUT", "/api/v1/hubspot/app", map[string]any{"app_id": "78"}); st != 200 || m["configured"] != true || m["app_id"] != "78" {
		t.Fatalf("id alone: %d %v", st, m)
	}

	big := []byte(`{"x":"` + strings.Repeat("a", 1<<20) + `"}`)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   []byte
		secret string
		age    time.Duration
		signAs string // path signed instead of the one called
		want   int
	}{
		{name: "signed", method: "GET", path: ping, secret: appSecret, want: 200},
		{name: "four minutes old", method: "GET", path: ping, secret: appSecret, age: 4 * time.Minute, want: 200},
		{name: "unsigned", method: "GET", path: ping, want: 401},
		{name: "other secret", method: "GET", path: ping, secret: "another-app-secret-0000", want: 401},
		{name: "six minutes old (replayed)", method: "GET", path: ping, secret: appSecret, age: 6 * time.Minute, want: 401},
		{name: "query changed after signing", method: "GET", path: ping, signAs: strings.Replace(ping, "portalId=4242", "portalId=9999", 1), secret: appSecret, want: 401},
		{name: "other portal", method: "GET", path: strings.Replace(ping, "4242", "9999", 1), secret: appSecret, want: 403},
		{name: "no portal", method: "GET", path: "/hubspot/app/ping", secret: appSecret, want: 403},
		{name: "too large", method: "POST", path: "/hubspot/app/ping", body: big, secret: appSecret, want: 413},
		{name: "unknown path, signed", method: "GET", path: "/hubspot/app/nope", secret: appSecret, want: 404},
		{name: "unknown path, unsigned", method: "GET", path: "/hubspot/app/nope", want: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": "application/json"}
			if tc.secret != "" {
				ts := hubspot.NowMillis(time.Now().Add(-tc.age))
				signed := tc.path
				if tc.signAs != "" {
					signed = tc.signAs
				}
				hdr["X-HubSpot-Request-Timestamp"] = ts
				hdr["X-HubSpot-Signature-v3"] = hubspot.SignV3(tc.secret, tc.method, publicURL+signed, tc.body, ts)
			}
			st, _, out := e.do(tc.method, tc.path, hdr, tc.body)
			if st != tc.want {
				t.Fatalf("%d, want %d: %s", st, tc.want, out)
			}
			if st == 200 && !strings.Contains(string(out), `"portal_id":4242`) {
				t.Fatalf("answer: %s", out)
			}
		})
	}

	// A workflow action's request may carry only the older v2 signature
	// (HubSpot's custom action guide names it); nothing else may.
	v2 := func(path string, body []byte, secret string) int {
		sum := sha256.Sum256([]byte(secret + "POST" + publicURL + path + string(body)))
		st, _, out := e.do("POST", path, map[string]string{"Content-Type": "application/json",
			"X-HubSpot-Signature-Version": "v2", "X-HubSpot-Signature": hex.EncodeToString(sum[:])}, body)
		t.Logf("v2 %s: %d %s", path, st, out)
		return st
	}
	opts := []byte(`{"origin":{"portalId":4242},"inputFieldName":"connection"}`)
	if st := v2("/hubspot/app/actions/connections", opts, appSecret); st != 200 {
		t.Errorf("action options signed v2: %d, want 200", st)
	}
	if st := v2("/hubspot/app/actions/connections", opts, "another-app-secret-0000"); st != 401 {
		t.Errorf("action options signed v2 with another secret: %d, want 401", st)
	}
	if st := v2("/hubspot/app/ping?portalId=4242", nil, appSecret); st != 401 {
		t.Errorf("ping signed v2 only: %d, want 401", st)
	}

	// A request HubSpot signed for another site does not verify here by
	// naming that site in Host.
	ts := hubspot.NowMillis(time.Now())
	st, _, out := e.do("GET", ping, map[string]string{"Host": "evil.example.net", "X-HubSpot-Request-Timestamp": ts,
		"X-HubSpot-Signature-v3": hubspot.SignV3(appSecret, "GET", "https://evil.example.net"+ping, nil, ts)}, nil)
	if st != 401 {
		t.Fatalf("signed for another host: %d %s", st, out)
	}

	if st, m := e.api("GET", "/api/v1/hubspot/app", nil); st != 200 || m["configured"] != true || m["client_secret"] != nil {
		t.Fatalf("get app: %d %v", st, m)
	}
	if st, _ := e.api("DELETE", "/api/v1/hubspot/app", nil); st != 204 {
		t.Fatalf("remove: %d", st)
	}
	if st, out := e.appCall("GET", ping, nil, appSecret, 0); st != 401 {
		t.Fatalf("after removal: %d %s", st, out)
	}
}

// The Settings page takes the app's id and client secret, refuses what is
// not a secret in the admin's language, and never shows the secret back.
func TestUIHubSpotAppSettings(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	u.secrets = append(u.secrets, appSecret)
	b := u.claim(t)
	b.get("/lang/ja")
	b.wantPage("/settings", 200, `id="hubspot-app"`, "HubSpot アプリ：ID とクライアントシークレット", `name="client_secret"`)
	st, body, _ := b.post("/settings/hubspot-app", url.Values{"app_id": {"77"}, "client_secret": {"https://example.com"}})
	if st != 400 || !strings.Contains(body, "クライアントシークレットではないようです") {
		t.Fatalf("bad secret: %d %s", st, body)
	}
	if app, _ := u.conns.HubSpotApp(u.ctx); app.Configured {
		t.Fatal("a refused secret was saved")
	}
	st, _, loc := b.post("/settings/hubspot-app", url.Values{"app_id": {"77"}, "client_secret": {appSecret}})
	if st != 303 {
		t.Fatalf("save: %d %s", st, loc)
	}
	b.wantPage(loc, 200, `id="hubspot-app-ok"`, "アプリ 77 を設定済み")
	if app, _ := u.conns.HubSpotApp(u.ctx); app.ClientSecret != appSecret || app.AppID != "77" {
		t.Fatalf("saved %+v", app)
	}
	st, _, loc = b.post("/settings/hubspot-app/remove", url.Values{})
	if st != 303 {
		t.Fatalf("remove: %d %s", st, loc)
	}
	if app, _ := u.conns.HubSpotApp(u.ctx); app.Configured {
		t.Fatal("still configured after removal")
	}
}
