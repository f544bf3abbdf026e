package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

func newTestDemo(t *testing.T, empty bool) (*devDemo, *hubspottest.Server, *linetest.Server) {
	t.Helper()
	hs := hubspottest.New(hubspottest.Options{Token: devHubSpotToken})
	t.Cleanup(hs.Close)
	ln := linetest.New(linetest.Options{})
	t.Cleanup(ln.Close)
	d, err := seedDevDemo(hs, ln, empty, "http://localhost:8080", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d, hs, ln
}

// The seeded accounts list their friends through the follower-ids API, the
// path linehub's import reads, and each friend has a profile with a name.
func TestDevDemoSeedServesFollowersWithNames(t *testing.T) {
	_, hs, ln := newTestDemo(t, false)
	for _, ch := range devChannels {
		var ids []string
		start := ""
		for {
			var page struct {
				UserIDs []string `json:"userIds"`
				Next    string   `json:"next"`
			}
			getJSON(t, ln.URL()+"/v2/bot/followers/ids?limit=100&start="+url.QueryEscape(start), ch.Token, &page)
			ids = append(ids, page.UserIDs...)
			if page.Next == "" {
				break
			}
			start = page.Next
		}
		if len(ids) != devFriendsPerChannel {
			t.Fatalf("%s: %d follower ids, want %d", ch.Name, len(ids), devFriendsPerChannel)
		}
		var prof struct{ DisplayName string }
		getJSON(t, ln.URL()+"/v2/bot/profile/"+ids[42], ch.Token, &prof)
		if prof.DisplayName == "" {
			t.Fatalf("%s: friend %s has no display name", ch.Name, ids[42])
		}
	}
	if n := len(hs.Contacts()); n != len(devContacts) {
		t.Fatalf("%d HubSpot contacts, want %d", n, len(devContacts))
	}
	// The same run twice gives the same friends, so a restarted demo matches
	// what linehub imported before.
	if a, b := devFriend(devChannels[0], 3), devFriend(devChannels[0], 3); a != b || devFriend(devChannels[1], 3) == a {
		t.Fatalf("friend IDs are not stable per channel: %v %v", a, b)
	}
}

func TestDevDemoEmpty(t *testing.T) {
	_, hs, ln := newTestDemo(t, true)
	var page struct{ UserIDs []string }
	getJSON(t, ln.URL()+"/v2/bot/followers/ids", devChannels[0].Token, &page)
	if len(page.UserIDs) != 0 || len(hs.Contacts()) != 0 {
		t.Fatalf("--empty seeded %d friends and %d contacts", len(page.UserIDs), len(hs.Contacts()))
	}
}

func TestDevDemoControlPage(t *testing.T) {
	d, _, ln := newTestDemo(t, false)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()

	// Another site's page must not drive the doubles through the browser.
	req, _ := http.NewRequest("POST", srv.URL+"/channels/0/follow", nil)
	req.Header.Set("Origin", "http://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post: %d, want 403", res.StatusCode)
	}

	// A webhook receiver standing in for linehub, checking LINE's signature.
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Line-Signature") != line.Sign(devChannels[0].Secret, body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = append(got, string(body))
	}))
	defer hook.Close()
	ch := devChannels[0]
	put, _ := http.NewRequest("PUT", ln.URL()+"/v2/bot/channel/webhook/endpoint", strings.NewReader(`{"endpoint":"`+hook.URL+`/webhook"}`))
	put.Header.Set("Authorization", "Bearer "+ch.Token)
	if res, err := http.DefaultClient.Do(put); err != nil || res.StatusCode != 200 {
		t.Fatalf("set webhook: %v %v", res, err)
	}

	post := func(path string, form url.Values) (int, string) {
		res, err := http.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, out := post("/channels/0/message", url.Values{"text": {"テスト"}}); st != 200 || !strings.Contains(out, "テスト") {
		t.Fatalf("message: %d %q", st, out)
	}
	if len(got) != 1 || !strings.Contains(got[0], `"text":"テスト"`) {
		t.Fatalf("webhook bodies: %q", got)
	}
	if st, out := post("/channels/0/message", url.Values{"user": {"Unot-a-friend"}}); st != 400 || !strings.Contains(out, "not a friend") {
		t.Fatalf("message as a stranger: %d %q", st, out)
	}
	if st, out := post("/channels/9/follow", nil); st != 400 {
		t.Fatalf("unknown channel: %d %q", st, out)
	}
	if len(got) != 1 {
		t.Fatalf("refused actions delivered webhooks: %q", got[1:])
	}

	// A list needs contacts with the connection's LINE IDs; before linehub
	// wrote any, the button says so and makes nothing.
	if st, out := post("/lists", url.Values{"serial": {"1"}}); st != 400 || !strings.Contains(out, "line_user_id_1") {
		t.Fatalf("list without LINE contacts: %d %q", st, out)
	}
	if st, out := post("/lists", url.Values{"serial": {"x"}}); st != 400 {
		t.Fatalf("list with a bad serial: %d %q", st, out)
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0"} {
		if l, err := listenLoopback(addr); err == nil {
			l.Close()
			t.Errorf("listenLoopback(%q) listened; want an error", addr)
		}
	}
	l, err := listenLoopback("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

func getJSON(t *testing.T, u, token string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// The demo's LINE Login channel answers an authorization for linehub's
// callback URL (the one passed in) and lets a seeded friend log in, so
// the link pages work against the doubles.
func TestDevDemoLineLogin(t *testing.T) {
	_, _, ln := newTestDemo(t, true)
	friend := devLoginUsers()[0].UserID
	q := url.Values{"response_type": {"code"}, "client_id": {devLoginChannelID}, "redirect_uri": {"http://localhost:8080/link/callback"},
		"state": {"s1"}, "scope": {"openid profile email"}, "nonce": {"n1"}, "bot_prompt": {"aggressive"}, "linetest_user": {friend}}
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := nr.Get(ln.URL() + "/oauth2/v2.1/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || back.Host != "localhost:8080" || back.Path != "/link/callback" || back.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// bot_prompt made the friend (not one yet with --empty) a friend of Shibuya.
	if back.Query().Get("friendship_status_changed") != "true" {
		t.Errorf("friendship_status_changed = %q", back.Query().Get("friendship_status_changed"))
	}
	if len(devLoginSecret) != 32 || strings.Trim(devLoginSecret, "0123456789abcdef") != "" {
		t.Errorf("the printed LINE Login secret %q is not 32 hex digits: linehub would refuse it", devLoginSecret)
	}
}
