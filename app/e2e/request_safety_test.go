package e2e

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

var (
	setupTokenRE = regexp.MustCompile(`/setup\?token=([A-Za-z0-9_-]+)`)
	formCSRFRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// formClient is a browser without JavaScript: it keeps cookies, does not
// follow redirects, and posts forms with the CSRF token of the last page.
type formClient struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string
}

func newFormClient(t *testing.T, e *env) *formClient {
	jar, _ := cookiejar.New(nil)
	return &formClient{t: t, e: e, c: &http.Client{Jar: jar, Transport: &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (f *formClient) do(req *http.Request) (int, string) {
	f.t.Helper()
	resp, err := f.c.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := formCSRFRE.FindSubmatch(body); m != nil {
		f.csrf = string(m[1])
	}
	return resp.StatusCode, string(body)
}

func (f *formClient) get(path string) (int, string) {
	req, _ := http.NewRequest("GET", f.e.url(path), nil)
	return f.do(req)
}

func (f *formClient) post(path string, form url.Values) (int, string) {
	f.t.Helper()
	form.Set("csrf", f.csrf)
	req, _ := http.NewRequest("POST", f.e.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.do(req)
}

// claimAdmin creates the admin account through the printed setup link and
// returns the signed-in browser.
func claimAdmin(t *testing.T, e *env) *formClient {
	t.Helper()
	m := setupTokenRE.FindStringSubmatch(e.logs.String())
	if m == nil {
		t.Fatalf("no setup link in the log:\n%s", e.logs.String())
	}
	admin := newFormClient(t, e)
	if st, _ := admin.get("/setup?token=" + m[1]); st != 200 {
		t.Fatalf("setup link: %d", st)
	}
	const pw = "Tr0ub4dor&3-horse"
	if st, body := admin.post("/setup", url.Values{"token": {m[1]}, "email": {"owner@example.com"}, "password": {pw}, "password2": {pw}}); st != 303 {
		t.Fatalf("claim: %d %s", st, body)
	}
	return admin
}

// TestWizardURLNotRewrittenByStrangers: the admin finishes the wizard
// with a full https:// public URL through the browser forms; then anyone
// posts sign-in forms (no account needed); the webhook URLs linehub hands
// out, new and old, must still be on the admin's URL.
func TestWizardURLNotRewrittenByStrangers(t *testing.T) {
	// No public_url in the environment: the wizard's URL is the one used.
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_PUBLIC_URL="}})
	admin := claimAdmin(t, e)
	// The public URL is saved last so that nothing but strangers' requests
	// come after it (the wizard's own next steps would reuse the buffer too).
	admin.get("/wizard/hubspot")
	if st, body := admin.post("/settings/hubspot", url.Values{"step": {"hubspot"}, "token": {hubspotToken}}); st != 303 {
		t.Fatalf("hubspot step: %d %s", st, body)
	}
	if st, body := admin.post("/settings/tier", url.Values{"step": {"tier"}, "tier": {"starter"}}); st != 303 {
		t.Fatalf("tier step: %d %s", st, body)
	}
	const public = "https://line.example.com"
	admin.get("/wizard/domain")
	if st, body := admin.post("/settings/domain", url.Values{"step": {"domain"}, "public_url": {public}}); st != 303 {
		t.Fatalf("domain step: %d %s", st, body)
	}
	before := e.connect("Shop Tokyo")
	if !strings.HasPrefix(before.WebhookURL, public+"/webhook/") {
		t.Fatalf("webhook_url right after the wizard = %q", before.WebhookURL)
	}

	// The admin closes the tab; strangers post sign-in forms, each on a
	// connection of its own, with the form's four fields.
	admin.c.CloseIdleConnections()
	stranger := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 200 {
		form := url.Values{"csrf": {strings.Repeat("c", 43)}, "next": {"/"},
			"email": {fmt.Sprintf("someone%d@shop.co.jp.invalid", i)}, "password": {"hunter2hunter2"}}
		resp, err := stranger.PostForm(e.url("/login"), form)
		if err != nil {
			t.Fatalf("sign-in post %d: %v", i, err)
		}
		resp.Body.Close()
	}

	after := e.connect("Shop Osaka")
	var again connection
	if st := e.api("GET", fmt.Sprintf("/connections/%d", before.ID), nil, &again); st != 200 {
		t.Fatalf("GET connection: %d", st)
	}
	for _, c := range []connection{after, again} {
		if !strings.HasPrefix(c.WebhookURL, public+"/webhook/") {
			t.Errorf("%s: webhook_url after strangers' sign-in posts = %q, want it on %s", c.Name, c.WebhookURL, public)
		}
	}
	if _, page := admin.get(fmt.Sprintf("/connections/%d", after.ID)); !strings.Contains(page, after.WebhookURL) || !strings.Contains(page, public+"/webhook/") {
		t.Errorf("the connection page does not show %s/webhook/…", public)
	}
}

// TestCompressedBodiesCannotExhaustMemory sends a small compressed body
// that inflates to 200 MB to every public POST route and to an API route
// (with a valid token), in every coding fasthttp or fiber can inflate. The
// linehub process's peak RSS must stay within 100 MB of its idle peak, and
// it must go on answering.
func TestCompressedBodiesCannotExhaustMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 200 MB bombs")
	}
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Bomb Shop")
	key := strings.TrimPrefix(c.WebhookURL, e.url("/webhook/"))
	pid := e.cmd.Process.Pid
	idle := vmHWM(t, pid)

	const inflated = 200 << 20
	bombs := map[string][]byte{"gzip": bomb(t, "gzip", inflated), "deflate": bomb(t, "deflate", inflated), "br": bomb(t, "br", inflated)}
	t.Logf("bombs of %d MiB: gzip %d B, deflate %d B, br %d B; idle VmHWM %d B",
		inflated>>20, len(bombs["gzip"]), len(bombs["deflate"]), len(bombs["br"]), idle)

	form := "multipart/form-data; boundary=b0undary"
	for _, r := range []struct{ path, ctype string }{
		{"/login", form},
		{"/setup", form},
		{"/login", "application/x-www-form-urlencoded"},
		{"/webhook/" + key, "application/json"},
		{"/hooks/hubspot/send/" + key, "application/json"},
		{"/api/v1/dead-letters/retry", "application/json"},
		{"/api/v1/connections", "application/json"},
	} {
		for _, enc := range []string{"gzip", "deflate", "br"} {
			req, _ := http.NewRequest("POST", e.url(r.path), bytes.NewReader(bombs[enc]))
			req.Header.Set("Content-Type", r.ctype)
			req.Header.Set("Content-Encoding", enc)
			if strings.HasPrefix(r.path, "/api/") {
				req.Header.Set("Authorization", "Bearer "+e.token)
			}
			resp, err := http.DefaultClient.Do(req)
			status, answer := 0, ""
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
				resp.Body.Close()
				status, answer = resp.StatusCode, string(b)
			}
			peak := vmHWM(t, pid)
			t.Logf("POST %s (%s, %s): %d %q, VmHWM %d MiB", r.path, r.ctype, enc, status, answer, peak>>20)
			if peak-idle > 100<<20 {
				t.Fatalf("POST %s with Content-Encoding %s grew linehub's peak RSS by %d MiB (idle %d MiB, now %d MiB)",
					r.path, enc, (peak-idle)>>20, idle>>20, peak>>20)
			}
			if err != nil {
				t.Fatalf("POST %s with Content-Encoding %s: %v", r.path, enc, err)
			}
			// The dashboard's forms get an error page, the rest JSON.
			want := `"error"`
			if r.path == "/login" || r.path == "/setup" {
				want = "<html"
			}
			if status != http.StatusUnsupportedMediaType || !strings.Contains(answer, want) {
				t.Errorf("POST %s with Content-Encoding %s: %d %s, want 415 with %s", r.path, enc, status, answer, want)
			}
			resp, err = http.Get(e.url("/healthz"))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("/healthz after POST %s with Content-Encoding %s: %v %v", r.path, enc, resp, err)
			}
			resp.Body.Close()
		}
	}
}

