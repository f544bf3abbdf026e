package web_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"linehub/app/store"
	"linehub/app/web"
)

// TestSetupLinkExpiredPage: a setup link that no longer works says so and
// how to get a new one, instead of the general "setup pending" page; a
// link minted by `linehub setup-link` (web.MintSetupLink on the same
// database) works on the running server and retires the earlier one.
func TestSetupLinkExpiredPage(t *testing.T) {
	u := newUIEnv(t, envOpts{})
	old := strings.SplitN(u.link, "token=", 2)[1]
	anon := u.browser(t)
	for _, tok := range []string{"wrong", old + "x"} {
		st, body := anon.get("/setup?token=" + tok)
		if st != 403 || !strings.Contains(body, `id="setup-expired"`) || !strings.Contains(body, "linehub setup-link") {
			t.Errorf("GET /setup?token=%s: %d, want 403 with the expired-link page naming linehub setup-link:\n%s", tok, st, body)
		}
	}
	// Without a token it is still the general page: nothing was followed.
	if st, body := anon.get("/setup"); st != 403 || !strings.Contains(body, `id="pending"`) {
		t.Errorf("GET /setup: %d, want the setup-pending page", st)
	}

	link, err := web.MintSetupLink(u.ctx, u.st, u.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, u.base+"/setup?token=") {
		t.Fatalf("minted link %q does not point at the server %s", link, u.base)
	}
	if st, body := anon.get("/setup?token=" + old); st != 403 || !strings.Contains(body, `id="setup-expired"`) {
		t.Errorf("the startup link after a new one was minted: %d, want the expired-link page", st)
	}
	u.link = link
	b := u.claim(t) // the minted link creates the admin on the running server
	if st, _ := b.get("/"); st != 200 {
		t.Errorf("dashboard after claiming with the minted link: %d", st)
	}
	if _, err := web.MintSetupLink(u.ctx, u.st, u.cfg); !errors.Is(err, store.ErrAdminExists) {
		t.Errorf("minting with an admin: %v, want ErrAdminExists", err)
	}
	// The used link admits nobody else, even with the admins gone.
	deleteAdmins(t, u)
	tok := strings.SplitN(link, "token=", 2)[1]
	form := url.Values{"token": {tok}, "email": {"intruder@example.com"}, "password": {adminPass}, "password2": {adminPass}}
	other := u.browser(t)
	other.get("/login")
	if st, _, _ := other.post("/setup", form); st != 403 {
		t.Errorf("POST /setup with the used link: %d, want 403", st)
	}
}
