package ui

import (
	"testing"
	"time"

	"linehub/app/config"
)

// Until HubSpot has told the portal's zone, pages use the job schedules'
// zone; without either, UTC.
func TestZoneFallsBackToJobsZone(t *testing.T) {
	cfg := config.Default()
	cfg.Jobs.TimeZone = "America/New_York"
	s := &Server{cfg: cfg}
	if err := s.initUI(); err != nil {
		t.Fatal(err)
	}
	if got := s.zone().String(); got != "America/New_York" {
		t.Errorf("zone %s, want America/New_York", got)
	}
	at := time.Date(2026, 12, 6, 15, 4, 0, 0, time.UTC)
	if got := s.localTime(at); got != "2026-12-06\u00a010:04" {
		t.Errorf("localTime %q", got)
	}
	s = &Server{cfg: config.Default()}
	if err := s.initUI(); err != nil {
		t.Fatal(err)
	}
	if got := s.zone(); got != time.UTC {
		t.Errorf("zone %s, want UTC", got)
	}
}

func TestZoneName(t *testing.T) {
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for name, want := range map[string]string{
		"UTC":               "UTC",
		"Asia/Tokyo":        "Asia/Tokyo (JST)",
		"America/New_York":  "America/New_York (EST)",
		"America/Sao_Paulo": "America/Sao_Paulo", // its abbreviation is only "-03"
	} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := zoneName(loc, at); got != want {
			t.Errorf("zoneName(%s) = %q, want %q", name, got, want)
		}
	}
}
