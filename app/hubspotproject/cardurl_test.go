package hubspotproject_test

import (
	"strings"
	"testing"

	"linehub/app/hubspotproject"
)

// The exported card calls linehub at the public URL it was exported for,
// under the app's permitted fetch URL; no placeholder is left.
func TestExportedCardCallsLinehub(t *testing.T) {
	files, err := hubspotproject.Files(hubspotproject.Options{PublicURL: "https://line.example.jp/"})
	if err != nil {
		t.Fatal(err)
	}
	card := string(files["src/app/cards/LineCard.jsx"])
	if strings.Contains(card, hubspotproject.CardURLPlaceholder) {
		t.Fatal("the exported card still holds the placeholder")
	}
	if !strings.Contains(card, "export const LINEHUB_URL = 'https://line.example.jp';") {
		t.Fatalf("LINEHUB_URL not set to the public URL:\n%s", card[:min(len(card), 2000)])
	}
	if !strings.Contains(card, "${base}/hubspot/app/card") || !strings.HasPrefix(hubspotproject.FetchPrefix, "/hubspot/app/") {
		t.Fatalf("the card's requests are not under the permitted fetch URL %s", hubspotproject.FetchPrefix)
	}
	for name := range files {
		if strings.Contains(name, "node_modules") || strings.Contains(name, ".test.") {
			t.Errorf("exported %s", name)
		}
	}
}
