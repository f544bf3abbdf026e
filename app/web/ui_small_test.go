package web_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web"
)

// TestSetupLinkExpiredPage: a setup link that no longer works says so and
// how to get a new one, instead of the general "setup pending" page; a
// link minted by `linehub setup-link` (web.MintSetupLink on the same
// database) works on the running server and retires the earlier one.
func TestSetupLinkExpiredPage(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	old := strings.SplitN(u.link, "token=", 2)[1]
	anon := u.browser(t)
	for _, tok := range []string{"wrong", old + "x"} {
		st, body := anon.get("/setup?token=" + tok)
		if st != 403 || !strings.Contains(body, `id="setup-expired"`) || !strings.Contains(body, "linehub setup-link") {
			t.Errorf("GET /setup?token=%s: %d, want 403 with the expired-link page naming linehub setup-link:\n%s", tok, st, body)
		}
	}
	// Without a token it is still the general page: nothing was followed.
	if st, body := anon.get("/setup"); st != 403 || !strings.Contains(body, `id="pending"`) {
		t.Errorf("GET /setup: %d, want the setup-pending page", st)
	}

	link, err := web.MintSetupLink(u.ctx, u.st, u.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, u.base+"/setup?token=") {
		t.Fatalf("minted link %q does not point at the server %s", link, u.base)
	}
	if st, body := anon.get("/setup?token=" + old); st != 403 || !strings.Contains(body, `id="setup-expired"`) {
		t.Errorf("the startup link after a new one was minted: %d, want the expired-link page", st)
	}
	u.link = link
	b := u.claim(t) // the minted link creates the admin on the running server
	if st, _ := b.get("/"); st != 200 {
		t.Errorf("dashboard after claiming with the minted link: %d", st)
	}
	if _, err := web.MintSetupLink(u.ctx, u.st, u.cfg); !errors.Is(err, store.ErrAdminExists) {
		t.Errorf("minting with an admin: %v, want ErrAdminExists", err)
	}
	// The used link admits nobody else, even with the admins gone.
	deleteAdmins(t, u)
	tok := strings.SplitN(link, "token=", 2)[1]
	form := url.Values{"token": {tok}, "email": {"intruder@example.com"}, "password": {adminPass}, "password2": {adminPass}}
	other := u.browser(t)
	other.get("/login")
	if st, _, _ := other.post("/setup", form); st != 403 {
		t.Errorf("POST /setup with the used link: %d, want 403", st)
	}
}

// alertRE finds the error a page shows after a refused form.
var alertRE = regexp.MustCompile(`role="alert" id="[a-z-]*error"[^>]*>(<p>)?[^<]*`)

// TestIconNotImage: a text file picked as the icon is refused as "not an
// image", not with the size limits it does not break, on both forms.
func TestIconNotImage(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	text := []byte("店舗の営業時間: 10時〜19時\n")
	for _, lang := range []struct{ code, want string }{
		{"ja", "このファイルは画像ではありません"},
		{"en", "This file is not an image"},
	} {
		b.header = http.Header{"Accept-Language": {lang.code}}
		b.get("/connections/new")
		st, body, _ := b.postMultipart("/connections", map[string]string{"name": "東京店"}, text)
		if msg := alertRE.FindString(body); st != 400 || !strings.Contains(msg, lang.want) || strings.Contains(msg, "512 KB") {
			t.Errorf("%s: text file as icon on create: %d, want 400 %q without the size limit", lang.code, st, lang.want)
		}
	}
	b.header = http.Header{"Accept-Language": {"ja"}}
	b.get("/connections/new")
	st, _, loc := b.postMultipart("/connections", map[string]string{"name": "東京店"}, nil)
	if st != 303 {
		t.Fatalf("create: %d", st)
	}
	path := strings.SplitN(loc, "?", 2)[0]
	b.get(path)
	if st, body, _ := b.postMultipart(path+"/edit", map[string]string{"name": "東京本店", "description": "駅前の新しい説明"}, text); st != 400 || !strings.Contains(alertRE.FindString(body), "このファイルは画像ではありません") {
		t.Errorf("text file as icon on edit: %d", st)
	} else if !strings.Contains(body, `value="東京本店"`) || !strings.Contains(body, ">駅前の新しい説明</textarea>") {
		// The refused edit keeps what was typed, not the saved values.
		t.Errorf("the refused edit form lost what was typed")
	}
	// A real image that is too large still gets the size message.
	b.get("/connections/new")
	if st, body, _ := b.postMultipart("/connections", map[string]string{"name": "大阪店"}, make([]byte, 600<<10)); st != 400 || !strings.Contains(alertRE.FindString(body), "512 KB") {
		t.Errorf("600 KB upload: %d, want the size message", st)
	}
}

