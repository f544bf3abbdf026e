package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// scheduleText words a job's schedule ("0 */6 * * *" → "every 6 hours")
// for the admin, who need not read cron. Only the common shapes are
// worded; ok is false for any other, which is then shown as it is.
func scheduleText(l *locale, spec string) (text string, ok bool) {
	spec = strings.TrimSpace(spec)
	switch spec {
	case "@hourly":
		return l.T("jobs.sched_hourly"), true
	case "@daily", "@midnight":
		return l.T("jobs.sched_daily", "00:00"), true
	}
	if d, found := strings.CutPrefix(spec, "@every "); found {
		return everyText(l, strings.TrimSpace(d))
	}
	f := strings.Fields(spec)
	if len(f) == 6 && f[0] == "0" { // leading seconds, at 0
		f = f[1:]
	}
	if len(f) != 5 || f[2] != "*" || f[3] != "*" || f[4] != "*" {
		return "", false
	}
	min, hour := f[0], f[1]
	m, mErr := cronNum(min, 59)
	switch {
	case mErr == nil && hour == "*":
		if m == 0 {
			return l.T("jobs.sched_hourly"), true
		}
		return l.T("jobs.sched_hourly_at", m), true
	case mErr == nil && strings.HasPrefix(hour, "*/"):
		n, err := cronNum(hour[2:], 23)
		if err != nil || n == 0 || m != 0 {
			return "", false
		}
		if n == 1 {
			return l.T("jobs.sched_hourly"), true
		}
		return l.T("jobs.sched_every_hours", n), true
	case mErr == nil:
		h, err := cronNum(hour, 23)
		if err != nil {
			return "", false
		}
		return l.T("jobs.sched_daily", fmt.Sprintf("%02d:%02d", h, m)), true
	case strings.HasPrefix(min, "*/") && hour == "*":
		n, err := cronNum(min[2:], 59)
		if err != nil || n == 0 {
			return "", false
		}
		return minutesText(l, n), true
	}
	return "", false
}

// cronNum reads a plain cron number no larger than max.
func cronNum(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("not a cron number: %q", s)
	}
	return n, nil
}

func everyText(l *locale, s string) (string, bool) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return "", false
	}
	switch {
	case d%time.Hour == 0:
		if d == time.Hour {
			return l.T("jobs.sched_hourly"), true
		}
		return l.T("jobs.sched_every_hours", int(d/time.Hour)), true
	case d%time.Minute == 0:
		return minutesText(l, int(d/time.Minute)), true
	case d%time.Second == 0:
		return l.T("jobs.sched_every_seconds", int(d/time.Second)), true
	}
	return "", false
}

func minutesText(l *locale, n int) string {
	if n == 1 {
		return l.T("jobs.sched_every_minute")
	}
	return l.T("jobs.sched_every_minutes", n)
}
