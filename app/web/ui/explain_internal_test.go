package ui

import (
	"strings"
	"testing"
)

// TestStandinsAndSyncReasonsInJapanese: the stand-ins for non-text LINE
// messages and the reasons a friend waits for sync are shown in the
// admin's language; an unknown reason says "will retry" with the raw
// text as detail.
func TestStandinsAndSyncReasonsInJapanese(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	ja := cat.locale("ja")
	en := cat.locale("en")
	for in, want := range map[string]string{
		"[Sticker]":        "［スタンプ］",
		"[File] menu.pdf":  "［ファイル］ menu.pdf",
		"[Location] 東京都港区": "［位置情報］ 東京都港区",
		"こんにちは":            "こんにちは",
		"[not a stand-in]": "[not a stand-in]",
	} {
		if got := standin(ja, in); got != want {
			t.Errorf("standin(%q) = %q, want %q", in, got, want)
		}
	}
	n := syncNote(ja, "waiting for the LINE profile (LINE API unavailable)")
	if !strings.Contains(n.Text, "LINE から名前と画像を取得できるのを待っています") || n.Detail != "" {
		t.Errorf("waiting for the profile: %+v", n)
	}
	n = syncNote(ja, "batch update contacts: HTTP 400 VALIDATION_ERROR")
	if !strings.Contains(n.Text, "linehub が自動で再試行します") || n.Detail != "batch update contacts: HTTP 400 VALIDATION_ERROR" {
		t.Errorf("unknown reason: %+v", n)
	}
	// A friend detached from a contact shared with another friend after a
	// merge: what happened, not "will retry".
	for _, l := range []*locale{ja, en} {
		n = syncNote(l, "[contact_shared] HubSpot contact 1003 was merged with the contact of LINE friend Alice (U1), which keeps it: this friend has no contact until its next message or follow")
		if n.Text != l.T("friends.contact_shared") || !strings.Contains(n.Detail, "1003") || strings.Contains(n.Text, "retr") || strings.Contains(n.Text, "再試行") {
			t.Errorf("shared contact: %+v", n)
		}
	}
}
