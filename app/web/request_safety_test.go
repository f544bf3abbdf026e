package web_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"linehub/app/web"
)

// TestWizardPublicURLSurvivesLaterRequests: the public URL saved in the
// wizard is what every webhook URL is built from, so strangers' requests
// (form posts to /login, which need no sign-in) must not change it.
func TestWizardPublicURLSurvivesLaterRequests(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true, NoPublicURL: true})
	b := u.claim(t)
	b.get("/wizard/domain")
	const public = "https://line.example.com"
	if st, _, _ := b.post("/settings/domain", url.Values{"public_url": {public}, "step": {"domain"}}); st != 303 {
		t.Fatalf("domain step: %d", st)
	}
	// The admin's connection goes back to the server's pool, as it does
	// when a browser closes it.
	b.c.CloseIdleConnections()

	stranger := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 100 {
		form := url.Values{"csrf": {strings.Repeat("x", 43)}, "next": {"/"},
			"email": {fmt.Sprintf("someone%d@shop.co.jp.invalid", i)}, "password": {"guess-guess-guess"}}
		resp, err := stranger.PostForm(u.base+"/login", form)
		if err != nil {
			t.Fatalf("login post %d: %v", i, err)
		}
		resp.Body.Close()
	}

	ch := u.newChannel("Shop")
	st, out := u.api("POST", "/api/v1/connections", map[string]string{"name": "Shop", "channel_secret": ch.secret})
	if st != http.StatusCreated {
		t.Fatalf("create connection: %d %v", st, out)
	}
	if wh, _ := out["webhook_url"].(string); !strings.HasPrefix(wh, public+"/webhook/") {
		t.Fatalf("webhook_url after strangers' form posts = %q, want it on %s", wh, public)
	}
}

// TestCompressedBodiesRefused: a body declared compressed is refused with
// 415 on every route before anything inflates it (a 1 MB gzip bomb would
// become gigabytes in memory); an "identity" coding is no coding.
func TestCompressedBodiesRefused(t *testing.T) {
	e := newEnv(t, envOpts{HubSpotConfigured: true})
	c := e.createConn("Shop", true, true)
	auth := "Bearer " + e.apiToken
	for _, route := range []struct{ path, ctype, auth string }{
		{"/login", "multipart/form-data; boundary=x", ""},
		{"/login", "application/x-www-form-urlencoded", ""},
		{"/setup", "multipart/form-data; boundary=x", ""},
		{"/webhook/" + c.key, "application/json", ""},
		{"/hooks/hubspot/send/" + c.key, "application/json", ""},
		{"/api/v1/dead-letters/retry", "application/json", auth},
		{"/api/v1/connections", "application/json", auth},
	} {
		for _, enc := range []string{"gzip", "deflate", "br", "GZIP", "gzip, gzip", "identity, gzip", "zstd"} {
			hdr := map[string]string{"Content-Type": route.ctype, "Content-Encoding": enc}
			if route.auth != "" {
				hdr["Authorization"] = route.auth
			}
			st, _, body := e.do("POST", route.path, hdr, compressed(t, enc))
			if st != http.StatusUnsupportedMediaType || !bytes.Contains(body, []byte("Content-Encoding")) {
				t.Errorf("POST %s with Content-Encoding %q: %d %s, want 415 naming Content-Encoding", route.path, enc, st, body)
			}
		}
	}
	// Two Content-Encoding headers: fiber would decode by the last one.
	req, _ := http.NewRequest("POST", "/api/v1/dead-letters/retry", bytes.NewReader(compressed(t, "gzip")))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Content-Encoding", "identity")
	req.Header.Add("Content-Encoding", "gzip")
	resp, err := e.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("identity then gzip: %d, want 415", resp.StatusCode)
	}

	// identity is served as usual.
	hdr := map[string]string{"Content-Type": "application/json", "Content-Encoding": "identity", "Authorization": auth}
	if st, _, body := e.do("POST", "/api/v1/dead-letters/retry", hdr, []byte(`{}`)); st != http.StatusOK {
		t.Errorf("identity body: %d %s", st, body)
	}
}

// compressed is ~1 MiB of zeros in the named coding (raw zeros for
// codings the test cannot produce: the server must refuse before looking).
func compressed(t *testing.T, enc string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zeros := make([]byte, 1<<20)
	switch strings.ToLower(strings.SplitN(enc, ",", 2)[0]) {
	case "gzip":
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(zeros)
		_ = w.Close()
	case "deflate":
		w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
		_, _ = w.Write(zeros)
		_ = w.Close()
	default:
		return zeros[:1024]
	}
	return buf.Bytes()
}

// TestPanicAnswers500: a handler that panics (here the webhook, given no
// bridge) gets a logged 500 with the stack, and the server goes on
// answering.
func TestPanicAnswers500(t *testing.T) {
	e := newEnv(t, envOpts{})
	logs := &lockedBuffer{}
	app := web.New(web.Options{Store: e.st, Config: e.cfg, Version: "test",
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	e.app = app
	st, _, body := e.do("POST", "/webhook/abc", map[string]string{"Content-Type": "application/json"}, []byte(`{}`))
	if st != http.StatusInternalServerError || !strings.Contains(string(body), "internal error; the server log has the details") {
		t.Fatalf("panicking handler: %d %s", st, body)
	}
	if l := logs.String(); !strings.Contains(l, "handler panicked") || !strings.Contains(l, "runtime/debug.Stack") {
		t.Errorf("the panic is not logged with its stack:\n%s", l)
	}
	if st, _, body := e.do("GET", "/healthz", nil, nil); st != http.StatusOK {
		t.Fatalf("after a panic: /healthz %d %s", st, body)
	}
}