// bomb is n zero bytes compressed in the named coding.
func bomb(t *testing.T, enc string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case "deflate":
		// Content-Encoding "deflate" is the zlib format (RFC 9110 8.4.1.2).
		w, _ = zlib.NewWriterLevel(&buf, zlib.BestCompression)
	case "br":
		w = brotli.NewWriterLevel(&buf, brotli.BestSpeed)
	default:
		t.Fatalf("no coding %q", enc)
	}
	zeros := make([]byte, 1<<20)
	for written := 0; written < n; written += len(zeros) {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestConcurrentSignInsKeepMemoryBounded: each password check takes
// 19 MiB (argon2id), and sign-in attempts need no account; 100 at once
// must not take 100 × 19 MiB (1.9 GB). The bound leaves room for the
// garbage collector's slack over the few checks that run at a time.
func TestConcurrentSignInsKeepMemoryBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	claimAdmin(t, e)
	pid := e.cmd.Process.Pid
	idle := vmHWM(t, pid)

	const n = 100
	csrf := strings.Repeat("c", 43) // the double-submit check wants cookie = field
	start := make(chan struct{})
	statuses := make(chan int, n)
	for i := range n {
		go func() {
			<-start
			form := url.Values{"csrf": {csrf}, "next": {"/"}, "email": {fmt.Sprintf("guess%d@example.com", i)}, "password": {"not-the-password-1"}}
			req, _ := http.NewRequest("POST", e.url("/login"), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: "linehub_csrf", Value: csrf})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	close(start)
	counts := map[int]int{}
	for range n {
		counts[<-statuses]++
	}
	peak := vmHWM(t, pid)
	t.Logf("answers %v; VmHWM idle %d MiB, after %d MiB", counts, idle>>20, peak>>20)
	if counts[http.StatusUnauthorized] == 0 {
		t.Fatalf("no attempt reached the password check: %v", counts)
	}
	if peak-idle > 300<<20 {
		t.Errorf("%d concurrent sign-in attempts grew linehub's peak RSS by %d MiB", n, (peak-idle)>>20)
	}
	if resp, err := http.Get(e.url("/healthz")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz after the sign-in burst: %v %v", resp, err)
	}
}
