package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestOversizedIconWithoutScript: a browser without JavaScript sends a
// 14 MB photo as a connection's icon (over the 8 MB request limit). It
// must get the form back in the admin's language with what was typed, not
// a reset connection; ten such uploads at once must not make linehub hold
// 14 MB each (the body is read and thrown away, not kept).
func TestOversizedIconWithoutScript(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	admin := claimAdmin(t, e)
	if st, _ := admin.get("/lang/ja?back=/connections/new"); st != 303 {
		t.Fatalf("language: %d", st)
	}
	if st, _ := admin.get("/connections/new"); st != 200 {
		t.Fatalf("new-connection form: %d", st)
	}
	upload := func() (int, string, error) {
		pr, pw := io.Pipe()
		w := multipart.NewWriter(pw)
		go func() {
			_ = w.WriteField("csrf", admin.csrf)
			_ = w.WriteField("name", "東京店")
			_ = w.WriteField("description", "駅前の店舗")
			fw, _ := w.CreateFormFile("icon", "photo.jpg")
			chunk := make([]byte, 1<<20)
			copy(chunk, []byte{0xff, 0xd8, 0xff, 0xe0})
			for range 14 {
				if _, err := fw.Write(chunk); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			pw.CloseWithError(w.Close())
		}()
		body := &sizedReader{r: pr}
		req, _ := http.NewRequest("POST", e.url("/connections"), body)
		req.ContentLength = multipartSize(w.Boundary(), admin.csrf)
		req.Header.Set("Content-Type", w.FormDataContentType())
		resp, err := admin.c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	st, body, err := upload()
	if err != nil {
		t.Fatalf("14 MB icon without script: %v (want the form back, not a reset connection)", err)
	}
	if st != 413 || !strings.Contains(body, "512 KB 以下") || !strings.Contains(body, `value="東京店"`) || !strings.Contains(body, "駅前の店舗</textarea>") {
		t.Fatalf("14 MB icon without script: %d, want 413 with the form, what was typed and the Japanese message:\n%s", st, body)
	}

	pid := e.cmd.Process.Pid
	before := vmHWM(t, pid)
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, err := upload()
			if err == nil && st != 413 {
				err = fmt.Errorf("status %d", st)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("one of %d concurrent 14 MB uploads: %v", n, err)
		}
	}
	after := vmHWM(t, pid)
	t.Logf("VmHWM before %d MiB, after %d concurrent 14 MB uploads %d MiB", before>>20, n, after>>20)
	if after-before > 40<<20 {
		t.Errorf("%d concurrent 14 MB uploads grew linehub's peak RSS by %d MiB (holding them would be %d MiB)", n, (after-before)>>20, n*14)
	}
	var list struct {
		Connections []map[string]any `json:"connections"`
	}
	if st := e.api("GET", "/connections", nil, &list); st != 200 || len(list.Connections) != 0 {
		t.Errorf("a connection was created: %d %v", st, list.Connections)
	}
}

// sizedReader hides the pipe's type so that net/http sends the declared
// Content-Length, as a browser does, rather than chunked.
type sizedReader struct{ r io.Reader }

func (s *sizedReader) Read(p []byte) (int, error) { return s.r.Read(p) }

// multipartSize is the length of upload's body: the same parts written
// to a counter.
func multipartSize(boundary, csrf string) int64 {
	var c countWriter
	w := multipart.NewWriter(&c)
	_ = w.SetBoundary(boundary)
	_ = w.WriteField("csrf", csrf)
	_ = w.WriteField("name", "東京店")
	_ = w.WriteField("description", "駅前の店舗")
	fw, _ := w.CreateFormFile("icon", "photo.jpg")
	_, _ = fw.Write(make([]byte, 14<<20))
	_ = w.Close()
	return int64(c)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// TestChatImageUploadOverHTTPS: linehub behind an HTTPS front (its public
// URL is https://); the admin uploads a photo with a chat reply; LINE's
// double receives an image message whose two addresses are HTTPS on the
// public URL, and fetching them as LINE's app would gives JPEGs within
// LINE's limits (original ≤ 10 MB, preview ≤ 1 MB), kept 0600 in a 0700
// directory of the data directory.
func TestChatImageUploadOverHTTPS(t *testing.T) {
	var backend string
	front := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL.Scheme, r.Out.URL.Host = "http", backend
		r.SetXForwarded()
	}})
	t.Cleanup(front.Close)
	e := newEnv(t, envOptions{Env: []string{"LINEHUB_PUBLIC_URL=" + front.URL}})
	backend = e.addr
	e.configureHubSpot("starter")

	// The admin's browser talks to the HTTPS front (the cookies are Secure).
	jar, _ := cookiejar.New(nil)
	tr := front.Client().Transport
	admin := &formClient{t: t, e: e, c: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	abs := func(path string) string { return front.URL + path }
	m := setupTokenRE.FindStringSubmatch(e.logs.String())
	if m == nil {
		t.Fatalf("no setup link in the log")
	}
	req, _ := http.NewRequest("GET", abs("/setup?token="+m[1]), nil)
	if st, _ := admin.do(req); st != 200 {
		t.Fatalf("setup link: %d", st)
	}
	const pw = "Tr0ub4dor&3-horse"
	form := url.Values{"csrf": {admin.csrf}, "token": {m[1]}, "email": {"owner@example.com"}, "password": {pw}, "password2": {pw}}
	req, _ = http.NewRequest("POST", abs("/setup"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, body := admin.do(req); st != 303 {
		t.Fatalf("claim: %d %s", st, body)
	}

	shop := e.connect("Shop")
	friend := linetest.NewUserID()
	e.LINE.AddFriend(shop.token, line.Profile{UserID: friend, DisplayName: "Yamada Hanako"})
	hook := e.url(strings.TrimPrefix(shop.WebhookURL, front.URL))
	if st, err := e.LINE.Deliver(context.Background(), hook, shop.token, linetest.TextMessageEvent(friend, "Do you have a photo of the shop?", time.Now())); err != nil || st != 200 {
		t.Fatalf("deliver: %d %v", st, err)
	}
	e.settled()

	chat := fmt.Sprintf("/connections/%d/chat/%s", shop.ID, friend)
	req, _ = http.NewRequest("GET", abs(chat), nil)
	if st, body := admin.do(req); st != 200 || !strings.Contains(body, `name="upload"`) {
		t.Fatalf("chat page: %d", st)
	}
	img := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	for y := 0; y < 1200; y++ {
		for x := 0; x < 1600; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 3), uint8(x ^ y), 0xff})
		}
	}
	var photo bytes.Buffer
	_ = jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95})
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("csrf", admin.csrf)
	_ = w.WriteField("idem", "photo-1")
	_ = w.WriteField("text", "Here is our shop.")
	fw, _ := w.CreateFormFile("upload", "shop.jpg")
	_, _ = fw.Write(photo.Bytes())
	_ = w.Close()
	req, _ = http.NewRequest("POST", abs(chat+"/reply"), &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if st, page := admin.do(req); st != 303 {
		t.Fatalf("reply with a photo: %d\n%s", st, page)
	}

	var sent []json.RawMessage
	for _, r := range e.LINE.Replies(shop.token) {
		sent = append(sent, r.Messages...)
	}
	for _, p := range e.LINE.Pushes(shop.token) {
		sent = append(sent, p.Messages...)
	}
	if len(sent) != 2 {
		t.Fatalf("LINE received %d messages, want the text and the image: %s", len(sent), sent)
	}
	var msg struct {
		Type               string `json:"type"`
		OriginalContentURL string `json:"originalContentUrl"`
		PreviewImageURL    string `json:"previewImageUrl"`
	}
	if err := json.Unmarshal(sent[1], &msg); err != nil || msg.Type != "image" {
		t.Fatalf("second message: %s", sent[1])
	}
	for _, u := range []struct {
		url  string
		max  int
		side int
	}{{msg.OriginalContentURL, 10 << 20, 1600}, {msg.PreviewImageURL, 1 << 20, 640}} {
		if !strings.HasPrefix(u.url, front.URL+"/media/chat/") || len(u.url) > 2000 {
			t.Fatalf("image address %q is not on the HTTPS public URL", u.url)
		}
		// Fetched without a session, as LINE's app does.
		resp, err := front.Client().Get(u.url)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || len(data) > u.max || err != nil || format != "jpeg" || max(cfg.Width, cfg.Height) != u.side {
			t.Fatalf("GET %s: %d %s, %d bytes, %s %dx%d %v", u.url, resp.StatusCode, resp.Header.Get("Content-Type"), len(data), format, cfg.Width, cfg.Height, err)
		}
		t.Logf("%s: %d bytes, %dx%d", u.url[len(front.URL):], len(data), cfg.Width, cfg.Height)
	}
	dir := filepath.Join(e.dataDir, "chat-images")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("image directory %s: %v %v", dir, fi, err)
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		if fi, _ := f.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want 0600", f.Name(), fi.Mode())
		}
	}
	if len(files) != 2 {
		t.Errorf("files in %s: %v, want the image and its preview", dir, files)
	}
}
