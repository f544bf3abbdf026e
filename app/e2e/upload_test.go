package e2e

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
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
