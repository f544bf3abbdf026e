package web_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestErrorPagesInBrowser: a page that does not exist answers a page in
// the admin's language with the right status, the menu when signed in
// (none when not) and a way back, never the API's raw JSON; the API and
// the machine endpoints keep answering JSON.
func TestErrorPagesInBrowser(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	for _, lang := range []struct{ code, title, back string }{
		{"ja", "ページが見つかりません", "ダッシュボードに戻る"},
		{"en", "Page not found", "Back to the dashboard"},
	} {
		b.header = http.Header{"Accept-Language": {lang.code}}
		for _, path := range []string{"/nope", "/connections/999", "/connections/999/friends", "/broadcasts/999", "/templates/999", "/jobs/runs/999", "/wizard/foo"} {
			st, body := b.get(path)
			if st != 404 {
				t.Errorf("%s %s: status %d, want 404", lang.code, path, st)
			}
			for _, want := range []string{"<html", lang.title, lang.back, `id="logout"`, `href="/settings"`} {
				if !strings.Contains(body, want) {
					t.Errorf("%s %s: page lacks %q:\n%s", lang.code, path, want, body)
				}
			}
			if strings.Contains(body, `{"error"`) {
				t.Errorf("%s %s: raw JSON error in the page", lang.code, path)
			}
		}
	}

	out := u.browser(t)
	out.header = http.Header{"Accept-Language": {"ja"}}
	st, body := out.get("/nope")
	if st != 404 || !strings.Contains(body, "ページが見つかりません") || !strings.Contains(body, `href="/login"`) {
		t.Errorf("signed out /nope: %d %s", st, body)
	}
	if strings.Contains(body, `id="logout"`) || strings.Contains(body, `href="/settings"`) {
		t.Errorf("signed out /nope shows the menu:\n%s", body)
	}

	for _, path := range []string{"/api/nope", "/api/v1/connections/999", "/webhook/nope"} {
		req, _ := http.NewRequest("GET", out.abs(path), nil)
		req.Header.Set("Authorization", "Bearer "+u.apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode < 400 || !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: %d %s, want a JSON error", path, resp.StatusCode, ct)
		}
	}
}

// TestIconTooLargeKeepsForm: an icon over the icon limit (but within the
// request limit) is refused with the form re-rendered with what was typed
// and a Japanese message, and the input carries the limit for the
// browser's own check (TestIconOverRequestLimitKeepsForm sends one over
// the server's 8 MB limit).
func TestIconTooLargeKeepsForm(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	b.get("/connections/new")
	st, body, _ := b.postMultipart("/connections", map[string]string{"name": "東京店", "description": "駅前の店舗"}, make([]byte, 600<<10))
	if st != 400 || !strings.Contains(body, "512 KB 以下") || !strings.Contains(body, `value="東京店"`) || !strings.Contains(body, "駅前の店舗</textarea>") {
		t.Errorf("600 KB icon: %d, want 400 with the form kept and a Japanese message:\n%s", st, body)
	}
	if !strings.Contains(body, `data-max-bytes="524288"`) {
		t.Error("the icon input does not tell the browser the limit")
	}
}

// TestIconOverRequestLimitKeepsForm: an icon over the server's request
// limit, sent without the page's script (which would check the size
// first), is read to its end and answered with the form, what was typed
// and the icon limit in the admin's language, on a connection that stays
// usable; a form post of that size anywhere else, or without a valid
// CSRF token, changes nothing.
func TestIconOverRequestLimitKeepsForm(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	b.get("/connections/new")
	huge := make([]byte, 14<<20)
	st, body, _ := b.postMultipart("/connections", map[string]string{"name": "東京店", "description": "駅前の店舗"}, huge)
	if st != 413 || !strings.Contains(body, "512 KB 以下") || !strings.Contains(body, `value="東京店"`) || !strings.Contains(body, "駅前の店舗</textarea>") {
		t.Errorf("14 MB icon on the new-connection form: %d, want 413 with the form kept and a Japanese message:\n%s", st, body)
	}
	if cs, _ := u.st.Connections(u.ctx); len(cs) != 0 {
		t.Fatalf("a connection was created: %v", cs)
	}

	if st, _, _ := b.postMultipart("/connections", map[string]string{"name": "大阪店"}, nil); st != 303 {
		t.Fatalf("create: %d", st)
	}
	cs, _ := u.st.Connections(u.ctx)
	if len(cs) != 1 {
		t.Fatalf("connections: %v", cs)
	}
	edit := fmt.Sprintf("/connections/%d/edit", cs[0].ID)
	b.header = http.Header{"Accept-Language": {"en"}}
	b.get(fmt.Sprintf("/connections/%d", cs[0].ID))
	st, body, _ = b.postMultipart(edit, map[string]string{"name": "Osaka shop", "description": "by the station"}, huge)
	if st != 413 || !strings.Contains(body, "at most 512 KB") || !strings.Contains(body, `value="Osaka shop"`) || !strings.Contains(body, "by the station</textarea>") {
		t.Errorf("14 MB icon on the edit form: %d, want 413 with the form kept and an English message:\n%s", st, body)
	}
	if c, _ := u.st.Connection(u.ctx, cs[0].ID); c.Name != "大阪店" {
		t.Errorf("the refused edit changed the name to %q", c.Name)
	}

	csrf := b.last
	b.last = "wrong" + csrf[5:]
	if st, body, _ := b.postMultipart(edit, map[string]string{"name": "Evil"}, huge); st != 403 {
		t.Errorf("oversized edit with a wrong CSRF token: %d, want 403\n%s", st, body)
	}
	b.last = csrf
	// Elsewhere the server answers 413 without reading the body, and the
	// client may see the connection closed while it is still sending.
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("csrf", csrf)
	fw, _ := w.CreateFormFile("icon", "icon.png")
	_, _ = fw.Write(huge)
	_ = w.Close()
	req, _ := http.NewRequest("POST", b.abs("/settings/domain"), &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if resp, err := b.c.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("oversized post to another form: %d, want 413", resp.StatusCode)
		}
	}
	if st, _ := b.get("/"); st != 200 {
		t.Errorf("dashboard after the refusals: %d", st)
	}
}

// TestChunkedBodyOverLimitRefused: a body without Content-Length is
// still bounded: over the request limit it is refused, under it it is
// read as before.
func TestChunkedBodyOverLimitRefused(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.get("/connections/new")
	post := func(size int) int {
		form := "csrf=" + b.last + "&name=" + url.QueryEscape("チャンク店") + "&description=" + strings.Repeat("x", size)
		// An io.Reader the client cannot measure is sent chunked.
		req, _ := http.NewRequest("POST", b.abs("/connections"), io.MultiReader(strings.NewReader(form)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		st, _, _ := b.do(req)
		if req.ContentLength > 0 || len(req.TransferEncoding) > 0 && req.TransferEncoding[0] != "chunked" {
			t.Fatalf("request not chunked: %d %v", req.ContentLength, req.TransferEncoding)
		}
		return st
	}
	if st := post(9 << 20); st != 413 {
		t.Errorf("9 MB chunked form: %d, want 413", st)
	}
	if st := post(10); st != 303 {
		t.Errorf("small chunked form: %d, want 303", st)
	}
}
