package ui

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"
	"time"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/store"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"en", "ja"} {
		for _, b := range []string{"en", "ja"} {
			for k := range cat[a] {
				if _, ok := cat[b][k]; !ok {
					t.Errorf("%s.json has %q, %s.json does not", a, k, b)
				}
			}
		}
	}
	for k, v := range cat["en"] {
		if strings.Count(v, "%") != strings.Count(cat["ja"][k], "%") {
			t.Errorf("%q: en and ja differ in format verbs", k)
		}
	}
}

// TestCataloguesSayNoJargon: a shop owner does not know "dead letter"
// (a queueing term); the pages say what happened to the contacts.
func TestCataloguesSayNoJargon(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for lang, words := range map[string][]string{"en": {"dead letter"}, "ja": {"デッドレター", "dead letter"}} {
		for k, v := range cat[lang] {
			for _, w := range words {
				if strings.Contains(strings.ToLower(v), w) {
					t.Errorf("%s.json %q says %q: %s", lang, k, w, v)
				}
			}
		}
	}
}

func TestPickLang(t *testing.T) {
	for _, tc := range []struct{ cookie, accept, want string }{
		{"", "ja,en-US;q=0.8", "ja"},
		{"", "en-GB,en;q=0.9", "en"},
		{"", "fr-FR", "en"},
		{"", "", "en"},
		{"en", "ja", "en"},
		{"ja", "en", "ja"},
		{"xx", "ja-JP", "ja"},
	} {
		if got := pickLang(tc.cookie, tc.accept); got != tc.want {
			t.Errorf("pickLang(%q, %q) = %q, want %q", tc.cookie, tc.accept, got, tc.want)
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	h, err := hashPassword("Correct-Horse-9")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash format: %s", h)
	}
	if !checkPassword(h, "Correct-Horse-9") || checkPassword(h, "correct-horse-9") || checkPassword("garbage", "x") {
		t.Error("checkPassword")
	}
	for pw, bad := range map[string]bool{"short": true, "alllowercaseletters": false, "alllowercase1": true, "Correct-Horse-9": false, "password1234ABC!": true} {
		if got := passwordProblem(pw, "a@example.com") != ""; got != bad {
			t.Errorf("passwordProblem(%q) rejected=%v, want %v", pw, got, bad)
		}
	}
}

func TestSetupClaimExpires(t *testing.T) {
	now := time.Now()
	c, tok := newSetupClaim(now)
	if !c.valid(tok, now) || c.valid(tok+"x", now) || c.valid("", now) {
		t.Fatal("fresh claim")
	}
	if c.valid(tok, now.Add(31*time.Minute)) {
		t.Error("claim valid after 30 minutes")
	}
	// The claim is kept in the database as text: it must read back the same.
	back := parseSetupClaim(c.encode())
	if !back.valid(tok, now) || back.valid(tok, now.Add(31*time.Minute)) {
		t.Errorf("claim does not survive encode/parse: %q", c.encode())
	}
	for _, v := range []string{"", "zz 1", c.encode()[:10], "00 notanumber"} {
		if parseSetupClaim(v).valid(tok, now) {
			t.Errorf("stored value %q admits the token", v)
		}
	}
}

func TestCheckIcon(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("GIF89a"), []byte("\x89PNG\r\n\x1a\n garbage")} {
		if _, _, err := checkIcon(in); err == nil {
			t.Errorf("checkIcon(%q) accepted", in)
		}
	}
}

