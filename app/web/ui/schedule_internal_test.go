package ui

import "testing"

func TestScheduleText(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	ja, en := cat.locale("ja"), cat.locale("en")
	for _, tc := range []struct{ spec, ja, en string }{
		{"0 */6 * * *", "6 時間ごと", "every 6 hours"},
		{"30 3 * * *", "毎日 03:30", "daily at 03:30"},
		{"15 4 * * *", "毎日 04:15", "daily at 04:15"},
		{"@hourly", "1 時間ごと", "every hour"},
		{"@every 1m", "1 分ごと", "every minute"},
		{"@every 90m", "90 分ごと", "every 90 minutes"},
		{"@every 2h", "2 時間ごと", "every 2 hours"},
		{"@every 30s", "30 秒ごと", "every 30 seconds"},
		{"@daily", "毎日 00:00", "daily at 00:00"},
		{"0 0 */6 * * *", "6 時間ごと", "every 6 hours"},
		{"*/5 * * * *", "5 分ごと", "every 5 minutes"},
		{"0 * * * *", "1 時間ごと", "every hour"},
		{"20 * * * *", "毎時 20 分", "every hour at :20"},
	} {
		if got, ok := scheduleText(ja, tc.spec); !ok || got != tc.ja {
			t.Errorf("ja %q: %q %v, want %q", tc.spec, got, ok, tc.ja)
		}
		if got, ok := scheduleText(en, tc.spec); !ok || got != tc.en {
			t.Errorf("en %q: %q %v, want %q", tc.spec, got, ok, tc.en)
		}
	}
	// Anything else is shown as it is, never worded wrongly.
	for _, spec := range []string{"0 3 * * 1", "0 9-17 * * *", "15 */6 * * *", "0 3 1 * *", "@weekly", "@every 1.5s", "60 3 * * *", "0 24 * * *", "03 3 * * *", "*/0 * * * *", "", "5 0 */6 * * *"} {
		if got, ok := scheduleText(en, spec); ok {
			t.Errorf("%q worded as %q, want it shown as it is", spec, got)
		}
	}
}
