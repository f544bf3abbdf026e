package web_test

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// deleteAdmins empties the admin table behind the server's back, as an
// operator with the database could.
func deleteAdmins(t *testing.T, u *uiEnv) {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(u.st.Path()), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	if err := db.Exec("DELETE FROM admins").Error; err != nil {
		t.Fatal(err)
	}
}

// TestSetupClosedAfterAdminsDeleted: once the one-time link is used, an
// emptied admin table does not reopen setup to whoever asks, with or
// without the spent token.
func TestSetupClosedAfterAdminsDeleted(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	if st, _ := u.claim(t).get("/"); st != 200 { // the admin at work
		t.Fatalf("dashboard: %d", st)
	}
	deleteAdmins(t, u)
	tok := strings.SplitN(u.link, "token=", 2)[1]
	for _, tk := range []string{tok, "", "guess"} {
		anon := u.browser(t)
		anon.get("/login") // the pre-sign-in CSRF token
		form := url.Values{"token": {tk}, "email": {"intruder@example.com"}, "password": {adminPass}, "password2": {adminPass}}
		if st, _, loc := anon.post("/setup", form); st != 403 {
			t.Errorf("POST /setup with token %q after the admins were deleted: %d %s, want 403", tk, st, loc)
		}
		if st, _ := anon.get("/setup?token=" + tk); st != 303 {
			t.Errorf("GET /setup with token %q: %d, want a redirect to sign-in", tk, st)
		}
	}
	if has, _ := u.st.HasAdmin(u.ctx); has {
		t.Fatal("an admin was created through /setup without a live setup link")
	}
}

// TestRedirectsStayOnSite: the language switch's return address and the
// page to open after signing in are followed only when they are paths on
// this site; anything a browser could read as another host goes to "/".
func TestRedirectsStayOnSite(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	u.claim(t)
	evil := []string{"/%5Cevil.com", "/%09/evil.com", "//evil.com", "/%0d%0a/evil.com", "https://evil.com", "/%5C%5Cevil.com", "%5C%5Cevil.com"}
	for _, back := range evil {
		b := u.browser(t)
		req, _ := http.NewRequest("GET", u.base+"/lang/en?back="+back, nil)
		if st, _, loc := b.do(req); st != 303 || loc != "/" {
			t.Errorf("/lang/en?back=%s: %d Location %q, want 303 to /", back, st, loc)
		}
	}
	b := u.browser(t)
	req, _ := http.NewRequest("GET", u.base+"/lang/ja?back=/settings%3Fok%3Dx", nil)
	if st, _, loc := b.do(req); st != 303 || loc != "/settings?ok=x" {
		t.Errorf("a path on the site: %d Location %q", st, loc)
	}

	for _, next := range evil {
		b := u.browser(t)
		b.get("/login?next=" + next)
		raw, _ := url.QueryUnescape(next)
		st, _, loc := b.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}, "next": {raw}})
		if st != 303 || loc != "/" {
			t.Errorf("sign-in with next=%s: %d Location %q, want 303 to /", next, st, loc)
		}
		if _, body := b.get("/login?next=" + next); strings.Contains(body, "evil.com") {
			t.Errorf("the sign-in form carries next=%s on", next)
		}
	}
	b = u.browser(t)
	b.get("/login")
	if st, _, loc := b.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}, "next": {"/tokens"}}); st != 303 || loc != "/tokens" {
		t.Errorf("sign-in with next=/tokens: %d %q", st, loc)
	}
}

// TestIconStoredOnlyAsImage: an upload that is a valid PNG with an HTML
// page after its end is stored re-encoded, so the icon served is only
// the image; every answer says nosniff.
func TestIconStoredOnlyAsImage(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	payload := "<html><script>alert(document.cookie)</script></html>"
	polyglot := append(pngIcon(t), payload...)
	b.get("/connections/new")
	st, body, loc := b.postMultipart("/connections", map[string]string{"name": "Shop"}, polyglot)
	if st != 303 {
		t.Fatalf("create with icon: %d %s", st, body)
	}
	iconURL := u.base + strings.SplitN(loc, "?", 2)[0] + "/icon"
	req, _ := http.NewRequest("GET", iconURL, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	icon, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("icon: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if bytes.Contains(icon, []byte("<script")) {
		t.Error("the icon served still carries the HTML that followed the image")
	}
	if _, err := png.Decode(bytes.NewReader(icon)); err != nil {
		t.Errorf("the icon served is not a PNG: %v", err)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("icon served without X-Content-Type-Options: nosniff")
	}
	// An HTML page that names itself a PNG is refused.
	b.get("/connections/new")
	if st, _, _ := b.postMultipart("/connections", map[string]string{"name": "Other"}, []byte("\x89PNG\r\n\x1a\n"+payload)); st != 400 {
		t.Errorf("HTML claiming to be a PNG: %d, want 400", st)
	}
	// nosniff on the other kinds of answer too: JSON errors, static files.
	for _, p := range []string{"/api/v1/status", "/no-such-page", "/static/app.js", "/healthz"} {
		req, _ := http.NewRequest("GET", u.base+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s (%d) without X-Content-Type-Options: nosniff", p, resp.StatusCode)
		}
	}
}
