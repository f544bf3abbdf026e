package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"linehub/app/line/linetest"
)

// TestLinkRefusals: against the real binary, links that must link nothing
// (forged, altered, expired, another connection's token; a callback with a
// wrong state, with another browser's cookie or none; an ID token whose
// nonce is not the login's; a link used by another LINE account) each show
// their page and change nothing in HubSpot (contacts, properties, merges,
// notes) or in linehub's store (link records, token uses, the friend's
// contact). The one good link in the middle shows the same checks see a
// change when there is one.
func TestLinkRefusals(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	tokyo, osaka := e.connect("Shop Tokyo"), e.connect("Shop Osaka")
	e.addLoginChannel(tokyo)
	e.addLoginChannel(osaka)
	hanako, mallory := linetest.NewUserID(), linetest.NewUserID()
	hanakoDummy := e.friendWithDummy(tokyo, hanako, "Yamada Hanako", "hanako.yamada@customer.example")
	malloryDummy := e.friendWithDummy(tokyo, mallory, "Mallory", "")
	real, err := e.HS.AddContact(map[string]string{"email": "hanako.yamada@customer.example", "firstname": "花子"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.HS.AddContact(map[string]string{"email": "jiro.sato@customer.example", "firstname": "次郎"})
	if err != nil {
		t.Fatal(err)
	}
	e.HS.AddList("Tokyo newsletter", []string{real})
	e.HS.AddList("Osaka newsletter", []string{other})
	link := b.setUpLinking(tokyo, "Tokyo", real)
	osakaLink := b.setUpLinking(osaka, "Osaka", other)
	expired := e.expiredLink(tokyo, real)
	e.settled()

	records := func() string {
		return fmt.Sprintf("link records %d, token uses %d, hanako follows %s, mallory follows %s",
			e.queryDB("SELECT count(*) FROM link_records"), e.queryDB("SELECT count(*) FROM link_token_uses"),
			e.friendContact(tokyo, hanako), e.friendContact(tokyo, mallory))
	}
	hs0, st0 := hubspotState(e.HS), records()
	if want := fmt.Sprintf("link records 0, token uses 0, hanako follows %s, mallory follows %s", hanakoDummy, malloryDummy); st0 != want {
		t.Fatalf("before: %s, want %s", st0, want)
	}
	unchanged := func(what string) {
		t.Helper()
		e.settled()
		if got := hubspotState(e.HS); got != hs0 {
			t.Errorf("%s changed HubSpot:\nbefore %s\nafter  %s", what, hs0, got)
		}
		if got := records(); got != st0 {
			t.Errorf("%s changed the store: before %s, after %s", what, st0, got)
		}
	}
	logins := len(e.LINE.Logins())
	// page opens u as a visitor and wants status and page kind, and no
	// redirect to LINE Login.
	page := func(what, u string, status int, kind string) {
		t.Helper()
		st, k, loc := newVisitor(t).get(u)
		if st != status || k != kind || loc != "" {
			t.Errorf("%s: %d %q %q, want %d %q", what, st, k, loc, status, kind)
		}
		unchanged(what)
	}

	tok := link[strings.LastIndex(link, "/")+1:]
	// One character of the contact or expiry part changed to the next of
	// the URL-safe alphabet: well-formed, but not what linehub signed.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	altered := []byte(tok)
	altered[5] = alphabet[(strings.IndexByte(alphabet, tok[5])+1)%len(alphabet)]
	page("forged token", e.url(fmt.Sprintf("/link/%d/AQEB6QfM2pLwqZbN0Y3mXf8sTuVbHcKdEa1wYg", tokyo.ID)), 404, "invalid")
	page("altered token", e.url(fmt.Sprintf("/link/%d/%s", tokyo.ID, altered)), 404, "invalid")
	page("expired token", expired, 410, "expired")
	page("a Tokyo token on Osaka's link", e.url(fmt.Sprintf("/link/%d/%s", osaka.ID, tok)), 404, "invalid")
	osakaTok := osakaLink[strings.LastIndex(osakaLink, "/")+1:]
	page("an Osaka token on Tokyo's link", e.url(fmt.Sprintf("/link/%d/%s", tokyo.ID, osakaTok)), 404, "invalid")
	if n := len(e.LINE.Logins()); n != logins {
		t.Errorf("%d LINE Logins for tokens that link nothing", n-logins)
	}

	// The callback: LINE answered this browser's login, but the state was
	// changed on the way back.
	v := newVisitor(t)
	cb, _ := url.Parse(v.loginAt(v.toLINE(link), hanako))
	q := cb.Query()
	q.Set("state", strings.Repeat("0", len(q.Get("state"))))
	cb.RawQuery = q.Encode()
	if st, kind, _ := v.get(cb.String()); st != 400 || kind != "session" {
		t.Errorf("callback with a wrong state: %d %q", st, kind)
	}
	unchanged("callback with a wrong state")

	// The callback of one browser's login opened in another browser (one
	// with a login of its own under way) and in one without any cookie.
	victim := newVisitor(t)
	stolen := victim.loginAt(victim.toLINE(link), hanako)
	attacker := newVisitor(t)
	attacker.toLINE(link)
	if st, kind, _ := attacker.get(stolen); st != 400 || kind != "session" {
		t.Errorf("callback with another browser's cookie: %d %q", st, kind)
	}
	unchanged("callback with another browser's cookie")
	victim = newVisitor(t)
	stolen = victim.loginAt(victim.toLINE(link), hanako)
	if st, kind, _ := newVisitor(t).get(stolen); st != 400 || kind != "session" {
		t.Errorf("callback without the cookie: %d %q", st, kind)
	}
	unchanged("callback without the cookie")

	// An ID token whose nonce is not the one this login sent.
	e.LINE.SetIDTokenTamper(func(claims map[string]any) string {
		claims["nonce"] = strings.Repeat("f", 64)
		return ""
	})
	if st, kind := newVisitor(t).link(link, hanako); st != 400 || kind != "failed" {
		t.Errorf("ID token with another nonce: %d %q", st, kind)
	}
	e.LINE.SetIDTokenTamper(nil)
	unchanged("ID token with another nonce")

	// The good link: the same checks see it.
	if st, kind := newVisitor(t).link(link, hanako); st != http.StatusOK || kind != "linked" {
		t.Fatalf("hanako's own link: %d %q", st, kind)
	}
	merged := e.HS.MergedInto(real)
	if merged == "" || e.HS.MergedInto(hanakoDummy) != merged {
		t.Fatalf("hanako's dummy %s not merged into %s", hanakoDummy, real)
	}
	e.eventually("the link's note", func() bool { return len(e.HS.Notes(merged)) == 1 })
	e.settled()
	if hubspotState(e.HS) == hs0 || records() == st0 {
		t.Fatal("the checks did not see the good link")
	}
	hs0, st0 = hubspotState(e.HS), records()
	if want := fmt.Sprintf("link records 1, token uses 1, hanako follows %s, mallory follows %s", merged, malloryDummy); st0 != want {
		t.Fatalf("after the good link: %s, want %s", st0, want)
	}

	// Hanako's link forwarded to mallory: used.
	if st, kind := newVisitor(t).link(link, mallory); st != 409 || kind != "used" {
		t.Errorf("mallory with hanako's used link: %d %q", st, kind)
	}
	unchanged("mallory with hanako's used link")
	if c, _ := e.HS.Contact(malloryDummy); c.ID != malloryDummy || c.Properties["email"] != dummyEmail(mallory) {
		t.Errorf("mallory's dummy contact now %s %q", c.ID, c.Properties["email"])
	}
}
