package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"linehub/app/line/linetest"
)

var detailsRE = regexp.MustCompile(`(?s)<details.*?</details>`)

// outsideDetails is a page without its folded technical details.
func outsideDetails(body string) string { return detailsRE.ReplaceAllString(body, "") }

// TestHubSpotRejectedBannerJapanese: when HubSpot refuses the token
// during sync, the dashboard says so in Japanese with a link to Settings;
// HubSpot's raw answer (HTTP status, category, correlation id) is only in
// the folded details. Saving a working token clears the banner at once,
// not when the sync worker's backoff next retries.
func TestHubSpotRejectedBannerJapanese(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	c := u.createConn("Shop", true, true)
	const newToken = "pat-na1-the-new-token-7777"
	u.secrets = append(u.secrets, newToken)
	u.hs.SetToken(newToken)
	u.deliver(c, linetest.FollowEvent(linetest.NewUserID(), false, time.Now()))
	_ = u.sync.SyncPending(u.ctx) // fails: the token is refused

	st, body := b.get("/")
	if st != 200 {
		t.Fatalf("dashboard: %d", st)
	}
	i := strings.Index(body, "data-health")
	if i < 0 {
		t.Fatalf("no health notice for the refused token:\n%s", body)
	}
	notice := body[i:]
	notice = notice[:strings.Index(notice, "</div>")]
	for _, want := range []string{"HubSpot との同期に失敗しています", "HubSpot がトークンを拒否しました", `href="/settings"`, "<details"} {
		if !strings.Contains(notice, want) {
			t.Errorf("notice lacks %q: %s", want, notice)
		}
	}
	if !strings.Contains(detailsRE.FindString(notice), "401") {
		t.Errorf("the technical detail (HubSpot's 401) is not kept in the details: %s", notice)
	}
	for _, raw := range []string{"HTTP 401", "correlationId", "INVALID_AUTHENTICATION", "/crm/"} {
		if strings.Contains(outsideDetails(body), raw) {
			t.Errorf("raw HubSpot text %q shown outside the details: %s", raw, notice)
		}
	}

	b.get("/settings")
	if st, body, _ := b.post("/settings/hubspot", url.Values{"token": {newToken}}); st != 303 {
		t.Fatalf("save the new token: %d %s", st, body)
	}
	if _, body := b.get("/"); strings.Contains(body, "HubSpot との同期に失敗しています") {
		t.Error("the banner stays after a working token was saved")
	}
}

// TestWrongChannelSecretExplained: when LINE's test call is refused
// because the saved channel secret is wrong, the connection page says to
// check the channel secret (in the admin's language, with a link to the
// credentials form) instead of LINE's "401 ERROR_STATUS_CODE 401", which
// stays in the folded details.
func TestWrongChannelSecretExplained(t *testing.T) {
	for _, lang := range []struct{ code, want string }{
		{"ja", "署名がここに保存されたチャネルシークレットと一致しません"},
		{"en", "its signature does not match the channel secret saved here"},
	} {
		t.Run(lang.code, func(t *testing.T) {
			u := newUIEnv(t, envOpts{HubSpotConfigured: true})
			b := u.claim(t)
			b.header = http.Header{"Accept-Language": {lang.code}}
			c := u.createConn("Shop", true, true)
			path := "/connections/" + c.id
			const wrong = "0123456789abcdef0123456789abcdef"
			u.secrets = append(u.secrets, wrong)
			b.get(path)
			if st, _, _ := b.post(path+"/credentials", url.Values{"channel_secret": {wrong}}); st != 303 {
				t.Fatalf("save the wrong secret: %d", st)
			}
			b.get(path)
			// Post/redirect/get: the result is on the page the redirect
			// leads to.
			st, _, loc := b.post(path+"/webhook", url.Values{})
			if st != 303 {
				t.Fatalf("register webhook: %d", st)
			}
			_, body := b.get(loc)
			i := strings.Index(body, `id="webhook-result"`)
			if i < 0 {
				t.Fatalf("no webhook result:\n%s", body)
			}
			res := body[i:]
			res = res[:strings.Index(res, "</div>")]
			if !strings.Contains(res, lang.want) || !strings.Contains(res, `href="`+path+`#credentials"`) || !strings.Contains(body, `id="credentials"`) {
				t.Errorf("the result does not point at the channel secret: %s", res)
			}
			if strings.Contains(outsideDetails(res), "ERROR_STATUS_CODE") {
				t.Errorf("LINE's raw result outside the details: %s", res)
			}
			if !strings.Contains(detailsRE.FindString(res), "401") {
				t.Errorf("LINE's result is not kept in the details: %s", res)
			}
		})
	}
}

// TestStickerStandinJapanese: a friend's last message that was a sticker
// reads "［スタンプ］" in the Japanese friends list and chat, not "[Sticker]".
func TestStickerStandinJapanese(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	c := u.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	u.deliver(c, linetest.StickerMessageEvent(uid, "446", "1988", time.Now()))
	for _, p := range []string{"/connections/" + c.id + "/friends", "/connections/" + c.id + "/chat", "/connections/" + c.id + "/chat/" + uid} {
		st, body := b.get(p)
		if st != 200 || !strings.Contains(body, "［スタンプ］") || strings.Contains(body, "[Sticker]") {
			t.Errorf("%s: %d, want the sticker as ［スタンプ］", p, st)
		}
	}
}

// TestNotUserIDJapanese: replying at an address that is no LINE user ID
// says so in Japanese, with what to do.
func TestNotUserIDJapanese(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	c := u.createConn("Shop", true, true)
	b.get("/connections/" + c.id + "/chat")
	st, body, _ := b.post("/connections/"+c.id+"/chat/nobody/reply", url.Values{"text": {"x"}})
	if st != 400 || !strings.Contains(body, "LINE のユーザー ID（U と 32 桁の 16 進数）ではない") || strings.Contains(body, "not a LINE user ID") {
		t.Errorf("bad user id: %d, want the Japanese message", st)
	}
}

