package web_test

import (
	"net/http"
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
// browser's own check (a request over the server's 8 MB limit is cut off
// by the server before any handler runs: only that check keeps the form).
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
