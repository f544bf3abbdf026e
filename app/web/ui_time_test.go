package web_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"linehub/app/line/linetest"
)

// The pages show times in the HubSpot portal's zone, name the zone once,
// and read the broadcast schedule in it.
func TestUITimesInPortalZone(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true, HubSpotTimeZone: "Asia/Tokyo"})
	b := u.claim(t)
	c := u.createConn("Shop", true, true)
	if err := u.conns.CheckHubSpot(u.ctx); err != nil { // reads the account's details, as at start-up
		t.Fatal(err)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	uid := linetest.NewUserID()
	u.friendWithContact(c, uid, "Hanako")
	ts := time.Now().Add(2 * time.Minute).Truncate(time.Minute) // the last message
	u.deliver(c, linetest.TextMessageEvent(uid, "予約できますか", ts))
	local := ts.In(tokyo).Format("2006-01-02\u00a015:04")
	for _, p := range []string{"/connections/" + c.id + "/chat/" + uid, "/connections/" + c.id + "/chat", "/connections/" + c.id + "/friends"} {
		body := b.wantPage(p, 200, local, `id="time-zone"`, "Times are shown in Asia/Tokyo (JST).")
		// The shown form, not a bare "15:04": at 09:00 UTC that would match
		// the "+09:00" of every datetime attribute (CI failed on exactly that).
		if utc := ts.UTC().Format("2006-01-02\u00a015:04"); strings.Contains(body, utc) {
			t.Errorf("%s shows the UTC time %s:\n%s", p, utc, body)
		}
		if n := strings.Count(body, "Asia/Tokyo"); n != 1 {
			t.Errorf("%s names the zone %d times, want once", p, n)
		}
	}
	b.get("/lang/ja")
	b.wantPage("/", 200, "時刻は Asia/Tokyo (JST) で表示しています。")
	b.get("/lang/en")

	// A broadcast scheduled for 10:00 is 10:00 in Tokyo, and shown so.
	listID, _ := u.seedList(c, 3, 3, 0)
	day := time.Now().In(tokyo).AddDate(0, 0, 2).Format("2006-01-02")
	b.wantPage("/broadcasts", 200, "Enter the date and time in Asia/Tokyo (JST).")
	st, _, loc := b.post("/broadcasts", url.Values{"action": {"schedule"}, "q": {"x"}, "list": {listID + "|List"},
		"connection": {c.id}, "text": {"Sale"}, "scheduled_at": {day + "T10:00"}})
	if st != 303 {
		t.Fatalf("schedule: %d %q", st, loc)
	}
	bs := u.broadcasts(t)
	want, _ := time.ParseInLocation("2006-01-02T15:04", day+"T10:00", tokyo)
	if len(bs) != 1 || bs[0].ScheduledAt == nil || !bs[0].ScheduledAt.Equal(want) {
		t.Fatalf("scheduled at %v, want %v (10:00 in Tokyo)", bs[0].ScheduledAt, want.UTC())
	}
	b.wantPage(loc, 200, "scheduled for <span id=\"scheduled-for\"><time datetime=\""+want.Format(time.RFC3339)+"\">"+day+"\u00a010:00</time>")
	b.wantPage("/broadcasts", 200, day+"\u00a010:00")
}

var chartRE = regexp.MustCompile(`(?s)<figure class="chart" data-chart="(\w+)">.*?</figure>`)