func TestHealthNotices(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	for _, tc := range []struct {
		name string
		st   contactsync.Status
		want []string // one substring per notice, in order
	}{
		{"healthy", contactsync.Status{LastSyncOKAt: &t1, LastErrorAt: &t0, LastSyncError: "old"}, nil},
		{"disk full", contactsync.Status{StorageError: "full", StorageErrorAt: &t0}, []string{"disk holding linehub's data directory is full (since 2026-12-03 09:30 UTC)"}},
		{"sync failing", contactsync.Status{LastSyncOKAt: &t0, LastErrorAt: &t1, LastSyncError: "HubSpot answered 503"},
			[]string{"Syncing with HubSpot is failing (last attempt 2026-12-03 09:31 UTC)", "HubSpot answered 503"}},
		{"never synced", contactsync.Status{LastErrorAt: &t1, LastSyncError: "connection refused"}, []string{"failing (last attempt 2026-12-03 09:31 UTC)", "connection refused"}},
		{"daily limit instead of the sync error", contactsync.Status{HubSpotPaused: "2026-12-04T00:00:00Z", LastErrorAt: &t1, LastSyncError: "daily limit"},
			[]string{"resumes syncing at 2026-12-04 00:00 UTC"}},
		{"all at once", contactsync.Status{StorageError: "full", StorageErrorAt: &t0, LastErrorAt: &t1, LastSyncError: "x", LastApplyError: "database or disk is full"},
			[]string{"is full (since", "Syncing with HubSpot is failing", "x", "Processing received LINE events is failing", "database or disk is full"}},
		{"LINE failing for two connections", contactsync.Status{LINEErrors: []connections.LINEError{{ConnectionID: 1, Error: "LINE answered 500", Since: t0}, {ConnectionID: 9, Error: "timeout", Since: t1}}},
			[]string{"LINE's API is failing for Shop (since 2026-12-03 09:30 UTC).", "LINE answered 500", "failing for #9 (since 2026-12-03 09:31 UTC).", "timeout"}},
	} {
		// want alternates: a notice's words, then (where the problem has
		// them) the raw words folded into its detail, never in its text.
		got := healthNotices(cat.locale("en"), utcText, tc.st, []store.Connection{{ID: 1, Name: "Shop"}}, store.NoteStats{})
		var shown []string
		for _, n := range got {
			shown = append(shown, n.Text)
			if n.Detail != "" {
				shown = append(shown, n.Detail)
				if strings.Contains(n.Text, n.Detail) {
					t.Errorf("%s: the raw words %q stand in the notice itself: %q", tc.name, n.Detail, n.Text)
				}
			}
		}
		if len(shown) != len(tc.want) {
			t.Errorf("%s: %q, want %d texts and details", tc.name, shown, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(shown[i], w) {
				t.Errorf("%s: %q, want it to contain %q", tc.name, shown[i], w)
			}
		}
	}
	notes := healthNotices(cat.locale("en"), utcText, contactsync.Status{}, nil, store.NoteStats{Pending: 3, GivenUp: 2, LastRefusal: "HubSpot answered 400"})
	if len(notes) != 1 || !strings.Contains(notes[0].Text, "2 chat messages could not be logged as HubSpot notes") || notes[0].Detail != "HubSpot answered 400" {
		t.Errorf("given-up notes: %+v", notes)
	}
	ja := healthNotices(cat.locale("ja"), utcText, contactsync.Status{StorageError: "full", StorageErrorAt: &t0}, nil, store.NoteStats{})
	if len(ja) != 1 || !strings.Contains(ja[0].Text, "ディスクがいっぱい") {
		t.Errorf("Japanese notice: %+v", ja)
	}
}

// pngHeader is the start of an 8-bit RGBA PNG that claims w×h pixels:
// signature and IHDR (with its CRC), no image data.
func pngHeader(w, h uint32) []byte { return pngHeaderOf(w, h, 8, 6) }

// pngHeaderOf is pngHeader of a bit depth and PNG colour type.
func pngHeaderOf(w, h uint32, depth, colorType byte) []byte {
	ihdr := []byte("IHDR")
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, colorType, 0, 0, 0)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// TestCheckIconRefusesHugeDimensions: a header claiming a huge image is
// refused from the header alone, allocating next to nothing (decoding
// it would take 40 GB).
func TestCheckIconRefusesHugeDimensions(t *testing.T) {
	bomb := append(pngHeader(100000, 100000), make([]byte, 64)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := checkIcon(bomb)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("accepted a 100000×100000 PNG")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing it allocated %d bytes", n)
	}
	if _, _, err := checkIcon(pngHeader(maxIconPixels+1, 1)); err == nil {
		t.Error("accepted a PNG wider than the limit")
	}
}

// TestCheckIconReencodes: what is kept is the image alone, in the format
// it came in (JPEG) or as PNG (PNG, GIF).
func TestCheckIconReencodes(t *testing.T) {
	img := image.NewPaletted(image.Rect(0, 0, 4, 3), color.Palette{color.Black, color.White})
	var p, g, j bytes.Buffer
	_ = png.Encode(&p, img)
	_ = gif.Encode(&g, img, nil)
	_ = jpeg.Encode(&j, img, nil)
	trailer := []byte("<html><script>alert(1)</script>")
	for name, tc := range map[string]struct {
		in     []byte
		wantCT string
	}{
		"png":  {append(p.Bytes(), trailer...), "image/png"},
		"gif":  {append(g.Bytes(), trailer...), "image/png"},
		"jpeg": {append(j.Bytes(), trailer...), "image/jpeg"},
	} {
		ct, out, err := checkIcon(tc.in)
		if err != nil || ct != tc.wantCT {
			t.Errorf("%s: %q %v", name, ct, err)
			continue
		}
		if bytes.Contains(out, []byte("<script")) {
			t.Errorf("%s: the trailer survived", name)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(out))
		if err != nil || "image/"+format != ct || cfg.Width != 4 || cfg.Height != 3 {
			t.Errorf("%s: kept %s %dx%d (%v)", name, format, cfg.Width, cfg.Height, err)
		}
	}
}

// utcText formats notice times as a page in UTC would.
func utcText(t *time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// TestPreviewURL: an image uploaded here is previewed by its smaller
// copy; any other address (typed by the admin) by itself.
func TestPreviewURL(t *testing.T) {
	name := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"https://x.example/media/chat/" + name + ".jpg":   "https://x.example/media/chat/" + name + "-p.jpg",
		"https://x.example/media/chat/" + name + ".png":   "https://x.example/media/chat/" + name + "-p.jpg",
		"https://x.example/media/chat/" + name + "-p.jpg": "https://x.example/media/chat/" + name + "-p.jpg",
		"https://x.example/media/chat/abc.jpg":            "https://x.example/media/chat/abc.jpg",
		"https://cdn.example/photo.jpg":                   "https://cdn.example/photo.jpg",
	} {
		if got := previewURL(in); got != want {
			t.Errorf("previewURL(%q) = %q, want %q", in, got, want)
		}
	}
}
