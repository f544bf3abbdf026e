package linkpage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/line/login"
	"linehub/app/store"
)

const (
	chanID      = "1657000001"
	chanSecret  = "0123456789abcdef0123456789abcdef"
	callbackURL = "https://hub.example.com/link/callback"
	botToken    = "bot-token"
)

var (
	alice = linetest.LoginUser{UserID: "U0123456789abcdef0123456789abcdef", Name: "Alice", PictureURL: "https://profile.line-scdn.net/a", Email: "alice@example.com"}
	bob   = linetest.LoginUser{UserID: "Ubbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Name: "Bob"}
)

// fakeLogins is connections.Registry's part the pages use: connection 1
// has LINE Login, connection 2 has not.
type fakeLogins struct {
	line      *linetest.Server
	withEmail bool
}

func (f *fakeLogins) LoginClient(_ context.Context, connID int64) (*login.Client, error) {
	if connID != 1 {
		return nil, connections.ErrNoLineLogin
	}
	return login.New(login.Options{ChannelID: chanID, ChannelSecret: chanSecret, RedirectURI: callbackURL,
		AuthBaseURL: f.line.URL(), APIBaseURL: f.line.URL()})
}

func (f *fakeLogins) LineLogin(_ context.Context, connID int64) (*store.LineLogin, error) {
	if connID != 1 {
		return nil, connections.ErrNoLineLogin
	}
	return &store.LineLogin{ConnectionID: 1, ChannelID: chanID, WithEmail: f.withEmail}, nil
}

func (f *fakeLogins) LoginCallbackURL() string { return callbackURL }

// IsFriend asks the double's Messaging API, as the registry does.
func (f *fakeLogins) IsFriend(ctx context.Context, _ int64, userID string) (bool, error) {
	cl, err := line.NewClient(line.Options{Token: botToken, APIBaseURL: f.line.URL()})
	if err != nil {
		return false, err
	}
	_, err = cl.Profile(ctx, userID)
	if errors.Is(err, line.ErrNotFriend) {
		return false, nil
	}
	return err == nil, err
}

// fakeLinker knows token "tok-alice" (contact 501), "tok-expired",
// "tok-used"; anything else is invalid.
type fakeLinker struct {
	mu      sync.Mutex
	links   []LinkRequest
	linkErr error
}

func (f *fakeLinker) CheckToken(_ context.Context, connID int64, token string) (string, error) {
	switch {
	case connID == 1 && token == "tok-alice":
		return "501", nil
	case token == "tok-expired":
		return "", ErrTokenExpired
	case token == "tok-used":
		return "", ErrTokenUsed
	}
	return "", ErrTokenInvalid
}

func (f *fakeLinker) Link(_ context.Context, r LinkRequest) (LinkResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.linkErr != nil {
		return LinkResult{}, f.linkErr
	}
	f.links = append(f.links, r)
	return LinkResult{ContactID: r.ContactID}, nil
}

func (f *fakeLinker) got() []LinkRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LinkRequest(nil), f.links...)
}

type env struct {
	t      *testing.T
	app    *fiber.App
	line   *linetest.Server
	linker *fakeLinker
	pages  *Pages
	now    time.Time
}

