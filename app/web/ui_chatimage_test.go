package web_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"linehub/app/line/linetest"
)

// postFile sends the reply form with a file in field "upload".
func (b *browser) postFile(path string, fields map[string]string, name string, data []byte) (int, string, string) {
	b.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("csrf", b.last)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("upload", name)
	_, _ = fw.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest("POST", b.abs(path), &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}

func testPhoto(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 0x80, 0xff})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUIChatImageUpload: a photo uploaded with a chat reply is refused in
// the admin's language while linehub's public address is not HTTPS, when
// it is no image or too large; with an HTTPS address it is re-encoded,
// kept under an unguessable name (0600 in a 0700 directory) and sent as
// LINE's image message whose two addresses serve a JPEG, the preview
// within LINE's 1 MB.
func TestUIChatImageUpload(t *testing.T) {
	u, b, c := messagingUI(t)
	u.cfg.DataDir = t.TempDir() // the harness's store needs none
	uid := linetest.NewUserID()
	u.friendWithContact(c, uid, "Aiko")
	chat := "/connections/" + c.id + "/chat/" + uid
	b.header = http.Header{"Accept-Language": {"ja"}}
	// Without an HTTPS public URL the form says why there is no upload.
	if body := b.wantPage(chat, 200, `id="reply-upload-off"`, "公開 URL が https:// で始まる場合だけです"); strings.Contains(body, `name="upload"`) {
		t.Error("the form offers an upload LINE could not load")
	}
	photo := testPhoto(t, 1200, 900)

	// http public address: LINE could not load the image.
	st, body, _ := b.postFile(chat+"/reply", map[string]string{"text": "写真です", "idem": "up-0"}, "photo.jpg", photo)
	if st != 400 || !strings.Contains(body, "公開 URL が https:// で始まる場合だけです") || !strings.Contains(body, "写真です</textarea>") {
		t.Fatalf("upload with an http public URL: %d, want 400 with the HTTPS message and the text kept\n%s", st, body)
	}
	u.cfg.PublicURL = "https://linehub.example.com"
	b.header = http.Header{"Accept-Language": {"en"}}
	b.wantPage(chat, 200, `enctype="multipart/form-data"`, `name="upload"`, `data-max-bytes="6291456"`)
	if st, body, _ := b.postFile(chat+"/reply", map[string]string{"text": "look", "idem": "up-1"}, "notes.jpg", []byte("just some text, not a picture")); st != 400 || !strings.Contains(body, "not a JPEG or PNG picture") {
		t.Fatalf("text file: %d\n%s", st, body)
	}
	var huge bytes.Buffer
	_ = png.Encode(&huge, image.NewGray(image.Rect(0, 0, 5000, 10)))
	if st, body, _ := b.postFile(chat+"/reply", map[string]string{"text": "look", "idem": "up-2"}, "wide.png", huge.Bytes()); st != 400 || !strings.Contains(body, "at most 6 MB and 4096×4096 pixels") {
		t.Fatalf("5000 px wide: %d\n%s", st, body)
	}
	if st, body, _ := b.postFile(chat+"/reply", map[string]string{"text": "look", "idem": "up-3"}, "big.jpg", append(photo, make([]byte, 6<<20)...)); st != 400 || !strings.Contains(body, "at most 6 MB") {
		t.Fatalf("7 MB upload: %d\n%s", st, body)
	}
	// Over the server's 8 MB request limit, sent without the page's
	// script: the form comes back, with what was typed.
	if st, body, _ := b.postFile(chat+"/reply", map[string]string{"text": "look at this", "idem": "up-5"}, "huge.jpg", append(photo, make([]byte, 10<<20)...)); st != 413 || !strings.Contains(body, "at most 6 MB") || !strings.Contains(body, "look at this</textarea>") {
		t.Fatalf("11 MB upload: %d, want 413 with the form and the text kept\n%s", st, body)
	}
	if p := u.ln.Pushes(c.ch.token); len(p) != 0 {
		t.Fatalf("a refused upload sent something: %+v", p)
	}

	if st, body, _ := b.postFile(chat+"/reply", map[string]string{"text": "our new shop", "idem": "up-4"}, "photo.jpg", photo); st != 303 {
		t.Fatalf("upload: %d\n%s", st, body)
	}
	p := u.ln.Pushes(c.ch.token)
	if len(p) != 1 || len(p[0].Messages) != 2 || p[0].Texts[0] != "our new shop" {
		t.Fatalf("pushes: %+v", p)
	}
	var img struct {
		Type, OriginalContentURL, PreviewImageURL string
	}
	if err := json.Unmarshal(p[0].Messages[1], &img); err != nil || img.Type != "image" {
		t.Fatalf("second message: %s %v", p[0].Messages[1], err)
	}
	const prefix = "https://linehub.example.com/media/chat/"
	if !strings.HasPrefix(img.OriginalContentURL, prefix) || !strings.HasSuffix(img.OriginalContentURL, ".jpg") ||
		!strings.HasPrefix(img.PreviewImageURL, prefix) || img.PreviewImageURL == img.OriginalContentURL {
		t.Fatalf("image message: %+v", img)
	}
	for _, tc := range []struct {
		url      string
		max      int
		w, h     int
		filename string
	}{{img.OriginalContentURL, 10 << 20, 1200, 900, ""}, {img.PreviewImageURL, 1 << 20, 640, 480, ""}} {
		resp, err := http.Get(u.base + strings.TrimPrefix(tc.url, "https://linehub.example.com"))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || len(data) > tc.max {
			t.Fatalf("GET %s without a session: %d %s %d bytes", tc.url, resp.StatusCode, resp.Header.Get("Content-Type"), len(data))
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || format != "jpeg" || cfg.Width != tc.w || cfg.Height != tc.h {
			t.Errorf("%s: %s %dx%d %v, want a %dx%d JPEG", tc.url, format, cfg.Width, cfg.Height, err, tc.w, tc.h)
		}
	}
	dir := filepath.Join(u.cfg.DataDir, "chat-images")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("image directory: %v %v, want 0700", fi.Mode(), err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 2 {
		t.Errorf("image files: %v, want the image and its preview", files)
	}
	for _, f := range files {
		if fi, _ := f.Info(); fi.Mode().Perm() != 0o600 || len(strings.SplitN(f.Name(), ".", 2)[0]) < 64 {
			t.Errorf("%s: %v, want 0600 under a 64-hex-digit name", f.Name(), fi.Mode())
		}
	}
	for _, bad := range []string{"/media/chat/../linehub.db", "/media/chat/" + strings.Repeat("0", 64) + ".jpg", "/media/chat/abc.jpg"} {
		if resp, err := http.Get(u.base + bad); err == nil {
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 404", bad, resp.StatusCode)
			}
		}
	}
	b.wantPage(chat, 200, "<p>our new shop</p>", "<p>[Image]</p>")
}