// The dashboard's charts have a scale, dates and the numbers, and say
// when there is nothing to show; a connection without credentials says
// it is not set up.
func TestUIDashboardCharts(t *testing.T) {
	u := newUIEnv(t, envOpts{HubSpotConfigured: true})
	b := u.claim(t)
	c := u.createConn("Shop", true, true)
	bare := u.createConn("Bare", false, false)
	uid := linetest.NewUserID()
	u.friendWithContact(c, uid, "Hanako") // one message today
	body := b.wantPage("/", 200)
	charts := map[string]string{}
	for _, m := range chartRE.FindAllStringSubmatch(body, -1) {
		charts[m[1]] = m[0]
	}
	msg := charts["message"]
	today := time.Now().UTC()
	for _, want := range []string{
		`<text class="axis" x="24" y="99.0" text-anchor="end">0</text>`, // y axis from 0…
		`text-anchor="end">5</text>`,                                    // …to at least 5: one message is not a full bar
		">" + today.Format("1/2") + "</text>",                           // dates under the bars
		">" + today.AddDate(0, 0, -29).Format("1/2") + "</text>",
		"<td>" + today.Format("2006-01-02") + "</td><td>1</td>", // the numbers, readable without hover
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("messages chart lacks %q:\n%s", want, msg)
		}
	}
	for _, typ := range []string{"follow", "unfollow"} {
		if ch := charts[typ]; !strings.Contains(ch, `<p class="chart-empty">No data yet</p>`) || strings.Contains(ch, "<svg") {
			t.Errorf("empty %s chart:\n%s", typ, ch)
		}
	}
	// Only the connection without a secret and token is marked.
	if n := strings.Count(body, `data-badge="not-set-up"`); n != 1 {
		t.Errorf("%d not-set-up badges, want 1", n)
	}
	card := body[strings.Index(body, `href="/connections/`+bare.id+`"`):]
	card = card[:strings.Index(card, "</a>")]
	if !strings.Contains(card, "not set up") {
		t.Errorf("the card of the connection without credentials:\n%s", card)
	}
	b.get("/lang/ja")
	b.wantPage("/", 200, "未設定", "まだデータがありません", "数値を表で見る")
}

var (
	formTagRE = regexp.MustCompile(`<(/?)(label|input|textarea|select)\b([^>]*)>`)
	attrRE    = regexp.MustCompile(`([\w-]+)="([^"]*)"`)
)

// unlabelled lists the form fields of a page that have no name a screen
// reader can say: not inside a <label>, no <label for>, no aria-label.
func unlabelled(body string) []string {
	labelFor := map[string]bool{}
	for _, m := range regexp.MustCompile(`<label[^>]*\bfor="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		labelFor[m[1]] = true
	}
	var out []string
	depth := 0
	for _, m := range formTagRE.FindAllStringSubmatch(body, -1) {
		if m[2] == "label" {
			if m[1] == "/" {
				depth--
			} else {
				depth++
			}
			continue
		}
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(m[3], -1) {
			attrs[a[1]] = a[2]
		}
		if m[1] == "/" || attrs["type"] == "hidden" || depth > 0 || attrs["aria-label"] != "" || labelFor[attrs["id"]] {
			continue
		}
		out = append(out, m[2]+"#"+attrs["id"]+" name="+attrs["name"]) // not the value: it may be a secret
	}
	return out
}

// Every page starts with a link past the menu, and every field has a name.
func TestUISkipLinkAndLabels(t *testing.T) {
	u, b, c := messagingUI(t)
	uid := linetest.NewUserID()
	u.friendWithContact(c, uid, "Hanako")
	b.get("/tokens")
	_, created, _ := b.post("/tokens", url.Values{"name": {"reports"}})
	if !strings.Contains(created, `id="new-token"`) {
		t.Fatalf("token not created:\n%s", created)
	}
	if bad := unlabelled(created); len(bad) > 0 {
		t.Errorf("/tokens after creating a token: fields without a label: %q", bad)
	}
	for _, lang := range []string{"en", "ja"} {
		b.get("/lang/" + lang)
		for _, p := range []string{"/", "/connections/" + c.id, "/connections/" + c.id + "/friends", "/connections/" + c.id + "/chat",
			"/connections/" + c.id + "/chat/" + uid, "/connections/" + c.id + "/workflow", "/broadcasts", "/templates", "/templates/new",
			"/jobs", "/settings", "/tokens"} {
			body := b.wantPage(p, 200, `<a class="skip" href="#main">`, `<main id="main"`)
			if bad := unlabelled(body); len(bad) > 0 {
				t.Errorf("%s %s: fields without a label: %q", lang, p, bad)
			}
		}
	}
}
