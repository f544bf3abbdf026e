package web_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/web"
)

// uiEnv serves the web app on a loopback listener (so that the LINE
// double's test-webhook call can reach it) and records every log line.
type uiEnv struct {
	*env
	base string
	link string
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newUIEnv(t *testing.T, o envOpts) *uiEnv {
	t.Helper()
	e := newEnv(t, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &uiEnv{env: e, base: "http://" + ln.Addr().String(), logs: &lockedBuffer{}}
	e.cfg.PublicURL = u.base
	if o.NoPublicURL {
		e.cfg.PublicURL = ""
	}
	app := web.New(web.Options{Connections: e.conns, Sync: e.sync, Messaging: e.msg, Store: e.st, Config: e.cfg, Version: "test", Linking: e.link,
		Logger:   slog.New(slog.NewTextHandler(u.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SetupURL: func(l string) { u.link = l }})
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	if u.link == "" {
		t.Fatal("no setup link although no admin exists")
	}
	return u
}

type browser struct {
	t      *testing.T
	u      *uiEnv
	c      *http.Client
	last   string
	header http.Header // sent with every request, e.g. a proxy's X-Forwarded-For
}

func (u *uiEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, u: u, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (int, string, string) {
	b.t.Helper()
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.u.checkNoSecrets(req.Method, req.URL.Path, body)
	// A time element passed through a translation comes out escaped.
	if bytes.Contains(body, []byte("&lt;time")) {
		b.t.Errorf("%s %s shows an escaped <time> element (use atText inside a translated sentence)", req.Method, req.URL.Path)
	}
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.last = string(m[1])
	}
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.abs(path), nil)
	st, body, _ := b.do(req)
	return st, body
}

func (b *browser) abs(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return b.u.base + path
}

// post sends a form with the page's CSRF token (unless the form sets
// its own "csrf"), as a browser would.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.last)
	}
	req, _ := http.NewRequest("POST", b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) postMultipart(path string, fields map[string]string, icon []byte) (int, string, string) {
	b.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("csrf", b.last)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if icon != nil {
		fw, _ := w.CreateFormFile("icon", "icon.png")
		_, _ = fw.Write(icon)
	}
	_ = w.Close()
	req, _ := http.NewRequest("POST", b.abs(path), &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.u.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

const (
	adminEmail = "owner@example.com"
	adminPass  = "Tr0ub4dor&3-horse"
)

// claim runs the first-run step with the setup link.
func (u *uiEnv) claim(t *testing.T) *browser {
	b := u.browser(t)
	tok := strings.SplitN(u.link, "token=", 2)[1]
	if st, _ := b.get("/setup?token=" + tok); st != 200 {
		t.Fatalf("setup link: status %d", st)
	}
	st, body, loc := b.post("/setup", url.Values{"token": {tok}, "email": {adminEmail}, "password": {adminPass}, "password2": {adminPass}})
	if st != 303 || loc != "/wizard/domain" {
		t.Fatalf("claim: %d %s %s", st, loc, body)
	}
	return b
}

func TestSetupPendingUntilClaimed(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	anon := u.browser(t)
	for _, p := range []string{"/", "/login", "/settings", "/tokens", "/setup", "/connections/new"} {
		st, body := anon.get(p)
		if st != 403 || !strings.Contains(body, `id="pending"`) {
			t.Errorf("GET %s before setup: %d, want 403 setup pending", p, st)
		}
	}
	if st, _, _ := anon.post("/setup", url.Values{"token": {"nope"}, "email": {adminEmail}, "password": {adminPass}, "password2": {adminPass}}); st != 403 {
		t.Errorf("POST /setup with a wrong token: %d, want 403", st)
	}
	// The webhook, health check and API keep working while setup is pending.
	if st, _ := anon.get("/healthz"); st != 200 {
		t.Errorf("/healthz: %d", st)
	}
	if st, _ := u.api("GET", "/api/v1/status", nil); st != 200 {
		t.Errorf("API status: %d", st)
	}

	// Weak password: refused, nothing created.
	b := u.browser(t)
	b.get(u.link)
	tok := strings.SplitN(u.link, "token=", 2)[1]
	if st, body, _ := b.post("/setup", url.Values{"token": {tok}, "email": {adminEmail}, "password": {"short"}, "password2": {"short"}}); st != 400 || !strings.Contains(body, "12") {
		t.Fatalf("weak password: %d", st)
	}
	if has, _ := u.st.HasAdmin(u.ctx); has {
		t.Fatal("admin created with a weak password")
	}
	b = u.claim(t)
	if st, body := b.get("/wizard/domain"); st != 200 || !strings.Contains(body, "public_url") {
		t.Fatalf("wizard after claim: %d", st)
	}
	// The link is spent; others must sign in.
	if st, _ := anon.get(u.link); st != 303 {
		t.Errorf("setup link after claim: %d, want redirect to login", st)
	}
	if st, _ := anon.get("/"); st != 303 {
		t.Errorf("dashboard without session: %d, want redirect to login", st)
	}
}

func TestCSRFRejected(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	b := u.claim(t)
	b.get("/tokens")
	for name, tok := range map[string][]string{"missing": nil, "wrong": {strings.Repeat("x", 43)}, "empty": {""}} {
		form := url.Values{"name": {"ci"}}
		if tok != nil {
			form["csrf"] = tok
		} else {
			form["csrf"] = nil
			delete(form, "csrf")
			req, _ := http.NewRequest("POST", b.abs("/tokens"), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if st, _, _ := b.do(req); st != 403 {
				t.Errorf("%s CSRF token: %d, want 403", name, st)
			}
			continue
		}
		if st, _, _ := b.post("/tokens", form); st != 403 {
			t.Errorf("%s CSRF token: %d, want 403", name, st)
		}
	}
	toks, _ := u.st.APITokens(u.ctx)
	if len(toks) != 1 { // the harness's own
		t.Fatalf("a request without a valid CSRF token created a token: %d tokens", len(toks))
	}
	b.get("/tokens")
	if st, body, _ := b.post("/tokens", url.Values{"name": {"ci"}}); st != 200 || !strings.Contains(body, "lhk_") {
		t.Fatalf("with CSRF token: %d", st)
	}
	// Login form too: the pre-session double-submit token is required.
	anon := u.browser(t)
	if st, _, _ := anon.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}}); st != 403 {
		t.Errorf("login without CSRF cookie: %d, want 403", st)
	}
}

func (b *browser) login(email, pw string) (int, string) {
	b.get("/login")
	st, _, loc := b.post("/login", url.Values{"email": {email}, "password": {pw}})
	return st, loc
}

func TestSessionFixationPrevented(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	first := u.claim(t).cookie("linehub_session")

	// An attacker plants a session id (their own valid one) in the victim's browser.
	victim := u.browser(t)
	base, _ := url.Parse(u.base)
	victim.c.Jar.SetCookies(base, []*http.Cookie{{Name: "linehub_session", Value: first, Path: "/"}})
	if st, _ := victim.login(adminEmail, adminPass); st != 303 {
		t.Fatalf("login: %d", st)
	}
	got := victim.cookie("linehub_session")
	if got == "" || got == first {
		t.Fatalf("session id not rotated on login: %q", got)
	}
	attacker := u.browser(t)
	attacker.c.Jar.SetCookies(base, []*http.Cookie{{Name: "linehub_session", Value: first, Path: "/"}})
	if st, _ := attacker.get("/"); st != 303 {
		t.Fatalf("planted session id still valid after the victim signed in: %d", st)
	}
	// Cookie attributes.
	b := u.browser(t)
	b.get("/login")
	req, _ := http.NewRequest("POST", u.base+"/login", strings.NewReader(url.Values{"email": {adminEmail}, "password": {adminPass}, "csrf": {b.last}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sc string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "linehub_session=") {
			sc = strings.ToLower(h)
		}
	}
	if !strings.Contains(sc, "httponly") || !strings.Contains(sc, "samesite=lax") {
		t.Errorf("session cookie attributes: %q", sc)
	}
	// Logout ends the session on the server.
	b.get("/")
	st, _, _ := b.post("/logout", url.Values{})
	if st != 303 {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := b.get("/"); st != 303 {
		t.Errorf("after logout: %d, want redirect", st)
	}
}

func TestLoginRateLimited(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	u.claim(t)
	b := u.browser(t)
	for i := 0; i < 5; i++ {
		if st, _ := b.login(adminEmail, "wrong-password-"+string(rune('a'+i))); st != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, st)
		}
	}
	// Even the right password is refused until the window passes.
	if st, _ := b.login(adminEmail, adminPass); st != 429 {
		t.Fatalf("after 5 failures: %d, want 429", st)
	}
	if !strings.Contains(u.logs.String(), "sign-in rate limited") {
		t.Error("rate limiting not logged")
	}
}

// TestWizardPublicURLAppliesAtOnce: the address saved in the wizard's
// first step is used for webhook URLs right away, not after a restart —
// the next steps show those URLs and register them with LINE.
func TestWizardPublicURLAppliesAtOnce(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true, NoPublicURL: true})
	b := u.claim(t)
	b.get("/wizard/domain")
	if st, _, _ := b.post("/settings/domain", url.Values{"public_url": {"line.example.com"}, "step": {"domain"}}); st != 303 {
		t.Fatalf("domain step: %d", st)
	}
	b.get("/connections/new")
	st, body, loc := b.postMultipart("/connections", map[string]string{"name": "Shop"}, nil)
	if st != 303 {
		t.Fatalf("create: %d %s", st, body)
	}
	if _, page := b.get(strings.SplitN(loc, "?", 2)[0]); !strings.Contains(page, "https://line.example.com/webhook/") {
		t.Fatal("the connection page does not show the webhook URL on the saved public URL")
	}
}