func newEnv(t *testing.T, tune func(*Options)) *env {
	t.Helper()
	ls := linetest.New(linetest.Options{})
	t.Cleanup(ls.Close)
	ls.AddChannel(linetest.Channel{Secret: "bot-secret", Token: botToken})
	ls.AddLoginChannel(linetest.LoginChannel{ID: chanID, Secret: chanSecret, CallbackURLs: []string{callbackURL}, EmailPermission: true, LinkedBotToken: botToken})
	ls.AddLoginUser(alice)
	ls.AddLoginUser(bob)
	e := &env{t: t, line: ls, linker: &fakeLinker{}, now: time.Now()}
	o := Options{Logins: &fakeLogins{line: ls, withEmail: true}, Linker: e.linker, Now: func() time.Time { return e.now }}
	if tune != nil {
		tune(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.pages = p
	e.app = fiber.New(fiber.Config{Immutable: true})
	p.Routes(e.app)
	return e
}

func (e *env) get(path string, hdr map[string]string) *http.Response {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return string(b)
}

// startLogin opens a link page and returns the authorization URL and the
// cookie header to send back.
func (e *env) startLogin(path string) (authURL, cookie string) {
	e.t.Helper()
	res := e.get(path, nil)
	if res.StatusCode != http.StatusFound {
		e.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body(e.t, res))
	}
	authURL = res.Header.Get("Location")
	if !strings.HasPrefix(authURL, e.line.URL()+"/oauth2/v2.1/authorize?") {
		e.t.Fatalf("redirected to %s, want LINE's authorization URL", authURL)
	}
	sc := res.Header.Get("Set-Cookie")
	name, _, _ := strings.Cut(sc, ";")
	return authURL, name
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// atLINE logs user in at the double and returns the callback's path and
// query on this server.
func (e *env) atLINE(authURL, user string) string {
	e.t.Helper()
	res, err := noRedirect.Get(authURL + "&linetest_user=" + user)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != callbackURL {
		e.t.Fatalf("LINE sent the browser to %q", res.Header.Get("Location"))
	}
	return loc.RequestURI()
}

func TestLinkFlowLinksTheUserOfTheIDToken(t *testing.T) {
	e := newEnv(t, nil)
	authURL, cookie := e.startLogin("/link/1/tok-alice")
	q, _ := url.Parse(authURL)
	if q.Query().Get("bot_prompt") != "aggressive" || q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("scope") != "profile openid email" {
		t.Errorf("authorization URL %s", authURL)
	}
	cb := e.atLINE(authURL, alice.UserID)
	// A parameter naming another user changes nothing: the user comes
	// from the ID token only.
	res := e.get(cb+"&user_id="+bob.UserID+"&sub="+bob.UserID, map[string]string{"Cookie": cookie})
	page := body(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-kind="linked"`) {
		t.Fatalf("callback: %d %s", res.StatusCode, page)
	}
	got := e.linker.got()
	want := LinkRequest{ConnID: 1, ContactID: "501", Token: "tok-alice", How: HowLink,
		Identity: login.Identity{UserID: alice.UserID, Name: alice.Name, PictureURL: alice.PictureURL, Email: alice.Email}}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("links %+v, want [%+v]", got, want)
	}
	// The same callback again (a reload, or a replay) links nothing more.
	res = e.get(cb, map[string]string{"Cookie": cookie})
	if res.StatusCode != http.StatusBadRequest || len(e.linker.got()) != 1 {
		t.Fatalf("replayed callback: %d, links %d", res.StatusCode, len(e.linker.got()))
	}
}

func TestCookieIsHttpOnlySecureLax(t *testing.T) {
	e := newEnv(t, nil)
	res := e.get("/link/1/tok-alice", nil)
	sc := strings.ToLower(res.Header.Get("Set-Cookie"))
	for _, want := range []string{"linehub_link=", "httponly", "secure", "samesite=lax", "path=/link", "max-age=600"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", res.Header)
	}
}

func TestWebsiteLinkLinksByEmail(t *testing.T) {
	e := newEnv(t, nil)
	authURL, cookie := e.startLogin("/link/1")
	res := e.get(e.atLINE(authURL, alice.UserID), map[string]string{"Cookie": cookie})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("callback %d %s", res.StatusCode, body(t, res))
	}
	got := e.linker.got()
	if len(got) != 1 || got[0].How != HowEmail || got[0].Token != "" || got[0].ContactID != "" || got[0].Identity.Email != alice.Email {
		t.Fatalf("links %+v", got)
	}
}

func TestStateMustBeThisBrowsersAndPending(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(cb, cookie string) (string, string)
	}{
		{"other state", func(cb, cookie string) (string, string) {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Set("state", strings.Repeat("a", 64))
			u.RawQuery = q.Encode()
			return u.RequestURI(), cookie
		}},
		{"no cookie", func(cb, _ string) (string, string) { return cb, "" }},
		{"another browser's cookie", func(cb, _ string) (string, string) {
			return cb, cookieName + "=" + strings.Repeat("b", 64)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			authURL, cookie := e.startLogin("/link/1/tok-alice")
			cb, ck := tc.mutate(e.atLINE(authURL, alice.UserID), cookie)
			res := e.get(cb, map[string]string{"Cookie": ck})
			page := body(t, res)
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(page, `data-kind="session"`) {
				t.Fatalf("callback: %d %s", res.StatusCode, page)
			}
			if n := len(e.linker.got()); n != 0 {
				t.Fatalf("%d links from a refused callback", n)
			}
		})
	}
}

func TestExpiredLoginIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	authURL, cookie := e.startLogin("/link/1/tok-alice")
	cb := e.atLINE(authURL, alice.UserID)
	e.now = e.now.Add(pendingTTL)
	res := e.get(cb, map[string]string{"Cookie": cookie})
	if res.StatusCode != http.StatusBadRequest || len(e.linker.got()) != 0 {
		t.Fatalf("callback after 10 minutes: %d, links %d", res.StatusCode, len(e.linker.got()))
	}
}

func TestNonceMismatchLinksNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.line.SetIDTokenTamper(func(c map[string]any) string {
		c["nonce"] = "another-login"
		return ""
	})
	authURL, cookie := e.startLogin("/link/1/tok-alice")
	res := e.get(e.atLINE(authURL, alice.UserID), map[string]string{"Cookie": cookie})
	page := body(t, res)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(page, `data-kind="failed"`) || len(e.linker.got()) != 0 {
		t.Fatalf("nonce mismatch: %d %s, links %d", res.StatusCode, page, len(e.linker.got()))
	}
}

func TestTokenProblemsStartNoLogin(t *testing.T) {
	e := newEnv(t, nil)
	for path, want := range map[string]struct {
		status int
		kind   string
	}{
		"/link/1/tok-expired":                 {http.StatusGone, "expired"},
		"/link/1/tok-used":                    {http.StatusConflict, "used"},
		"/link/1/forged":                      {http.StatusNotFound, "invalid"},
		"/link/1/tok%20alice":                 {http.StatusNotFound, "invalid"},
		"/link/2/tok-alice":                   {http.StatusNotFound, "unavailable"},
		"/link/x/tok-alice":                   {http.StatusNotFound, "invalid"},
		"/link/1/" + strings.Repeat("a", 513): {http.StatusNotFound, "invalid"},
	} {
		res := e.get(path, nil)
		page := body(t, res)
		if res.StatusCode != want.status || !strings.Contains(page, `data-kind="`+want.kind+`"`) {
			t.Errorf("GET %s: %d, want %d %s: %s", path, res.StatusCode, want.status, want.kind, page)
		}
		if res.Header.Get("Set-Cookie") != "" || res.Header.Get("Location") != "" {
			t.Errorf("GET %s started a login", path)
		}
	}
	if n := e.pages.table.len(); n != 0 {
		t.Errorf("%d logins pending", n)
	}
}

func TestLinkerRefusalAtCallbackShowsWhy(t *testing.T) {
	e := newEnv(t, nil)
	e.linker.linkErr = ErrTokenUsed
	authURL, cookie := e.startLogin("/link/1/tok-alice")
	res := e.get(e.atLINE(authURL, alice.UserID), map[string]string{"Cookie": cookie})
	if page := body(t, res); res.StatusCode != http.StatusConflict || !strings.Contains(page, `data-kind="used"`) {
		t.Fatalf("%d %s", res.StatusCode, page)
	}
	e.linker.linkErr = errors.New("HubSpot down")
	authURL, cookie = e.startLogin("/link/1/tok-alice")
	res = e.get(e.atLINE(authURL, alice.UserID), map[string]string{"Cookie": cookie})
	if page := body(t, res); res.StatusCode != http.StatusInternalServerError || !strings.Contains(page, `href="/link/1/tok-alice"`) {
		t.Fatalf("%d %s", res.StatusCode, page)
	}
}

func TestCancelledLoginOffersRetryOnSite(t *testing.T) {
	e := newEnv(t, nil)
	authURL, cookie := e.startLogin("/link/1/tok-alice")
	u, _ := url.Parse(authURL)
	state := u.Query().Get("state")
	cb := "/link/callback?error=access_denied&error_description=The+resource+owner+denied+the+request.&state=" + state
	res := e.get(cb, map[string]string{"Cookie": cookie, "Accept-Language": "en-US,en;q=0.9"})
	page := body(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-kind="cancelled"`) || !strings.Contains(page, `id="retry" href="/link/1/tok-alice"`) {
		t.Fatalf("%d %s", res.StatusCode, page)
	}
	if !strings.Contains(page, "LINE login was cancelled") || len(e.linker.got()) != 0 {
		t.Fatalf("page %s, links %d", page, len(e.linker.got()))
	}
}

func TestPendingLoginsAreBounded(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.PerAddress, o.MaxPending = 3, 5 })
	for i := 0; i < 3; i++ {
		e.startLogin("/link/1/tok-alice")
	}
	res := e.get("/link/1/tok-alice", nil)
	if page := body(t, res); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, `data-kind="busy"`) || res.Header.Get("Retry-After") == "" {
		t.Fatalf("4th login from one address: %d %s", res.StatusCode, page)
	}
	if n := e.pages.table.len(); n != 3 {
		t.Fatalf("%d pending, want 3", n)
	}
	// Expired logins make room again.
	e.now = e.now.Add(pendingTTL)
	e.startLogin("/link/1/tok-alice")
	if n := e.pages.table.len(); n != 1 {
		t.Fatalf("%d pending after expiry, want 1", n)
	}
}

