package ui

import (
	"testing"
	"time"

	"linehub/app/jobs"
	"linehub/app/store"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 3000: "3,000", 123456: "123,456", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	en, ja := cat.locale("en"), cat.locale("ja")
	for _, tc := range []struct {
		d      time.Duration
		en, ja string
	}{
		{-time.Second, "—", "—"},
		{17 * time.Millisecond, "17 ms", "17 ミリ秒"},
		{8 * time.Second, "8.0 s", "8.0 秒"},
		{3*time.Minute + 20*time.Second, "3 min 20 s", "3 分 20 秒"},
		{26*time.Hour + 5*time.Minute, "26 h 5 min", "26 時間 5 分"},
	} {
		if got := fmtDuration(en, tc.d); got != tc.en {
			t.Errorf("en %v: %q, want %q", tc.d, got, tc.en)
		}
		if got := fmtDuration(ja, tc.d); got != tc.ja {
			t.Errorf("ja %v: %q, want %q", tc.d, got, tc.ja)
		}
	}
}

func TestRunState(t *testing.T) {
	for _, tc := range []struct {
		r    store.JobRun
		want string
	}{
		{store.JobRun{Status: store.RunOK}, "ok"},
		{store.JobRun{Status: store.RunRunning}, "running"},
		{store.JobRun{Status: store.RunFailed, Message: "list LINE followers: 500"}, "failed"},
		{store.JobRun{Status: store.RunFailed, Message: store.InterruptedMessage}, runInterrupted},
		{store.JobRun{Status: store.RunFailed, Message: jobs.StoppedMessage}, runInterrupted},
		{store.JobRun{Job: jobs.Import, Status: store.RunOK, Message: "state=unavailable total=0 done=0"}, runUnavailable},
		{store.JobRun{Job: jobs.Import, Status: store.RunOK, Message: "state=done total=3 done=3"}, "ok"},
	} {
		if got := runState(tc.r); got != tc.want {
			t.Errorf("runState(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}
