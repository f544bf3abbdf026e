package login_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"linehub/app/line/linetest"
	"linehub/app/line/login"
)

const (
	chanID     = "1657000001"
	chanSecret = "login-secret-0123456789abcdef"
	callback   = "https://hub.example.com/link/callback"
	botToken   = "bot-token"
)

var alice = linetest.LoginUser{UserID: "U0123456789abcdef0123456789abcdef", Name: "Alice", PictureURL: "https://profile.line-scdn.net/a", Email: "alice@example.com"}

type env struct {
	line   *linetest.Server
	client *login.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ls := linetest.New(linetest.Options{})
	t.Cleanup(ls.Close)
	ls.AddChannel(linetest.Channel{Secret: "bot-secret", Token: botToken})
	ls.AddLoginChannel(linetest.LoginChannel{ID: chanID, Secret: chanSecret, CallbackURLs: []string{callback}, EmailPermission: true, LinkedBotToken: botToken})
	ls.AddLoginUser(alice)
	cl, err := login.New(login.Options{ChannelID: chanID, ChannelSecret: chanSecret, RedirectURI: callback, AuthBaseURL: ls.URL(), APIBaseURL: ls.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{line: ls, client: cl}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize follows the authorization URL as the browser would, logging
// in as user, and returns the callback's query.
func authorize(t *testing.T, startURL, user string) url.Values {
	t.Helper()
	res, err := noRedirect.Get(startURL + "&linetest_user=" + user)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d, want 302", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %s, want the callback", got)
	}
	return loc.Query()
}

func TestBeginBuildsDocumentedAuthorizationURL(t *testing.T) {
	e := newEnv(t)
	st, err := e.client.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.URL)
	if u.Path != "/oauth2/v2.1/authorize" {
		t.Errorf("path %s", u.Path)
	}
	q := u.Query()
	want := map[string]string{
		"response_type": "code", "client_id": chanID, "redirect_uri": callback, "state": st.State,
		"scope": "profile openid email", "nonce": st.Nonce, "bot_prompt": "aggressive",
		"code_challenge": login.Challenge(st.Verifier), "code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if strings.Contains(u.RawQuery, "+") {
		t.Errorf("scope spaces should be %%20: %s", u.RawQuery)
	}
	if len(st.Verifier) < 43 || len(st.Verifier) > 128 {
		t.Errorf("verifier length %d, RFC 7636 wants 43..128", len(st.Verifier))
	}
	st2, _ := e.client.Begin(false)
	if st2.State == st.State || st2.Nonce == st.Nonce || st2.Verifier == st.Verifier {
		t.Error("state, nonce and verifier must be fresh for every login")
	}
	if got, _ := url.Parse(st2.URL); got.Query().Get("scope") != "profile openid" {
		t.Errorf("without email scope = %q", got.Query().Get("scope"))
	}
}

func TestFinishGoodFlow(t *testing.T) {
	e := newEnv(t)
	st, _ := e.client.Begin(true)
	cb := authorize(t, st.URL, alice.UserID)
	if cb.Get("state") != st.State {
		t.Fatalf("state %q, want %q", cb.Get("state"), st.State)
	}
	if cb.Get("friendship_status_changed") != "true" {
		t.Errorf("friendship_status_changed = %q: bot_prompt=aggressive adds the linked account", cb.Get("friendship_status_changed"))
	}
	id, err := e.client.Finish(context.Background(), cb.Get("code"), st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	want := login.Identity{UserID: alice.UserID, Name: alice.Name, PictureURL: alice.PictureURL, Email: alice.Email}
	if id != want {
		t.Errorf("identity %+v, want %+v", id, want)
	}
}

func TestFinishWithoutEmailScopeHasNoEmail(t *testing.T) {
	e := newEnv(t)
	st, _ := e.client.Begin(false)
	cb := authorize(t, st.URL, alice.UserID)
	id, err := e.client.Finish(context.Background(), cb.Get("code"), st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "" {
		t.Errorf("email %q without the email scope", id.Email)
	}
}

func TestFinishRefusals(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(claims map[string]any) string
		mutate func(code, verifier, nonce *string)
		want   error
	}{
		{name: "nonce mismatch", mutate: func(_, _, n *string) { *n = strings.Repeat("0", 64) }, want: login.ErrIDToken},
		{name: "PKCE verifier mismatch", mutate: func(_, v, _ *string) { *v = strings.Repeat("A", 43) }, want: login.ErrCodeRejected},
		{name: "unknown code", mutate: func(c, _, _ *string) { *c = "nope" }, want: login.ErrCodeRejected},
		{name: "expired ID token", tamper: func(c map[string]any) string {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
			return ""
		}, want: login.ErrIDToken},
		{name: "forged ID token", tamper: func(map[string]any) string { return "someone-elses-secret" }, want: login.ErrIDToken},
		{name: "wrong audience", tamper: func(c map[string]any) string {
			c["aud"] = "1999999999"
			return ""
		}, want: login.ErrIDToken},
		{name: "wrong issuer", tamper: func(c map[string]any) string {
			c["iss"] = "https://evil.example"
			return ""
		}, want: login.ErrIDToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.line.SetIDTokenTamper(tc.tamper)
			st, _ := e.client.Begin(false)
			cb := authorize(t, st.URL, alice.UserID)
			code, verifier, nonce := cb.Get("code"), st.Verifier, st.Nonce
			if tc.mutate != nil {
				tc.mutate(&code, &verifier, &nonce)
			}
			id, err := e.client.Finish(context.Background(), code, verifier, nonce)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Finish = %+v, %v; want %v", id, err, tc.want)
			}
			if id != (login.Identity{}) {
				t.Errorf("a refused login returned an identity: %+v", id)
			}
		})
	}
}