// TestFavicon: every page names an icon that exists, and /favicon.ico,
// which browsers ask for by themselves, answers with it instead of 404,
// before and after setup.
func TestFavicon(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	check := func(when string, b *browser) {
		t.Helper()
		for _, p := range []string{"/favicon.ico", "/static/icon.svg"} {
			req, _ := http.NewRequest("GET", b.abs(p), nil)
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/svg+xml") {
				t.Errorf("%s: GET %s: %d %s, want 200 image/svg+xml", when, p, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	}
	anon := u.browser(t)
	check("setup pending", anon)
	if _, body := anon.get("/"); !strings.Contains(body, `<link rel="icon" href="/static/icon.svg" type="image/svg+xml">`) {
		t.Error("the setup-pending page names no icon")
	}
	b := u.claim(t)
	check("signed in", b)
	for _, p := range []string{"/", "/jobs", "/settings", "/login"} {
		if _, body := b.get(p); !strings.Contains(body, `rel="icon"`) {
			t.Errorf("%s names no icon", p)
		}
	}
}

// TestNewConnectionAtLimit: with every connection of the tier in use,
// "/connections/new" sends the admin to the dashboard's note on the
// limit instead of a form that can only be refused.
func TestNewConnectionAtLimit(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	max := u.conns.MaxConnections()
	for i := 0; i < max; i++ {
		if st, _ := b.get("/connections/new"); st != 200 {
			t.Fatalf("form with %d of %d connections: %d, want 200", i, max, st)
		}
		if st, body, _ := b.postMultipart("/connections", map[string]string{"name": "Shop " + string(rune('A'+i))}, nil); st != 303 {
			t.Fatalf("create connection %d: %d %s", i, st, body)
		}
	}
	req, _ := http.NewRequest("GET", b.abs("/connections/new"), nil)
	st, _, loc := b.do(req)
	if st != 303 || loc != "/#limit" {
		t.Fatalf("/connections/new at the limit: %d %q, want 303 to /#limit", st, loc)
	}
	b.header = http.Header{"Accept-Language": {"ja"}}
	if _, body := b.get("/"); !strings.Contains(body, `id="limit"`) || !strings.Contains(body, "すべて使用中です") {
		t.Error("the dashboard does not show the limit note")
	}
}

// TestTemplateHelpExample: the Japanese help shows a default that reads
// naturally once filled in ("お客様" for a contact without a name), not
// "{{firstname|様}}", which leaves a bare "様".
func TestTemplateHelpExample(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	for _, p := range []string{"/templates", "/templates/new"} {
		_, body := b.get(p)
		if strings.Contains(body, "{{firstname|様}}") || !strings.Contains(body, "{{firstname|お客}}様") {
			t.Errorf("%s: the placeholder example is not {{firstname|お客}}様", p)
		}
	}
	// The example works as the help says.
	out, err := messaging.Render([]json.RawMessage{json.RawMessage(`{"type":"text","text":"{{firstname|お客}}様、こんにちは"}`)}, map[string]string{})
	if err != nil || len(out) != 1 || !strings.Contains(string(out[0]), `"お客様、こんにちは"`) {
		t.Errorf("render of the example: %s %v", out, err)
	}
}

// TestWizardReducedHeaderAndBack: during the first-run wizard the header
// offers only signing out and the language, not the whole menu, and each
// step after the first has a link back to the one before.
func TestWizardReducedHeaderAndBack(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	backRE := regexp.MustCompile(`<a href="([^"]*)" id="wizard-back"[^>]*>← 前のステップに戻る</a>`)
	for _, tc := range []struct{ step, back string }{
		{"domain", ""}, // step 1 was the account, which is done
		{"hubspot", "/wizard/domain"},
		{"tier", "/wizard/hubspot"},
	} {
		st, body := b.get("/wizard/" + tc.step)
		if st != 200 {
			t.Fatalf("/wizard/%s: %d", tc.step, st)
		}
		if !strings.Contains(body, `id="wizard-nav"`) || !strings.Contains(body, `id="logout"`) {
			t.Errorf("/wizard/%s: no reduced header with sign-out", tc.step)
		}
		for _, menu := range []string{`id="nav-jobs"`, `id="nav-broadcasts"`, `href="/tokens"`} {
			if strings.Contains(body, menu) {
				t.Errorf("/wizard/%s shows the full menu (%s)", tc.step, menu)
			}
		}
		m := backRE.FindStringSubmatch(body)
		switch {
		case tc.back == "" && m != nil:
			t.Errorf("/wizard/%s has a Back link to %s", tc.step, m[1])
		case tc.back != "" && (m == nil || m[1] != tc.back):
			t.Errorf("/wizard/%s: Back link %v, want %s", tc.step, m, tc.back)
		}
	}
	// A refused step stays in the wizard's frame.
	b.get("/wizard/domain")
	if st, body, _ := b.post("/settings/domain", url.Values{"public_url": {"not a url"}, "step": {"domain"}}); st != 400 || !strings.Contains(body, `id="wizard-nav"`) {
		t.Errorf("refused wizard step: %d, want 400 in the wizard's frame", st)
	}
	// Settings, outside the wizard, has the whole menu and no Back.
	_, body := b.get("/settings")
	if strings.Contains(body, `id="wizard-nav"`) || !strings.Contains(body, `id="nav-jobs"`) || strings.Contains(body, `id="wizard-back"`) {
		t.Error("settings page: want the full menu and no wizard Back")
	}
}
