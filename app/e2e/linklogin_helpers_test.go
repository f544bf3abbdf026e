package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// The LINE Login channel the link tests register in the LINE double (a
// channel ID is a number; a channel secret 32 hex digits).
const (
	e2eLoginChannelID = "1657004242"
	e2eLoginSecret    = "00112233445566778899aabbccddeeff"
)

// The seven LINE properties every linked contact carries, per connection.
var sevenLINEProperties = []string{"line_user_id", "line_user_name", "line_user_picture", "line_follow",
	"line_id_sync_date", "line_unanswered", "line_last_response"}

const mergePath = "POST /crm/objects/2026-03/contacts/merge"

// addLoginChannel registers a LINE Login channel for c in the LINE double:
// callback URL of this linehub, email permission, linked to c's account
// (so bot_prompt can make the person a friend), same provider.
func (e *env) addLoginChannel(c connection) {
	e.LINE.AddLoginChannel(linetest.LoginChannel{ID: loginChannelIDOf(c), Secret: e2eLoginSecret,
		CallbackURLs: []string{e.url("/link/callback")}, EmailPermission: true, LinkedBotToken: c.token})
}

// friendWithDummy makes uid a friend of c (a follow webhook) and returns
// the dummy-email contact linehub makes for it; uid can also log in with
// LINE Login, with email.
func (e *env) friendWithDummy(c connection, uid, name, email string) string {
	e.t.Helper()
	pic := "https://profile.line-scdn.net/" + uid
	e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: name, PictureURL: pic})
	e.LINE.AddLoginUser(linetest.LoginUser{UserID: uid, Name: name, PictureURL: pic, Email: email})
	if st := e.deliver(c, linetest.FollowEvent(uid, false, time.Now())); st != 200 {
		e.t.Fatalf("deliver follow of %s: %d", name, st)
	}
	e.settled()
	var id string
	e.eventually("the dummy contact of "+name, func() bool {
		for _, ct := range e.HS.Contacts() {
			if strings.EqualFold(ct.Properties["email"], dummyEmail(uid)) {
				id = ct.ID
				return true
			}
		}
		return false
	})
	return id
}

func dummyEmail(uid string) string { return strings.ToLower(uid) + "@line.example.com" }

// setUpLinking sets up LINE Login on c's connection page, turns linking
// on and writes link URLs to the list named list, in the admin's browser,
// and waits until the contact waitFor has its link URL, which it returns.
func (b *browser) setUpLinking(c connection, list, waitFor string) string {
	b.t.Helper()
	e := b.e
	b.run("LINE Login on the connection page",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d", c.ID))),
		chromedp.WaitVisible(chromedp.ID("login_channel_id")),
		chromedp.SendKeys(chromedp.ID("login_channel_id"), loginChannelIDOf(c)),
		chromedp.SendKeys(chromedp.ID("login_channel_secret"), e2eLoginSecret),
		chromedp.Click(chromedp.ID("login_email")),
		chromedp.Click(chromedp.ID("save-line-login")),
		chromedp.WaitVisible(chromedp.ID("login-ready")),
		b.valueIs("login-callback-url", e.url("/link/callback")),
		b.valueIs("login-site-link", e.url(fmt.Sprintf("/link/%d", c.ID))),
	)
	b.run("linking on, link URLs for a list",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d/linking", c.ID))),
		chromedp.WaitVisible(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("save-linking")),
		chromedp.WaitVisible(chromedp.ID("lq")),
		chromedp.SendKeys(chromedp.ID("lq"), list),
		chromedp.Click(chromedp.ID("find-lists")),
		chromedp.WaitVisible(chromedp.ID("lists")),
		chromedp.Click(chromedp.CSS("#lists button.link-btn")),
		chromedp.WaitVisible(chromedp.ID("link-job")),
	)
	prop := fmt.Sprintf("line_link_url_%d", c.Serial)
	var link string
	e.eventually("the link URL of contact "+waitFor, func() bool {
		ct, _ := e.HS.Contact(waitFor)
		link = ct.Properties[prop]
		return link != ""
	})
	if want := e.url(fmt.Sprintf("/link/%d/", c.ID)); !strings.HasPrefix(link, want) {
		b.t.Fatalf("link URL %q does not start with %q", link, want)
	}
	return link
}