// TestHubSpotUnreachableJapanese: saving the token while HubSpot cannot
// be reached (here its name does not resolve) says so in Japanese with
// what to check; the DNS error is only in the folded details.
func TestHubSpotUnreachableJapanese(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	u.cfg.HubSpot.BaseURL = "http://hubspot.invalid"
	b.get("/wizard/hubspot")
	st, body, _ := b.post("/settings/hubspot", url.Values{"token": {hubspotToken}, "step": {"hubspot"}})
	if st < 400 || !strings.Contains(body, "linehub から HubSpot に接続できません") {
		t.Fatalf("unreachable HubSpot: %d, want the Japanese message:\n%s", st, body)
	}
	if strings.Contains(outsideDetails(body), "hubspot.invalid") || !strings.Contains(detailsRE.FindString(body), "hubspot.invalid") {
		t.Errorf("the DNS error should be in the details only:\n%s", body)
	}
}

// TestMessageTooLongJapanese: a reply over LINE's limit is refused in the
// admin's language with both numbers, and nothing is sent.
func TestMessageTooLongJapanese(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	c := u.createConn("Shop", true, true)
	uid := linetest.NewUserID()
	chat := "/connections/" + c.id + "/chat/" + uid
	b.get("/connections/" + c.id + "/chat")
	st, body, _ := b.post(chat+"/reply", url.Values{"text": {strings.Repeat("あ", 5001)}})
	if st != 400 || !strings.Contains(body, "LINE のメッセージは 5000 文字までです（このメッセージは 5001 文字です）") || strings.Contains(outsideDetails(body), "LINE allows") {
		t.Errorf("too long a reply: %d, want the Japanese message with both numbers", st)
	}
	if p := u.ln.Pushes(c.ch.token); len(p) != 0 {
		t.Errorf("LINE got %d pushes", len(p))
	}
}

// TestFriendSyncCauseExplained: a friend whose HubSpot write waits on a
// cause the admin must fix says which (HubSpot refused the token, the
// token lacks a scope, HubSpot is out of reach) and links to Settings, in
// Japanese and English, with HubSpot's raw answer only in the details;
// the API names the cause with a code.
func TestFriendSyncCauseExplained(t *testing.T) {
	for _, tc := range []struct {
		name, lang, want string
		fault            func(r *http.Request) (int, string, bool)
		rejectToken      bool
	}{
		{name: "401-ja", lang: "ja", want: "HubSpot がトークンを拒否しました", rejectToken: true},
		{name: "401-en", lang: "en", want: "HubSpot rejected the token", rejectToken: true},
		{name: "scope-ja", lang: "ja", want: "linehub が必要とするスコープがありません", fault: func(r *http.Request) (int, string, bool) {
			// HubSpot's answer to a token without the scope: 403,
			// category MISSING_SCOPES.
			return 403, `{"status":"error","message":"This app hasn't been granted all required scopes to make this call.","correlationId":"c0ffee","category":"MISSING_SCOPES","errors":[{"message":"One or more of the following scopes are required.","context":{"requiredGranularScopes":["crm.objects.contacts.write"]}}]}`, strings.Contains(r.URL.Path, "/batch/")
		}},
		{name: "down-en", lang: "en", want: "linehub cannot reach HubSpot", fault: func(r *http.Request) (int, string, bool) {
			return 503, `{"status":"error","message":"Service Unavailable"}`, strings.Contains(r.URL.Path, "/batch/")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUIEnv(t, envOpts{HubSpotConfigured: true})
			b := u.claim(t)
			b.header = http.Header{"Accept-Language": {tc.lang}}
			c := u.createConn("Shop", true, true)
			if tc.rejectToken {
				const newToken = "pat-na1-the-new-token-7777"
				u.secrets = append(u.secrets, newToken)
				u.hs.SetToken(newToken)
			}
			if tc.fault != nil {
				u.hs.SetFault(tc.fault)
			}
			u.deliver(c, linetest.FollowEvent(linetest.NewUserID(), false, time.Now()))
			_ = u.sync.SyncPending(u.ctx) // fails for the cause above

			st, body := b.get("/connections/" + c.id + "/friends")
			if st != 200 {
				t.Fatalf("friends page: %d", st)
			}
			outside := outsideDetails(body)
			if !strings.Contains(outside, tc.want) || !strings.Contains(outside, `href="/settings"`) {
				t.Errorf("friends page does not say %q with a link to Settings:\n%s", tc.want, outside)
			}
			for _, generic := range []string{"linehub が自動で再試行します。続く場合は", "linehub retries by itself. If it lasts"} {
				if strings.Contains(outside, generic) {
					t.Errorf("friends page shows the generic %q", generic)
				}
			}
			for _, raw := range []string{"HTTP 40", "HTTP 50", "correlationId", "[hubspot_"} {
				if strings.Contains(outside, raw) {
					t.Errorf("raw text %q outside the details", raw)
				}
			}
			st, out := u.api("GET", "/api/v1/connections/"+c.id+"/friends", nil)
			fs, _ := out["friends"].([]any)
			if st != 200 || len(fs) != 1 {
				t.Fatalf("API friends: %d %v", st, out)
			}
			f := fs[0].(map[string]any)
			if code, _ := f["sync_error_code"].(string); !strings.HasPrefix(code, "hubspot_") || strings.HasPrefix(f["sync_error"].(string), "[") {
				t.Errorf("API friend: sync_error_code %q, sync_error %q", f["sync_error_code"], f["sync_error"])
			}
		})
	}
}
