package web_test

import (
	"net/url"
	"strings"
	"testing"

	"linehub/app/line/linetest"
	"linehub/app/store"
)

// Linking by hand on the friend's page: search HubSpot by email or name,
// link (the friend's dummy contact merged into the customer's), unlink;
// the history says who, how and from where; forms need the CSRF token.
func TestUILinkFriendByHand(t *testing.T) {
	u, b, c := messagingUI(t)
	uid := linetest.NewUserID()
	dummy := u.friendWithContact(c, uid, "Hanako")
	real, err := u.hs.AddContact(map[string]string{"email": "hanako@customer.example", "firstname": "花子", "lastname": "山田"})
	if err != nil {
		t.Fatal(err)
	}
	page := "/connections/" + c.id + "/friends/" + uid + "/link"
	b.wantPage("/connections/"+c.id+"/friends", 200, `href="`+page+`"`)
	b.wantPage(page, 200, `id="link-current"`, dummy, `id="unlink-form"`, `id="link-no-history"`)
	b.wantPage(page+"?q=hanako@customer.example", 200, `id="link-hits"`, "山田", `name="contact_id" value="`+real+`"`)
	b.wantPage(page+"?q=山田", 200, `name="contact_id" value="`+real+`"`)
	b.wantPage(page+"?q=x", 400, "2 to 100 characters")

	// Without the CSRF token nothing happens.
	if st, _, _ := b.post(page, url.Values{"contact_id": {real}, "csrf": {"forged"}}); st != 403 {
		t.Fatalf("link without CSRF: %d", st)
	}
	if f, _ := u.st.Friend(u.ctx, mustID(c.id), uid); f.ContactID != dummy {
		t.Fatal("a forged form linked the friend")
	}

	b.get(page)
	st, body, loc := b.post(page, url.Values{"contact_id": {real}, "reason": {"same customer"}})
	if st != 303 || !strings.Contains(loc, "ok=flash.link_linked") {
		t.Fatalf("link: %d %s\n%s", st, loc, body)
	}
	merged := u.hs.MergedInto(real)
	if merged == "" || u.hs.MergedInto(dummy) != merged {
		t.Fatal("the dummy contact was not merged into the customer's")
	}
	if f, _ := u.st.Friend(u.ctx, mustID(c.id), uid); f.ContactID != merged {
		t.Fatalf("friend follows %s, want %s", f.ContactID, merged)
	}
	b.wantPage(loc, 200, "Linked.", merged, "by hand", adminEmail, "same customer", "merged contact "+dummy)
	if err := u.sync.SyncPending(u.ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := u.hs.Contact(merged)
	if got.Properties["email"] != "hanako@customer.example" || got.Properties["firstname"] != "花子" || got.Properties["line_user_id_1"] != uid {
		t.Fatalf("merged contact = %v", got.Properties)
	}

	// Japanese.
	b.get("/lang/ja")
	b.wantPage(page, 200, "HubSpotコンタクトと連携", "連携を解除", "手動")
	b.get("/lang/en")

	// Another friend cannot take the same contact.
	other := linetest.NewUserID()
	u.friendWithContact(c, other, "Jiro")
	opage := "/connections/" + c.id + "/friends/" + other + "/link"
	b.get(opage)
	if st, body, _ := b.post(opage, url.Values{"contact_id": {merged}}); st != 409 || !strings.Contains(body, "already linked to another LINE friend") {
		t.Fatalf("second friend on one contact: %d\n%s", st, body)
	}

	// Unlink.
	b.get(page)
	st, _, loc = b.post(page[:len(page)-len("link")]+"unlink", url.Values{"reason": {"wrong person"}})
	if st != 303 || !strings.Contains(loc, "flash.link_unlinked") {
		t.Fatalf("unlink: %d %s", st, loc)
	}
	if f, _ := u.st.Friend(u.ctx, mustID(c.id), uid); f.ContactID != "" {
		t.Fatal("still linked after unlink")
	}
	b.wantPage(loc, 200, "Unlinked.", "Not linked to a HubSpot contact yet.", "wrong person")
	recs, _ := u.st.LinkRecordsOf(u.ctx, mustID(c.id), uid, 10)
	if len(recs) != 2 || recs[0].Action != store.LinkActionUnlink || recs[0].By != adminEmail {
		t.Fatalf("records = %+v", recs)
	}
	// Unknown friends are 404.
	if st, _ := b.get("/connections/" + c.id + "/friends/" + linetest.NewUserID() + "/link"); st != 404 {
		t.Fatalf("unknown friend: %d", st)
	}
}

// The linking page: the switch creates the link URL property, the expiry
// is checked, a list's contacts get their link URLs.
func TestUILinkingSettingsAndLinkURLs(t *testing.T) {
	u, b, c := messagingUI(t)
	page := "/connections/" + c.id + "/linking"
	b.wantPage("/connections/"+c.id, 200, `href="`+page+`"`)
	b.wantPage(page, 200, `id="linking-enabled"`, `value="90"`)
	if _, ok := u.hs.Property("line_link_url_1"); ok {
		t.Fatal("link URL property exists before linking was turned on")
	}
	if st, body, _ := b.post(page, url.Values{"enabled": {"on"}, "expiry_days": {"0"}}); st != 400 || !strings.Contains(body, "1 to 1100 days") {
		t.Fatalf("expiry 0: %d", st)
	}
	b.get(page)
	if st, _, loc := b.post(page, url.Values{"enabled": {"on"}, "expiry_days": {"30"}}); st != 303 || !strings.Contains(loc, "flash.saved") {
		t.Fatalf("save: %d %s", st, loc)
	}
	if _, ok := u.hs.Property("line_link_url_1"); !ok {
		t.Fatal("no link URL property after linking was turned on")
	}
	a, _ := u.hs.AddContact(map[string]string{"email": "a@customer.example"})
	bb, _ := u.hs.AddContact(map[string]string{"email": "b@customer.example"})
	list := u.hs.AddList("Spring newsletter", []string{a, bb})
	b.wantPage(page+"?lists=1&lq=Spring", 200, `id="lists"`, "Spring newsletter", `name="list_id" value="`+list+`"`)
	if st, _, loc := b.post(page+"/urls", url.Values{"list_id": {list}, "list_name": {"Spring newsletter"}}); st != 303 || !strings.Contains(loc, "flash.link_urls_started") {
		t.Fatalf("start: %d %s", st, loc)
	}
	// While it runs, the page's script re-reads the job's block; once it
	// is done, nothing polls.
	b.wantPage(page, 200, `id="link-job" aria-live="polite" data-refresh="/connections/`+c.id+`/linking"`)
	u.env.link.RunOnce(u.ctx)
	if body := b.wantPage(page, 200, `id="link-job"`, "Spring newsletter", "2 written, 0 not written", "done"); strings.Contains(body, "data-refresh") {
		t.Fatal("a finished job's page still asks to be refreshed")
	}
	for _, id := range []string{a, bb} {
		ct, _ := u.hs.Contact(id)
		if v := ct.Properties["line_link_url_1"]; !strings.HasPrefix(v, u.base+"/link/"+c.id+"/") {
			t.Fatalf("contact %s link URL %q", id, v)
		}
	}
	b.get("/lang/ja")
	b.wantPage(page, 200, "このLINEアカウントで連携を使う", "完了")
}