// TestBridgeErrorsInJapanese: the errors admins meet most (here HubSpot
// refusing the token) are shown in the admin's language.
func TestBridgeErrorsInJapanese(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	b.get("/wizard/hubspot")
	st, body, _ := b.post("/settings/hubspot", url.Values{"token": {"pat-na1-wrong"}, "step": {"hubspot"}})
	if st != 400 || !strings.Contains(body, "HubSpot がトークンを拒否しました（401）") {
		t.Fatalf("bad token in Japanese: %d", st)
	}
}

// TestLoginRateLimitBehindProxy: behind a reverse proxy on this host every
// request comes from loopback; the limit keys on the client address the
// proxy appended to X-Forwarded-For (its last entry, which the client
// cannot forge), so one client's failures do not lock out everyone.
func TestLoginRateLimitBehindProxy(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	u.claim(t)
	attacker := u.browser(t)
	// A forged first entry must not let the attacker pick its own key.
	attacker.header = http.Header{"X-Forwarded-For": {"10.9.9.9, 203.0.113.7"}}
	for i := 0; i < 10; i++ {
		attacker.header.Set("X-Forwarded-For", fmt.Sprintf("10.9.9.%d, 203.0.113.7", i))
		if st, _ := attacker.login(fmt.Sprintf("guess%d@example.com", i), "wrong-password"); st != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, st)
		}
	}
	if st, _ := attacker.login("guess-more@example.com", "wrong-password"); st != 429 {
		t.Fatalf("attacker after 10 failures: %d, want 429", st)
	}
	admin := u.browser(t)
	admin.header = http.Header{"X-Forwarded-For": {"198.51.100.20"}}
	if st, _ := admin.login(adminEmail, adminPass); st != 303 {
		t.Fatalf("the admin from another address: %d, want 303 (signed in)", st)
	}
}