// loginChannelIDOf gives each connection its own LINE Login channel ID.
func loginChannelIDOf(c connection) string {
	return e2eLoginChannelID + strconv.Itoa(c.Serial)
}

func (b *browser) valueIs(id, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		got, err := chromedp.Value(chromedp.ID(id))(ctx, t)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("#%s = %q, want %q", id, got, want)
		}
		return nil
	})
}

// lang makes the browser ask for lang first (Accept-Language), as a phone
// set to that language does.
func (b *browser) lang(lang string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": lang}})
		return err
	})
}

// kindIs checks which link page the browser shows (data-kind of #main).
func (b *browser) kindIs(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.WaitVisible(chromedp.ID("main"))(ctx, t); err != nil {
			return err
		}
		attrs, err := chromedp.Attributes(chromedp.ID("main"))(ctx, t)
		if err != nil {
			return err
		}
		if attrs["data-kind"] != want {
			text, _ := chromedp.Text(chromedp.ID("main"))(ctx, t)
			return fmt.Errorf("link page %q (%q), want %q", attrs["data-kind"], text, want)
		}
		return nil
	})
}

// linkShots saves screenshots of the link pages, phone (375 px) first:
// docs/screenshots/link-NN-<name>-<lang>-mobile.jpg (and -desktop.jpg
// when asked) with LINEHUB_SCREENSHOTS=1, else into a temp dir.
type linkShots struct {
	t   *testing.T
	dir string
}

