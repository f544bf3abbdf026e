package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"linehub/app/connections"
	"linehub/app/line/linetest"
	"linehub/app/web"
	"linehub/app/web/linkpage"
)

const (
	loginChannelID     = "1657000001"
	loginChannelSecret = "0123456789abcdef0123456789abcdef"
)

func TestLineLoginSettingsOnConnectionPage(t *testing.T) {
	u, b, c := messagingUI(t)
	u.secrets = append(u.secrets, loginChannelSecret)
	path := "/connections/" + c.id
	// The checklist before anything is saved: the exact callback URL, the
	// provider rule, the account to link, and no link for the website yet.
	page := b.wantPage(path, 200, `id="line-login"`, `value="`+u.base+`/link/callback"`, `id="login-provider"`,
		"same provider", `id="login-check-oa"`, `id="login-check-email"`, `id="login-callback-http"`)
	if strings.Contains(page, `id="login-ready"`) {
		t.Fatal("LINE Login shown as set up before anything was saved")
	}
	for _, bad := range []url.Values{
		{"login_channel_id": {"abc"}, "login_channel_secret": {loginChannelSecret}},
		{"login_channel_id": {loginChannelID}, "login_channel_secret": {"not-a-secret"}},
		{"login_channel_id": {loginChannelID}},
	} {
		if st, body, _ := b.post(path+"/line-login", bad); st != 400 || !strings.Contains(body, "Basic settings tab") {
			t.Fatalf("bad input %v: %d", bad, st)
		}
		if _, err := u.conns.LineLogin(context.Background(), mustID(c.id)); err == nil {
			t.Fatalf("bad input %v saved settings", bad)
		}
	}
	b.get(path)
	if st, _, loc := b.post(path+"/line-login", url.Values{"login_channel_id": {loginChannelID}, "login_channel_secret": {loginChannelSecret}, "login_email": {"yes"}}); st != 303 || !strings.HasPrefix(loc, path) {
		t.Fatalf("save: %d %s", st, loc)
	}
	b.wantPage(path, 200, `id="login-ready"`, "••••cdef", `value="`+loginChannelID+`"`, `id="login_email" checked`,
		`value="`+u.base+`/link/`+c.id+`"`)
	// Saved again without a secret: the secret stays.
	if st, _, _ := b.post(path+"/line-login", url.Values{"login_channel_id": {loginChannelID}}); st != 303 {
		t.Fatalf("save without secret: %d", st)
	}
	cl, err := u.conns.LoginClient(context.Background(), mustID(c.id))
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(st.URL)
	if au.Host != "access.line.me" || au.Query().Get("redirect_uri") != u.base+"/link/callback" || au.Query().Get("client_id") != loginChannelID {
		t.Errorf("authorization URL %s", st.URL)
	}
}

// oneLinker accepts one token for one contact.
type oneLinker struct{ links []linkpage.LinkRequest }

func (l *oneLinker) CheckToken(_ context.Context, _ int64, token string) (string, error) {
	if token == "good-token" {
		return "901", nil
	}
	return "", linkpage.ErrTokenInvalid
}

func (l *oneLinker) Link(_ context.Context, r linkpage.LinkRequest) (linkpage.LinkResult, error) {
	l.links = append(l.links, r)
	return linkpage.LinkResult{ContactID: r.ContactID}, nil
}

// TestLinkPagesThroughTheServer: the link pages are public (no admin
// session), wired to the connection's LINE Login channel, and end in a
// link for the user of the ID token.
func TestLinkPagesThroughTheServer(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	id := mustID(c.id)
	e.cfg.LINE.LoginBaseURL, e.cfg.LINE.LoginAPIBaseURL = e.ln.URL(), e.ln.URL()
	e.ln.AddLoginChannel(linetest.LoginChannel{ID: loginChannelID, Secret: loginChannelSecret, CallbackURLs: []string{publicURL + "/link/callback"},
		LinkedBotToken: c.ch.token})
	user := linetest.LoginUser{UserID: linetest.NewUserID(), Name: "Hanako"}
	e.ln.AddLoginUser(user)
	linker := &oneLinker{}
	app := web.New(web.Options{Connections: e.conns, Sync: e.sync, Messaging: e.msg, Store: e.st, Config: e.cfg, Linker: linker})
	get := func(path, cookie string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// No LINE Login yet: not available, and no admin login page either.
	if res := get("/link/"+c.id+"/good-token", ""); res.StatusCode != 404 {
		t.Fatalf("before setup: %d", res.StatusCode)
	}
	if err := e.conns.SetLineLogin(context.Background(), id, connectionsInput(loginChannelID, loginChannelSecret)); err != nil {
		t.Fatal(err)
	}
	res := get("/link/"+c.id+"/good-token", "")
	if res.StatusCode != 302 || !strings.HasPrefix(res.Header.Get("Location"), e.ln.URL()+"/oauth2/v2.1/authorize?") {
		t.Fatalf("start: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	cookie, _, _ := strings.Cut(res.Header.Get("Set-Cookie"), ";")
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	lr, err := nr.Get(res.Header.Get("Location") + "&linetest_user=" + user.UserID)
	if err != nil {
		t.Fatal(err)
	}
	lr.Body.Close()
	back, _ := url.Parse(lr.Header.Get("Location"))
	res = get(back.RequestURI(), cookie)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `data-kind="linked"`) {
		t.Fatalf("callback: %d %s", res.StatusCode, body)
	}
	if len(linker.links) != 1 || linker.links[0].Identity.UserID != user.UserID || linker.links[0].ContactID != "901" || linker.links[0].ConnID != id {
		t.Fatalf("links %+v", linker.links)
	}
}

func connectionsInput(id, secret string) connections.LineLoginInput {
	return connections.LineLoginInput{ChannelID: id, Secret: secret}
}
