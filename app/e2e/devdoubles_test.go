package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
)

// TestDevDoublesDemo follows the README's quick start: `linehub dev doubles`
// in one process, linehub pointed at it in another, one seeded account
// connected; then the control page plays the friends' side.
func TestDevDoublesDemo(t *testing.T) {
	bin := binary(t)
	hsAddr, lineAddr, ctlAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	out := startDevDoubles(t, bin, "--hubspot", hsAddr, "--line", lineAddr, "--control", ctlAddr)
	hsURL, lineURL, ctl := "http://"+hsAddr, "http://"+lineAddr, "http://"+ctlAddr
	printed := out.String()
	second := fmt.Sprintf("LINEHUB_HUBSPOT_BASE_URL=%s LINEHUB_LINE_API_BASE_URL=%s LINEHUB_LINE_DATA_API_BASE_URL=%s LINEHUB_LINE_LOGIN_BASE_URL=%s LINEHUB_LINE_LOGIN_API_BASE_URL=%s go run .",
		hsURL, lineURL, lineURL, lineURL, lineURL)
	for _, want := range []string{second, "http://localhost:8080", "dev-hubspot-token", "Starter / free",
		"dev-shibuya-channel-secret", "dev-shibuya-channel-token", ctl + "/"} {
		if !strings.Contains(printed, want) {
			t.Errorf("next steps do not name %q:\n%s", want, printed)
		}
	}

	// linehub as the printed second command runs it. The harness's own
	// doubles stay unused: the later variables replace theirs.
	e := &env{t: t, bin: bin, dataDir: t.TempDir(), addr: freeAddr(t),
		extra: []string{"LINEHUB_HUBSPOT_BASE_URL=" + hsURL, "LINEHUB_LINE_API_BASE_URL=" + lineURL, "LINEHUB_LINE_DATA_API_BASE_URL=" + lineURL}}
	e.HS = hubspottest.New(hubspottest.Options{Token: hubspotToken})
	t.Cleanup(e.HS.Close)
	e.LINE = linetest.New(linetest.Options{})
	t.Cleanup(e.LINE.Close)
	tok, err := e.command("token", "create", "--name", "e2e").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	e.token = strings.TrimSpace(string(tok))
	e.start()
	t.Cleanup(e.stop)

	var hsOut map[string]any
	if st := e.api("PUT", "/hubspot", map[string]string{"token": "dev-hubspot-token", "tier": "starter"}, &hsOut); st != 200 {
		t.Fatalf("PUT /hubspot with the printed token: %d %v", st, hsOut)
	}
	var c connection
	if st := e.api("POST", "/connections", map[string]string{"name": "Shibuya",
		"channel_secret": "dev-shibuya-channel-secret", "channel_access_token": "dev-shibuya-channel-token"}, &c); st != 201 {
		t.Fatalf("connect the seeded Shibuya account: %d %+v", st, c)
	}

	// Before the webhook is registered the control page says what to do.
	if msg, failed := controlPost(t, ctl+"/channels/0/message", url.Values{"text": {"hello"}}); !failed || !strings.Contains(msg, "Register webhook URL with LINE") {
		t.Fatalf("message before registration: failed=%v %q", failed, msg)
	}
	// What "Register webhook URL with LINE" asks LINE to do.
	req, _ := http.NewRequest("PUT", lineURL+"/v2/bot/channel/webhook/endpoint", strings.NewReader(`{"endpoint":"`+c.WebhookURL+`"}`))
	req.Header.Set("Authorization", "Bearer dev-shibuya-channel-token")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("set webhook endpoint: %v %v", res, err)
	}
	res.Body.Close()
	if page := controlGet(t, ctl+"/"); !strings.Contains(page, c.WebhookURL) || !strings.Contains(page, "Friends / 友だち: 150") {
		t.Fatalf("control page does not show the webhook URL %s and 150 friends:\n%s", c.WebhookURL, page)
	}

	// The seeded friends come in through the follower-ids import, named.
	if st := e.api("POST", fmt.Sprintf("/connections/%d/import", c.ID), nil, nil); st >= 300 {
		t.Fatalf("import: %d", st)
	}
	friends := func() []demoFriend {
		var fs struct{ Friends []demoFriend }
		e.api("GET", fmt.Sprintf("/connections/%d/friends?limit=1000", c.ID), nil, &fs)
		return fs.Friends
	}
	e.eventually("150 imported friends", func() bool { return len(friends()) == 150 })
	for _, f := range friends() {
		if f.DisplayName == "" {
			t.Fatalf("imported friend %s has no name", f.UserID)
		}
	}

	// A new friend from the page arrives with a name, not waiting for a profile.
	msg, failed := controlPost(t, ctl+"/channels/0/follow", nil)
	if failed {
		t.Fatalf("add friend: %s", msg)
	}
	e.eventually("the new friend, named", func() bool {
		fs := friends()
		return len(fs) == 151 && fs[150].DisplayName != "" && strings.Contains(msg, fs[150].DisplayName)
	})

	// A message sent as a chosen friend is accepted and shown as theirs.
	who := friends()[7]
	text := "予約の変更はできますか？ e2e"
	if msg, failed := controlPost(t, ctl+"/channels/0/message", url.Values{"user": {who.UserID}, "text": {text}}); failed {
		t.Fatalf("send as friend: %s", msg)
	}
	e.eventually("the friend's message in linehub", func() bool {
		for _, f := range friends() {
			if f.UserID == who.UserID {
				return f.LastResponse == text
			}
		}
		return false
	})
	e.settled()

	// The README's curl line: the outcome comes back as text.
	res, err = http.Post(ctl+"/channels/1/message", "application/x-www-form-urlencoded", strings.NewReader("text=こんにちは"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(body), "Register webhook URL with LINE") {
		t.Fatalf("curl to the unregistered Osaka account: %d %q", res.StatusCode, body)
	}

	// The list button gives a broadcast a real audience.
	if msg, failed := controlPost(t, ctl+"/lists", url.Values{"serial": {fmt.Sprint(c.Serial)}, "name": {"デモ配信 e2e"}}); failed || !strings.Contains(msg, "151 contacts") {
		t.Fatalf("make list: failed=%v %q", failed, msg)
	}
	var lists struct{ Lists []struct{ ID, Name string } }
	if st := e.api("GET", "/hubspot/lists?q="+url.QueryEscape("デモ配信"), nil, &lists); st != 200 || len(lists.Lists) != 1 {
		t.Fatalf("list search: %d %+v", st, lists)
	}
	var p struct{ Recipients int }
	if st := e.api("POST", fmt.Sprintf("/connections/%d/broadcasts/preview", c.ID), map[string]string{"list_id": lists.Lists[0].ID}, &p); st != 200 || p.Recipients != 151 {
		t.Fatalf("broadcast preview: %d, %d recipients, want 151", st, p.Recipients)
	}
	// The seeded lists exist too, for the list search to show.
	if st := e.api("GET", "/hubspot/lists?q=Newsletter", nil, &lists); st != 200 || len(lists.Lists) != 1 {
		t.Fatalf("seeded list search: %d %+v", st, lists)
	}
}

