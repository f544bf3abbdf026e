package ui

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseProps reads the template editor's sample properties: any text
// gives trimmed, non-empty names and one-line values, never a panic.
func FuzzParseProps(f *testing.F) {
	f.Add("firstname=Taro\nlastname: Yamada\n")
	f.Add("=x\n:\n\r\n  company = ACME = Ltd  ")
	f.Fuzz(func(t *testing.T, s string) {
		for k, v := range parseProps(s) {
			if k == "" || k != strings.TrimSpace(k) || strings.Contains(k, "\n") || strings.Contains(v, "\n") {
				t.Fatalf("parseProps(%q): %q = %q", s, k, v)
			}
		}
	})
}

// FuzzScheduledAt reads the composer's schedule field in a zone (tz:
// minutes east of UTC): what parses must print back as typed in that zone.
func FuzzScheduledAt(f *testing.F) {
	f.Add("2026-12-01T09:00", 540)
	f.Add("2026-02-30T25:61", -99999)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, at string, tz int) {
		tz %= 14 * 60
		got, err := broadcastForm{At: at}.scheduledAt(time.FixedZone("", tz*60))
		if err != nil || got == nil {
			return
		}
		if back := got.Format("2006-01-02T15:04"); back != at {
			t.Fatalf("scheduledAt(%q, %d) = %v, prints as %q", at, tz, got, back)
		}
	})
}