func TestCodeWorksOnce(t *testing.T) {
	e := newEnv(t)
	st, _ := e.client.Begin(false)
	cb := authorize(t, st.URL, alice.UserID)
	if _, err := e.client.Finish(context.Background(), cb.Get("code"), st.Verifier, st.Nonce); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.Finish(context.Background(), cb.Get("code"), st.Verifier, st.Nonce)
	if !errors.Is(err, login.ErrCodeRejected) {
		t.Fatalf("reused code: %v, want ErrCodeRejected", err)
	}
}

func TestCodeExpiresAfterTenMinutes(t *testing.T) {
	now := time.Now()
	ls := linetest.New(linetest.Options{Now: func() time.Time { return now }})
	defer ls.Close()
	ls.AddLoginChannel(linetest.LoginChannel{ID: chanID, Secret: chanSecret, CallbackURLs: []string{callback}})
	ls.AddLoginUser(alice)
	cl, _ := login.New(login.Options{ChannelID: chanID, ChannelSecret: chanSecret, RedirectURI: callback, AuthBaseURL: ls.URL(), APIBaseURL: ls.URL()})
	st, _ := cl.Begin(false)
	cb := authorize(t, st.URL, alice.UserID)
	now = now.Add(linetest.LoginCodeTTL)
	if _, err := cl.Finish(context.Background(), cb.Get("code"), st.Verifier, st.Nonce); !errors.Is(err, login.ErrCodeRejected) {
		t.Fatalf("expired code: %v, want ErrCodeRejected", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []login.Options{
		{ChannelID: "abc", ChannelSecret: "s", RedirectURI: callback},
		{ChannelID: chanID, ChannelSecret: "", RedirectURI: callback},
		{ChannelID: chanID, ChannelSecret: "s", RedirectURI: "/link/callback"},
	} {
		if _, err := login.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestVerifyIDTokenRefusesOtherAlgorithms(t *testing.T) {
	now := time.Now()
	claims := map[string]any{"iss": login.Issuer, "sub": alice.UserID, "aud": chanID, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nonce": "n"}
	good := linetest.SignIDToken(chanSecret, claims)
	if _, err := login.VerifyIDToken(good, chanID, chanSecret, "n", now); err != nil {
		t.Fatalf("good token: %v", err)
	}
	parts := strings.Split(good, ".")
	// "alg":"none" with an empty signature must not pass.
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	if _, err := login.VerifyIDToken(none, chanID, chanSecret, "n", now); !errors.Is(err, login.ErrIDToken) {
		t.Errorf("alg none accepted: %v", err)
	}
	// A changed payload keeps the old signature: refused.
	claims["sub"] = "Uffffffffffffffffffffffffffffffff"
	altered := strings.Split(linetest.SignIDToken(chanSecret, claims), ".")[1]
	if _, err := login.VerifyIDToken(parts[0]+"."+altered+"."+parts[2], chanID, chanSecret, "n", now); !errors.Is(err, login.ErrIDToken) {
		t.Errorf("altered payload accepted: %v", err)
	}
}