// startDevDoubles runs `linehub dev doubles` with args until the test ends
// and waits for its next steps; it returns its output.
func startDevDoubles(t *testing.T, bin string, args ...string) *syncBuffer {
	t.Helper()
	out := &syncBuffer{}
	dd := exec.Command(bin, append([]string{"dev", "doubles"}, args...)...)
	dd.Stdout, dd.Stderr = out, out
	if err := dd.Start(); err != nil {
		t.Fatalf("start dev doubles: %v", err)
	}
	ddDone := make(chan struct{})
	go func() { _ = dd.Wait(); close(ddDone) }()
	t.Cleanup(func() {
		_ = dd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ddDone:
		case <-time.After(10 * time.Second):
			_ = dd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("dev doubles output:\n%s", out.tail(100))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "To try linking") {
		select {
		case <-ddDone:
			t.Fatalf("dev doubles exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev doubles printed no next steps:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out
}

type demoFriend struct {
	UserID       string `json:"user_id"`
	DisplayName  string `json:"display_name"`
	LastResponse string `json:"last_response"`
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// controlPost submits a control-page form and returns the outcome it
// redirects to.
func controlPost(t *testing.T, u string, form url.Values) (msg string, failed bool) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("POST %s: %d %q", u, res.StatusCode, res.Header.Get("Location"))
	}
	if e := loc.Query().Get("error"); e != "" {
		return e, true
	}
	return loc.Query().Get("done"), false
}

func controlGet(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestDevDoublesLinking walks the README's quick start to linking in
// headless Chromium: linehub started with exactly the variables `linehub
// dev doubles` prints, the seeded account connected and its friends
// imported, LINE Login set up with the printed channel, linking on and
// link URLs written to the seeded newsletter list; then a link from the
// control page, a login on the LINE Login double's page, and the friend's
// dummy contact merged into the customer's; the website link links a
// friend by email and gives the newcomer a contact with their email.
func TestDevDoublesLinking(t *testing.T) {
	chromium := chromiumPath(t)
	bin := binary(t)
	hsAddr, lineAddr, ctlAddr, addr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	out := startDevDoubles(t, bin, "--hubspot", hsAddr, "--line", lineAddr, "--control", ctlAddr, "--linehub", "http://"+addr)
	ctl := "http://" + ctlAddr
	printed := out.String()
	var vars []string
	for _, l := range strings.Split(printed, "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), "go run .") {
			for _, f := range strings.Fields(l) {
				if strings.HasPrefix(f, "LINEHUB_") {
					vars = append(vars, f)
				}
			}
		}
	}
	login := regexp.MustCompile(`channel ID ([0-9]+)\s+channel secret ([0-9a-f]{32})`).FindStringSubmatch(printed)
	if len(vars) == 0 || login == nil {
		t.Fatalf("no command or LINE Login channel in the next steps:\n%s", printed)
	}
	for _, want := range []string{"LINEHUB_LINE_LOGIN_BASE_URL=http://" + lineAddr, "LINEHUB_LINE_LOGIN_API_BASE_URL=http://" + lineAddr} {
		if !slices.Contains(vars, want) {
			t.Fatalf("the printed command lacks %s: %v", want, vars)
		}
	}

	// linehub as the printed command runs it; the harness's doubles are
	// there only because env needs them: the printed variables come later
	// and win, so a LINE Login variable missing from the print fails here.
	e := &env{t: t, bin: bin, dataDir: t.TempDir(), addr: addr, extra: vars}
	e.HS = hubspottest.New(hubspottest.Options{Token: hubspotToken})
	t.Cleanup(e.HS.Close)
	e.LINE = linetest.New(linetest.Options{})
	t.Cleanup(e.LINE.Close)
	tok, err := e.command("token", "create", "--name", "e2e").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	e.token = strings.TrimSpace(string(tok))
	e.start()
	t.Cleanup(e.stop)
	b := newBrowser(t, e, chromium)
	b.setUpWith("owner@example.com", "Tr0ub4dor&3-horse", "dev-hubspot-token")
	var c connection
	if st := e.api("POST", "/connections", map[string]string{"name": "Shibuya",
		"channel_secret": "dev-shibuya-channel-secret", "channel_access_token": "dev-shibuya-channel-token"}, &c); st != 201 {
		t.Fatalf("connect the seeded Shibuya account: %d %+v", st, c)
	}
	if st := e.api("POST", fmt.Sprintf("/connections/%d/import", c.ID), nil, nil); st >= 300 {
		t.Fatalf("import: %d", st)
	}
	e.eventually("150 imported friends", func() bool { return len(listAllFriends(t, e, c.ID)) == 150 })
	e.settled()

	b.run("LINE Login with the printed channel, linking on, link URLs for the newsletter",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d", c.ID))),
		chromedp.WaitVisible(chromedp.ID("login_channel_id")),
		chromedp.SendKeys(chromedp.ID("login_channel_id"), login[1]),
		chromedp.SendKeys(chromedp.ID("login_channel_secret"), login[2]),
		chromedp.Click(chromedp.ID("login_email")),
		chromedp.Click(chromedp.ID("save-line-login")),
		chromedp.WaitVisible(chromedp.ID("login-ready")),
		chromedp.Click(chromedp.ID("linking-link")),
		chromedp.WaitVisible(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("linking-enabled")),
		chromedp.Click(chromedp.ID("save-linking")),
		chromedp.WaitVisible(chromedp.ID("lq")),
		chromedp.SendKeys(chromedp.ID("lq"), "Newsletter"),
		chromedp.Click(chromedp.ID("find-lists")),
		chromedp.WaitVisible(chromedp.ID("lists")),
		chromedp.Click(chromedp.CSS("#lists button.link-btn")),
		chromedp.WaitVisible(chromedp.ID("link-job")),
	)
	e.eventually("link URLs on the control page", func() bool { return strings.Contains(controlGet(t, ctl+"/"), `id="link-urls"`) })
	users := regexp.MustCompile(`<li>[^<]* <code>(U[0-9a-f]{32})</code>`).FindAllStringSubmatch(controlGet(t, ctl+"/"), -1)
	if len(users) != 3 {
		t.Fatalf("%d LINE Login users on the control page, want 3", len(users))
	}
	friend, byEmail, newcomer := users[0][1], users[1][1], users[2][1]
	emailOf := regexp.MustCompile(`\(([^)]+@[^)]+)\): <a href="`)
	var first string
	b.run("open the first link on the control page, log in as a friend",
		chromedp.Navigate(ctl+"/"), chromedp.WaitVisible(chromedp.ID("link-urls")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			html, err := chromedp.OuterHTML(chromedp.CSS("#link-urls li"))(ctx, tg)
			if m := emailOf.FindStringSubmatch(html); m != nil {
				first = m[1]
			}
			return err
		}),
		chromedp.Click(chromedp.CSS("#link-urls a")),
		chromedp.WaitVisible(chromedp.ID("login-"+friend)),
		chromedp.Click(chromedp.ID("login-"+friend)),
		b.kindIs("linked"),
	)
	contact := func(email string) map[string]string {
		t.Helper()
		var got map[string]string
		e.eventually("the contact of "+email+" linked", func() bool {
			got = devContact(t, "http://"+hsAddr, email)
			return got["line_user_id_1"] != ""
		})
		return got
	}
	// The friend's dummy contact was merged into the customer's.
	if p := contact(first); p["line_user_id_1"] != friend || p["hs_merged_object_ids"] == "" {
		t.Fatalf("the contact of %s after the link: %v", first, p)
	}
	site := e.url(fmt.Sprintf("/link/%d", c.ID))
	b.run("the website link: a friend by email, then a newcomer",
		b.linkAs(site, byEmail), b.kindIs("linked"),
		b.linkAs(site, newcomer), b.kindIs("linked"))
	if p := contact("hanako.sato@example.com"); p["line_user_id_1"] != byEmail {
		t.Errorf("hanako.sato's contact: %v", p)
	}
	if p := contact("yui.arai@example.net"); p["line_user_id_1"] != newcomer {
		t.Errorf("the newcomer's contact: %v", p)
	}
}

// devContact reads a contact of the dev HubSpot double by email, through
// its API as any client would.
func devContact(t *testing.T, hsURL, email string) map[string]string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"idProperty": "email", "inputs": []map[string]string{{"id": email}},
		"properties": []string{"email", "line_user_id_1", "hs_merged_object_ids"}})
	req, _ := http.NewRequest("POST", hsURL+"/crm/objects/2026-03/contacts/batch/read", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-hubspot-token")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Results []struct{ Properties map[string]string }
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	if len(out.Results) != 1 {
		return nil
	}
	return out.Results[0].Properties
}
