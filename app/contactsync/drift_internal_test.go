package contactsync

import (
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/store"
)

func TestDriftedFields(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	v := func(value string, at time.Duration, source string) hubspot.PropertyVersion {
		return hubspot.PropertyVersion{Value: value, Timestamp: t0.Add(at), SourceType: source}
	}
	const name = "line_unanswered_3"
	tests := []struct {
		name    string
		current string
		history []hubspot.PropertyVersion // newest first
		repair  bool
		kept    int
	}{
		{"unchanged", "Yes", []hubspot.PropertyVersion{v("Yes", 0, "INTEGRATION")}, false, 0},
		{"person changed it after linehub", "No", []hubspot.PropertyVersion{v("No", time.Minute, "CRM_UI"), v("Yes", 0, "INTEGRATION")}, false, 1},
		{"workflow changed it after linehub", "No", []hubspot.PropertyVersion{v("No", time.Minute, "WORKFLOW"), v("Yes", 0, "INTEGRATION")}, false, 1},
		{"another app overwrote it", "No", []hubspot.PropertyVersion{v("No", time.Minute, "INTEGRATION"), v("Yes", 0, "INTEGRATION")}, true, 0},
		{"linehub's write missing from history: a person's value stands", "No", []hubspot.PropertyVersion{v("No", -time.Hour, "CRM_UI")}, false, 1},
		{"no history at all", "", nil, true, 0},
		{"cleared by a person", "", []hubspot.PropertyVersion{v("", time.Minute, "CRM_UI"), v("Yes", 0, "API")}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &store.Friend{Written: `{"line_unanswered":"Yes"}`}
			c := hubspot.ContactHistory{
				Contact: hubspot.Contact{Properties: map[string]string{name: tt.current}},
				History: map[string][]hubspot.PropertyVersion{name: tt.history},
			}
			fields, kept := driftedFields(f, c, 3)
			if got := fields&FieldUnanswered != 0; got != tt.repair || kept != tt.kept {
				t.Errorf("repair %v kept %d, want %v %d", got, kept, tt.repair, tt.kept)
			}
		})
	}
}

func TestSameValueSyncDate(t *testing.T) {
	if !sameValue(FieldSyncDate, "2026-11-25T06:00:00.123Z", "1795586400123") {
		t.Error("ISO and epoch ms of the same instant differ")
	}
	if sameValue(FieldSyncDate, "2026-11-25T06:00:00.124Z", "1795586400123") || sameValue(FieldName, "a", "b") {
		t.Error("different values compare equal")
	}
}
