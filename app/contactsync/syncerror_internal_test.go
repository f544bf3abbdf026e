package contactsync

import (
	"errors"
	"fmt"
	"testing"

	"linehub/app/hubspot"
)

// TestCodedSyncErrorRoundTrip: a call failure a person can fix keeps its
// code in front of the friend's stored error, and SplitSyncError gives
// both back; other texts (HubSpot's per-contact refusals, linehub's own
// reasons, anything starting with a bracket that is no code) stay whole.
func TestCodedSyncErrorRoundTrip(t *testing.T) {
	err := fmt.Errorf("batch create contacts: %w", hubspot.ErrUnauthorized)
	stored := codedSyncError(err)
	if code, text := SplitSyncError(stored); code != "hubspot_token_rejected" || text != err.Error() {
		t.Errorf("SplitSyncError(%q) = %q, %q", stored, code, text)
	}
	if got := codedSyncError(errors.New("batch update contacts: HTTP 400")); got != "batch update contacts: HTTP 400" {
		t.Errorf("uncoded error stored as %q", got)
	}
	for _, msg := range []string{"", "[Sticker]", "[] x", "[Bad Code] x", "[hubspot_token_rejected]", "rejected the contact (400 VALIDATION_ERROR): x"} {
		if code, text := SplitSyncError(msg); code != "" || text != msg {
			t.Errorf("SplitSyncError(%q) = %q, %q; want no code", msg, code, text)
		}
	}
}
