package config

import (
	"fmt"
	"strings"
	"time"
	// Schedules name IANA zones; a VPS image without tzdata must still
	// load them.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// ScheduleOff disables a job.
const ScheduleOff = "off"

// CronParser reads job schedules: standard five fields, an optional leading
// seconds field, and descriptors such as @hourly or @every 10m.
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Location is the time zone of the job schedules.
func (j Jobs) Location() (*time.Location, error) {
	if j.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(j.TimeZone)
}

// Schedules maps each job name to its schedule ("off" = disabled).
func (j Jobs) Schedules() map[string]string {
	return map[string]string{
		"reconcile":    j.Reconcile,
		"drift_repair": j.DriftRepair,
		"dead_letters": j.DeadLetters,
		"prune_inbox":  j.PruneInbox,
		"import_check": j.ImportCheck,
	}
}

func (j Jobs) problems() []problem {
	var ps []problem
	if _, err := j.Location(); err != nil {
		ps = append(ps, problem{"jobs.time_zone", fmt.Sprintf("%s is not a known time zone (use a name such as UTC or Asia/Tokyo)", show(j.TimeZone))})
	}
	for name, spec := range j.Schedules() {
		if strings.EqualFold(strings.TrimSpace(spec), ScheduleOff) {
			continue
		}
		if _, err := CronParser.Parse(spec); err != nil {
			ps = append(ps, problem{"jobs." + name, fmt.Sprintf("%s is not a cron schedule (such as \"0 */6 * * *\", \"@hourly\" or \"off\"): %v", show(spec), err)})
		}
	}
	if j.ReconcileSpread < 0 || j.ReconcileSpread > 24*time.Hour {
		ps = append(ps, problem{"jobs.reconcile_spread", fmt.Sprintf("must be 0 to 24h, got %s", j.ReconcileSpread)})
	}
	if j.InboxRetention < time.Hour {
		ps = append(ps, problem{"jobs.inbox_retention", fmt.Sprintf("must be at least 1h (applied events are kept this long), got %s", j.InboxRetention)})
	}
	if j.ChatRetention != 0 && j.ChatRetention < 24*time.Hour {
		ps = append(ps, problem{"jobs.chat_retention", fmt.Sprintf("must be 0 (keep forever) or at least 24h, got %s", j.ChatRetention)})
	}
	if j.LINERate < 1 || j.LINERate > 2000 {
		ps = append(ps, problem{"jobs.line_rate", fmt.Sprintf("must be 1..2000 (LINE allows 2,000 requests a second), got %d", j.LINERate)})
	}
	if j.DriftReadsPerMinute < 1 || j.DriftReadsPerMinute > 1140 {
		ps = append(ps, problem{"jobs.drift_reads_per_minute", fmt.Sprintf("must be 1..1140, got %d", j.DriftReadsPerMinute)})
	}
	return ps
}