// TestOwnerNotLockedOutByOthersFailures: failures for the owner's email
// from one address limit that address, not the owner signing in from
// another one.
func TestOwnerNotLockedOutByOthersFailures(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	u.claim(t)
	attacker := u.browser(t)
	attacker.header = http.Header{"X-Forwarded-For": {"203.0.113.7"}}
	for i := 0; i < 5; i++ {
		if st, _ := attacker.login(adminEmail, fmt.Sprintf("wrong-password-%d", i)); st != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, st)
		}
	}
	if st, _ := attacker.login(adminEmail, "wrong-password-x"); st != 429 {
		t.Fatalf("the failing address after 5 failures: %d, want 429", st)
	}
	admin := u.browser(t)
	admin.header = http.Header{"X-Forwarded-For": {"198.51.100.20"}}
	if st, _ := admin.login(adminEmail, adminPass); st != 303 {
		t.Fatalf("the owner from another address: %d, want 303 (signed in)", st)
	}
}

func pngIcon(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{6, 199, 85, 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWizardAndSecretsNeverShown walks the whole UI flow and checks that
// no page (checkNoSecrets runs on every response), log line or API
// answer contains the HubSpot token or a channel secret or token.
func TestWizardAndSecretsNeverShown(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	b := u.claim(t)
	u.secrets = append(u.secrets, adminPass)

	b.get("/wizard/domain")
	if st, _, loc := b.post("/settings/domain", url.Values{"public_url": {"line.example.com"}, "step": {"domain"}}); st != 303 || !strings.HasPrefix(loc, "/wizard/hubspot") {
		t.Fatalf("domain step: %d %s", st, loc)
	}
	b.get("/wizard/hubspot")
	if st, body, _ := b.post("/settings/hubspot", url.Values{"token": {"pat-na1-wrong"}, "step": {"hubspot"}}); st != 400 || !strings.Contains(body, "401") {
		t.Fatalf("bad HubSpot token: %d", st)
	}
	if st, _, loc := b.post("/settings/hubspot", url.Values{"token": {hubspotToken}, "step": {"hubspot"}}); st != 303 || !strings.HasPrefix(loc, "/wizard/tier") {
		t.Fatalf("hubspot step: %d %s", st, loc)
	}
	if _, body := b.get("/wizard/tier"); !strings.Contains(body, "4242") && !strings.Contains(body, "tier-starter") {
		t.Fatal("tier step page")
	}
	if st, _, loc := b.post("/settings/tier", url.Values{"tier": {"starter"}, "step": {"tier"}}); st != 303 || !strings.HasPrefix(loc, "/?") {
		t.Fatalf("tier step: %d %s", st, loc)
	}
	if _, body := b.get("/settings"); !strings.Contains(body, "4242") {
		t.Error("settings page does not show the portal id")
	}

	// Two connections, the second with an icon; the third is refused (starter).
	var ids []string
	for i, name := range []string{"Shop A", "Shop B"} {
		b.get("/connections/new")
		var icon []byte
		if i == 1 {
			icon = pngIcon(t)
		}
		st, body, loc := b.postMultipart("/connections", map[string]string{"name": name, "description": "d"}, icon)
		if st != 303 {
			t.Fatalf("create %s: %d %s", name, st, body)
		}
		ids = append(ids, strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/connections/"))
	}
	if _, body := b.get("/"); !strings.Contains(body, `id="connect" aria-describedby="limit"`) {
		t.Error("connect button not disabled at the tier limit")
	}
	b.get("/connections/new")
	if st, _, _ := b.postMultipart("/connections", map[string]string{"name": "Shop C"}, nil); st != 409 {
		t.Errorf("third connection on starter: %d, want 409", st)
	}
	if st, _, _ := b.postMultipart("/connections", map[string]string{"name": "Bad icon"}, []byte("GIF89a not an image")); st != 400 {
		t.Errorf("bad icon: %d, want 400", st)
	}
	if st, _ := b.get("/connections/" + ids[1] + "/icon"); st != 200 {
		t.Errorf("icon: %d", st)
	}

	ch := u.newChannel("Shop A bot")
	path := "/connections/" + ids[0]
	b.get(path)
	if st, _, _ := b.post(path+"/credentials", url.Values{"channel_secret": {ch.secret}, "channel_access_token": {ch.token}}); st != 303 {
		t.Fatalf("credentials: %d", st)
	}
	_, page := b.get(path)
	if !strings.Contains(page, "••••"+ch.secret[len(ch.secret)-4:]) {
		t.Error("secret's last 4 characters not shown")
	}
	if st, _, loc := b.post(path+"/verify", url.Values{}); st != 303 || loc != path+"#result" {
		t.Fatalf("verify: %d %q", st, loc)
	}
	if _, body := b.get(path); !strings.Contains(body, `id="verified"`) || !strings.Contains(body, "Shop A bot") {
		t.Fatalf("verify result not shown:\n%s", body)
	}
	if st, _, loc := b.post(path+"/webhook", url.Values{}); st != 303 || loc != path+"#result" {
		t.Fatalf("register webhook: %d %q", st, loc)
	}
	_, body := b.get(path)
	if !strings.Contains(body, `id="webhook-result"`) {
		t.Fatalf("register webhook: no result shown")
	}
	if !strings.Contains(body, "✓") {
		t.Errorf("webhook test did not succeed: %s", body[strings.Index(body, "webhook-result"):][:300])
	}
	if got := u.ln.WebhookEndpoint(ch.token); !strings.HasSuffix(got, "/webhook/"+mustKey(t, u, ids[0])) {
		t.Errorf("LINE's webhook endpoint: %q", got)
	}

	// A follow → friends page lists the friend.
	friend := linetest.NewUserID()
	u.ln.AddFriend(ch.token, line.Profile{UserID: friend, DisplayName: "Taro"})
	if st, err := u.ln.Deliver(u.ctx, u.base+"/webhook/"+mustKey(t, u, ids[0]), ch.token, linetest.FollowEvent(friend, false, time.Now())); err != nil || st != 200 {
		t.Fatalf("deliver: %d %v", st, err)
	}
	if _, err := u.sync.ApplyPending(u.ctx); err != nil {
		t.Fatal(err)
	}
	if _, body := b.get(path + "/friends?q=tar"); !strings.Contains(body, "Taro") {
		t.Error("friends page does not list the friend")
	}
	if _, body := b.get(path + "/friends?q=nobody"); strings.Contains(body, "Taro") {
		t.Error("search does not filter")
	}
	for _, p := range []string{"/", "/settings", "/tokens", path, path + "/friends", "/connections/" + ids[1]} {
		if st, _ := b.get(p); st != 200 {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	for _, p := range []string{"/api/v1/status", "/api/v1/connections", "/api/v1/connections/" + ids[0]} {
		st, _ := u.api("GET", p, nil)
		if st != 200 {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	// Delete needs the confirmation box.
	b.get("/connections/" + ids[1])
	if st, _, _ := b.post("/connections/"+ids[1]+"/delete", url.Values{}); st != 400 {
		t.Errorf("delete without confirmation: %d", st)
	}
	if st, _, _ := b.post("/connections/"+ids[1]+"/delete", url.Values{"confirm": {"yes"}}); st != 303 {
		t.Errorf("delete: %d", st)
	}
	logs := u.logs.String()
	for _, s := range u.secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains a secret ending %q", s[len(s)-4:])
		}
	}
}

func mustKey(t *testing.T, u *uiEnv, id string) string {
	cs, err := u.st.Connections(u.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if id == strconv.FormatInt(c.ID, 10) {
			return c.Key
		}
	}
	t.Fatalf("no connection %s", id)
	return ""
}

// With an https public URL (TLS here or at a proxy) cookies carry Secure;
// over plain http on a laptop they cannot.
func TestCookiesSecureWhenHTTPS(t *testing.T) {
	e := newEnv(t, envOpts{}) // public URL https://hub.example.com
	req, _ := http.NewRequest("GET", "/login", nil)
	resp, err := e.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := strings.ToLower(strings.Join(resp.Header.Values("Set-Cookie"), "\n"))
	if !strings.Contains(sc, "linehub_csrf=") || !strings.Contains(sc, "secure") || !strings.Contains(sc, "httponly") || !strings.Contains(sc, "samesite=lax") {
		t.Errorf("cookie over https: %q", sc)
	}

	u := newUIEnv(t, envOpts{}) // http://127.0.0.1:port
	b := u.browser(t)
	req, _ = http.NewRequest("GET", u.base+"/login", nil)
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := strings.ToLower(strings.Join(resp.Header.Values("Set-Cookie"), "\n")); strings.Contains(sc, "secure") {
		t.Errorf("Secure cookie over plain http: %q", sc)
	}
}
