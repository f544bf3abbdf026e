package linetest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"linehub/app/line/linetest"
)

func TestLoginDoubleVerifyAndProfile(t *testing.T) {
	s := linetest.New(linetest.Options{})
	defer s.Close()
	const id, secret, cb = "1657000001", "0123456789abcdef0123456789abcdef", "https://hub.example.com/link/callback"
	s.AddLoginChannel(linetest.LoginChannel{ID: id, Secret: secret, CallbackURLs: []string{cb}})
	u := linetest.LoginUser{UserID: linetest.NewUserID(), Name: "Hanako", Email: "h@example.com"}
	s.AddLoginUser(u)
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// An unregistered callback URL gets LINE's error page, not a redirect.
	res, _ := nr.Get(s.URL() + "/oauth2/v2.1/authorize?response_type=code&client_id=" + id + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb") + "&state=s&scope=openid")
	res.Body.Close()
	if res.StatusCode != 400 || res.Header.Get("Location") != "" {
		t.Fatalf("unregistered callback: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = nr.Get(s.URL() + "/oauth2/v2.1/authorize?response_type=code&client_id=" + id + "&redirect_uri=" + url.QueryEscape(cb) +
		"&state=s1&scope=openid%20profile&nonce=n1&linetest_user=" + u.UserID)
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	code := loc.Query().Get("code")
	tok := func(form url.Values) (int, map[string]any) {
		res, err := http.PostForm(s.URL()+"/oauth2/v2.1/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb}, "client_id": {id}, "client_secret": {"wrong"}}
	if st, out := tok(form); st != 400 || out["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v", st, out)
	}
	form.Set("client_secret", secret)
	st, out := tok(form)
	if st != 200 || out["token_type"] != "Bearer" || out["id_token"] == nil || out["expires_in"] != float64(2592000) {
		t.Fatalf("token: %d %v", st, out)
	}
	if st, out := tok(form); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("code reused: %d %v", st, out)
	}
	verify := func(v url.Values) (int, map[string]any) {
		res, err := http.PostForm(s.URL()+"/oauth2/v2.1/verify", v)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var o map[string]any
		_ = json.NewDecoder(res.Body).Decode(&o)
		return res.StatusCode, o
	}
	idt := out["id_token"].(string)
	if st, o := verify(url.Values{"id_token": {idt}, "client_id": {id}, "nonce": {"n1"}}); st != 200 || o["sub"] != u.UserID || o["name"] != "Hanako" || o["email"] != nil {
		t.Fatalf("verify: %d %v (no email without the email scope)", st, o)
	}
	if st, o := verify(url.Values{"id_token": {idt}, "client_id": {id}, "nonce": {"other"}}); st != 400 || o["error_description"] != "Invalid IdToken Nonce." {
		t.Fatalf("verify nonce: %d %v", st, o)
	}
	expired := linetest.SignIDToken(secret, map[string]any{"iss": "https://access.line.me", "aud": id, "sub": u.UserID, "exp": time.Now().Add(-time.Second).Unix()})
	if st, o := verify(url.Values{"id_token": {expired}, "client_id": {id}}); st != 400 || o["error_description"] != "IdToken expired." {
		t.Fatalf("verify expired: %d %v", st, o)
	}
	req, _ := http.NewRequest("GET", s.URL()+"/v2/profile", nil)
	req.Header.Set("Authorization", "Bearer "+out["access_token"].(string))
	pres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]string
	_ = json.NewDecoder(pres.Body).Decode(&p)
	pres.Body.Close()
	if pres.StatusCode != 200 || p["userId"] != u.UserID || p["displayName"] != "Hanako" {
		t.Fatalf("profile: %d %v", pres.StatusCode, p)
	}
	if !strings.HasPrefix(res.Header.Get("Location"), cb) {
		t.Errorf("callback %s", res.Header.Get("Location"))
	}
}