func newLinkShots(t *testing.T) *linkShots {
	s := &linkShots{t: t, dir: t.TempDir()}
	if os.Getenv("LINEHUB_SCREENSHOTS") == "1" {
		s.dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	return s
}

func (s *linkShots) shot(n int, name, lang string, desktop bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		type vp struct {
			suffix        string
			width, height int64
			mobile        bool
		}
		vps := []vp{{"mobile", 375, 740, true}}
		if desktop {
			vps = append(vps, vp{"desktop", 1280, 860, false})
		}
		for _, v := range vps {
			_, err := chromedp.EmulateViewport(v.width, v.height, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
				p.Mobile = v.mobile
			})(ctx, t)
			var buf []byte
			if err == nil {
				buf, err = chromedp.FullScreenshot(80)(ctx, t)
			}
			if err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			file := filepath.Join(s.dir, fmt.Sprintf("link-%02d-%s-%s-%s.jpg", n, name, lang, v.suffix))
			if err := os.WriteFile(file, buf, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// linkAs opens a link in the browser as the customer would and logs in
// on the LINE double's page as uid (adding the account as a friend).
func (b *browser) linkAs(link, uid string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("login-"+uid)),
		chromedp.Click(chromedp.ID("login-"+uid)),
		chromedp.WaitVisible(chromedp.ID("main")),
	)
}

// visitor is a browser without a browser: a cookie jar and no redirects
// followed, so each step of a login can be looked at or tampered with.
type visitor struct {
	t *testing.T
	c *http.Client
}

func newVisitor(t *testing.T) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var kindRE = regexp.MustCompile(`data-kind="([a-z]+)"`)

// get answers the status, the link page's kind ("" for another page) and
// the redirect.
func (v *visitor) get(u string) (int, string, string) {
	v.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept-Language", "en")
	res, err := v.c.Do(req)
	if err != nil {
		v.t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	kind := ""
	if m := kindRE.FindSubmatch(body); m != nil {
		kind = string(m[1])
	}
	return res.StatusCode, kind, res.Header.Get("Location")
}

// toLINE opens a link and returns the LINE authorization URL it redirects to.
func (v *visitor) toLINE(link string) string {
	v.t.Helper()
	st, kind, loc := v.get(link)
	if st != http.StatusFound || !strings.Contains(loc, "/oauth2/v2.1/authorize?") {
		v.t.Fatalf("GET %s: %d %q %q, want a redirect to LINE Login", link, st, kind, loc)
	}
	return loc
}

// loginAt logs uid in on LINE's authorization URL (the double's shortcut
// for the consent page) and returns the callback URL LINE sends back to.
func (v *visitor) loginAt(auth, uid string) string {
	v.t.Helper()
	st, _, loc := v.get(auth + "&linetest_user=" + uid)
	if st != http.StatusFound || !strings.Contains(loc, "/link/callback?") {
		v.t.Fatalf("LINE Login as %s: %d %q", uid, st, loc)
	}
	return loc
}

// link opens a link, logs in as uid and returns the final page.
func (v *visitor) link(link, uid string) (int, string) {
	v.t.Helper()
	st, kind, _ := v.get(v.loginAt(v.toLINE(link), uid))
	return st, kind
}

// hubspotState is what HubSpot holds that a link could change: every
// contact's properties, merges and timeline notes.
func hubspotState(hs *hubspottest.Server) string {
	var b strings.Builder
	for _, c := range hs.Contacts() {
		keys := make([]string, 0, len(c.Properties))
		for k := range c.Properties {
			if k == "lastmodifieddate" || k == "hs_lastmodifieddate" {
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "%s:", c.ID)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, c.Properties[k])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "merges %d, notes %d\n", hs.RequestsByPath()[mergePath], len(hs.AllNotes()))
	return b.String()
}

// queryDB answers one number from linehub's database; SQLite lets a
// reader in while linehub runs.
func (e *env) queryDB(q string, args ...any) int64 {
	e.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dataDir, "linehub.db")+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		e.t.Fatalf("open database: %v", err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// expiredLink is a link of c for contactID that expired an hour ago,
// signed with the key linehub keeps (read with linehub stopped), in the
// token format of app/linking/token.go: what a link mailed 91 days ago
// looks like today.
func (e *env) expiredLink(c connection, contactID string) string {
	e.t.Helper()
	running := e.cmd != nil
	if running {
		e.stop()
	}
	st, err := store.Open(e.dataDir, store.Options{})
	if err != nil {
		e.t.Fatalf("open store: %v", err)
	}
	key, err := st.LinkTokenKey(context.Background())
	st.Close()
	if err != nil {
		e.t.Fatalf("link token key: %v", err)
	}
	if running {
		e.start()
	}
	cid, _ := strconv.ParseUint(contactID, 10, 64)
	b := []byte{1}
	b = bin.AppendUvarint(b, uint64(c.ID))
	b = bin.AppendUvarint(b, cid)
	b = bin.AppendUvarint(b, uint64(time.Now().Add(-time.Hour).Unix()))
	m := hmac.New(sha256.New, key)
	m.Write([]byte("linehub link token\x00"))
	m.Write(b)
	b = append(b, m.Sum(nil)[:16]...)
	return e.url(fmt.Sprintf("/link/%d/%s", c.ID, base64.RawURLEncoding.EncodeToString(b)))
}

// createConflict asks HubSpot's API to create a contact with email and
// returns the id of the contact the 409 names ("" when it was created).
func (e *env) createConflict(email string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"properties": map[string]string{"email": email}})
	req, _ := http.NewRequest("POST", e.HS.URL()+"/crm/objects/2026-03/contacts", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+hubspotToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusConflict {
		e.t.Errorf("create a contact with %s: %d %s, want 409", email, res.StatusCode, raw)
		return ""
	}
	_, id, _ := strings.Cut(string(raw), "Existing ID: ")
	id, _, _ = strings.Cut(id, `"`)
	return id
}