func TestPendingTableCapAcrossAddresses(t *testing.T) {
	tb := newPendingTable(2, 10, time.Minute)
	now := time.Now()
	for i, addr := range []string{"a", "b"} {
		if err := tb.add(strings.Repeat("s", i+1), pending{Client: addr}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.add("sss", pending{Client: "c"}, now); !errors.Is(err, errBusy) {
		t.Fatalf("third login in a table of 2: %v", err)
	}
	if _, ok := tb.take("s", "", now); ok {
		t.Fatal("taken without a binding")
	}
	// take removed it anyway: a state works once.
	if err := tb.add("sss", pending{Client: "c"}, now); err != nil {
		t.Fatalf("after take: %v", err)
	}
}

func TestLanguageIsJapaneseUnlessEnglishPreferred(t *testing.T) {
	e := newEnv(t, nil)
	for accept, want := range map[string]string{
		"":                        "このリンクは無効です",
		"ja-JP,ja;q=0.9":          "このリンクは無効です",
		"fr-FR":                   "このリンクは無効です",
		"en-US,en;q=0.9,ja;q=0.8": "This link is not valid",
		"ja,en;q=0.5":             "このリンクは無効です",
	} {
		res := e.get("/link/1/forged", map[string]string{"Accept-Language": accept})
		if page := body(t, res); !strings.Contains(page, want) {
			t.Errorf("Accept-Language %q: page lacks %q", accept, want)
		}
	}
}

func TestNoLinkerMeansUnavailable(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Linker = nil })
	res := e.get("/link/1/tok-alice", nil)
	if page := body(t, res); res.StatusCode != http.StatusNotFound || !strings.Contains(page, `data-kind="unavailable"`) {
		t.Fatalf("%d %s", res.StatusCode, page)
	}
}

