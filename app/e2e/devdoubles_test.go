package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
)

// TestDevDoublesDemo follows the README's quick start: `linehub dev doubles`
// in one process, linehub pointed at it in another, one seeded account
// connected; then the control page plays the friends' side.
func TestDevDoublesDemo(t *testing.T) {
	bin := binary(t)
	hsAddr, lineAddr, ctlAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	out := &syncBuffer{}
	dd := exec.Command(bin, "dev", "doubles", "--hubspot", hsAddr, "--line", lineAddr, "--control", ctlAddr)
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
	hsURL, lineURL, ctl := "http://"+hsAddr, "http://"+lineAddr, "http://"+ctlAddr
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "Control page") {
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
	printed := out.String()
	second := fmt.Sprintf("LINEHUB_HUBSPOT_BASE_URL=%s LINEHUB_LINE_API_BASE_URL=%s LINEHUB_LINE_DATA_API_BASE_URL=%s go run .", hsURL, lineURL, lineURL)
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
