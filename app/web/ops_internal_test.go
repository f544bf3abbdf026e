package web

import (
	"strings"
	"testing"
	"time"

	"linehub/app/contactsync"
)

func TestSyncCheck(t *testing.T) {
	start := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	at := func(min int) *time.Time { t := start.Add(time.Duration(min) * time.Minute); return &t }
	for _, tc := range []struct {
		name   string
		st     contactsync.Status
		now    int // minutes after start
		ok     bool
		detail string
	}{
		{"no round yet", contactsync.Status{}, 30, true, "no sync round yet"},
		{"last round ok", contactsync.Status{LastSyncOKAt: at(29)}, 30, true, "last sync round ok 1m0s ago"},
		{"old error, then ok", contactsync.Status{LastErrorAt: at(5), LastSyncError: "x", LastSyncOKAt: at(6)}, 30, true, "last sync round ok"},
		{"failing briefly", contactsync.Status{LastErrorAt: at(29), LastSyncError: "boom", LastSyncOKAt: at(25)}, 30, true, "last sync error 1m0s ago: boom"},
		{"failing for 10 min", contactsync.Status{LastErrorAt: at(29), LastSyncError: "boom", LastSyncOKAt: at(20)}, 30, false, "boom"},
		{"never ok since start", contactsync.Status{LastErrorAt: at(11), LastSyncError: "boom"}, 11, false, "boom"},
		{"never ok, just started", contactsync.Status{LastErrorAt: at(1), LastSyncError: "boom"}, 2, true, "boom"},
	} {
		got := syncCheck(tc.st, start, start.Add(time.Duration(tc.now)*time.Minute), true)
		if got.OK != tc.ok || !strings.Contains(got.Detail, tc.detail) {
			t.Errorf("%s: %+v, want ok=%v detail containing %q", tc.name, got, tc.ok, tc.detail)
		}
	}
}