// TestNotAFriendLinksNothing: a person who declines to add the account
// (or a LINE Login channel of another provider, whose user ids the
// Messaging API does not know) is not linked.
func TestNotAFriendLinksNothing(t *testing.T) {
	e := newEnv(t, nil)
	authURL, cookie := e.startLogin("/link/1/tok-alice")
	// The consent page with "Add as friend" unticked.
	res, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), `id="add-friend"`) {
		t.Fatalf("bot_prompt: no add friend option on the consent page: %s", page)
	}
	req := regexpReq.FindStringSubmatch(string(page))[1]
	res, err = noRedirect.PostForm(e.line.URL()+"/oauth2/v2.1/authorize/consent", url.Values{"req": {req}, "user": {bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc.Query().Get("friendship_status_changed") != "false" {
		t.Errorf("friendship_status_changed = %q", loc.Query().Get("friendship_status_changed"))
	}
	res = e.get(loc.RequestURI(), map[string]string{"Cookie": cookie})
	if p := body(t, res); !strings.Contains(p, `data-kind="notfriend"`) || !strings.Contains(p, `href="/link/1/tok-alice"`) {
		t.Fatalf("%d %s", res.StatusCode, p)
	}
	if n := len(e.linker.got()); n != 0 {
		t.Fatalf("%d links for a non-friend", n)
	}
}

var regexpReq = regexp.MustCompile(`name="req" value="([0-9a-f]+)"`)

func TestLinkRefusalsHaveTheirPages(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		kind   string
	}{
		{wrapped(ErrLinkedElsewhere), http.StatusConflict, "elsewhere"},
		{wrapped(ErrNoEmail), http.StatusOK, "noemail"},
		{wrapped(ErrCannotLink), http.StatusConflict, "cannot"},
		{wrapped(ErrTokenExpired), http.StatusGone, "expired"},
	} {
		e := newEnv(t, nil)
		e.linker.linkErr = tc.err
		authURL, cookie := e.startLogin("/link/1/tok-alice")
		res := e.get(e.atLINE(authURL, alice.UserID), map[string]string{"Cookie": cookie})
		if p := body(t, res); res.StatusCode != tc.status || !strings.Contains(p, `data-kind="`+tc.kind+`"`) {
			t.Errorf("%v: %d %s", tc.err, res.StatusCode, p)
		}
	}
}

func wrapped(err error) error { return fmt.Errorf("linking: %w", err) }

// One IPv6 client holds a /64 and could otherwise start logins from as
// many addresses as it likes: the per-address cap counts the /64.
func TestPendingCapCountsAnIPv6Slash64AsOneAddress(t *testing.T) {
	tb := newPendingTable(100, 2, time.Minute)
	now := time.Now()
	for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if err := tb.add(fmt.Sprint("s", i), pending{Client: addr}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.add("s2", pending{Client: "2001:db8:1:2:abcd::5"}, now); !errors.Is(err, errBusy) {
		t.Fatalf("third login from one /64 with a cap of 2: %v", err)
	}
	// Another /64, and IPv4 addresses, count on their own.
	for i, addr := range []string{"2001:db8:1:3::1", "192.0.2.1", "192.0.2.2"} {
		if err := tb.add(fmt.Sprint("t", i), pending{Client: addr}, now); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
	}
	// A login taken frees its /64's place.
	if _, ok := tb.take("s0", "", now); ok {
		t.Fatal("taken without a binding")
	}
	if err := tb.add("s3", pending{Client: "2001:db8:1:2::77"}, now); err != nil {
		t.Fatalf("after take: %v", err)
	}
}
