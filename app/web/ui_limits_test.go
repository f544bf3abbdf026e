package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLimitsCountCharacters: the limits the forms state ("up to 100
// characters", "500 characters") count characters, not bytes, so a
// Japanese name of 100 characters (300 bytes) is taken and one of 101 is
// refused with a Japanese message that keeps what was typed.
func TestLimitsCountCharacters(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	b.header = http.Header{"Accept-Language": {"ja"}}
	name100, name101 := strings.Repeat("店", 100), strings.Repeat("店", 101)
	desc500, desc501 := strings.Repeat("説", 500), strings.Repeat("説", 501)

	b.get("/connections/new")
	st, body, loc := b.postMultipart("/connections", map[string]string{"name": name100, "description": desc500}, nil)
	if st != 303 {
		t.Fatalf("100-character Japanese name and 500-character description: %d %s", st, body)
	}
	connPath := strings.SplitN(loc, "?", 2)[0]

	b.get("/connections/new")
	st, body, _ = b.postMultipart("/connections", map[string]string{"name": name101, "description": "ok"}, nil)
	if st != 400 || !strings.Contains(body, "名前は 1〜100 文字で入力してください（入力された名前は 101 文字です）") || !strings.Contains(body, name101) {
		t.Errorf("101-character name: %d, want 400 with the Japanese message and the name kept:\n%s", st, body)
	}
	b.get("/connections/new")
	st, body, _ = b.postMultipart("/connections", map[string]string{"name": "ok", "description": desc501}, nil)
	if st != 400 || !strings.Contains(body, "説明が 500 文字を超えています") {
		t.Errorf("501-character description: %d", st)
	}

	b.get(connPath)
	if st, body, _ := b.postMultipart(connPath+"/edit", map[string]string{"name": name100, "description": desc500}, nil); st != 303 {
		t.Errorf("edit with 100/500 characters: %d %s", st, body)
	}
	b.get(connPath)
	if st, body, _ := b.postMultipart(connPath+"/edit", map[string]string{"name": name101, "description": ""}, nil); st != 400 || !strings.Contains(body, "名前は 1〜100 文字") {
		t.Errorf("edit with a 101-character name: %d", st)
	}

	b.get("/templates/new")
	if st, body, _ := b.post("/templates", url.Values{"name": {name100}, "text": {"こんにちは"}}); st != 303 {
		t.Errorf("100-character template name: %d %s", st, body)
	}
	b.get("/templates/new")
	if st, body, _ := b.post("/templates", url.Values{"name": {name101}, "text": {"こんにちは"}}); st != 400 || !strings.Contains(body, "名前は 1〜100 文字") {
		t.Errorf("101-character template name: %d", st)
	}

	b.get("/tokens")
	if st, body, _ := b.post("/tokens", url.Values{"name": {name100}}); st != 200 || strings.Contains(body, `id="error"`) {
		t.Errorf("100-character token name: %d", st)
	}
	b.get("/tokens")
	if st, _, _ := b.post("/tokens", url.Values{"name": {name101}}); st != 400 {
		t.Errorf("101-character token name: %d", st)
	}
}
