package config

import (
	"strings"
	"testing"
)

func TestJobsValidation(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string // "" = valid
	}{
		{"six fields with seconds", []string{"LINEHUB_JOBS_RECONCILE=*/5 * * * * *"}, ""},
		{"descriptor", []string{"LINEHUB_JOBS_DRIFT_REPAIR=@every 90s"}, ""},
		{"off", []string{"LINEHUB_JOBS_PRUNE_INBOX=off"}, ""},
		{"zone", []string{"LINEHUB_JOBS_TIME_ZONE=Asia/Tokyo"}, ""},
		{"bad schedule", []string{"LINEHUB_JOBS_RECONCILE=every six hours"}, "jobs.reconcile"},
		{"bad zone", []string{"LINEHUB_JOBS_TIME_ZONE=Mars/Base"}, "jobs.time_zone"},
		{"short retention", []string{"LINEHUB_JOBS_INBOX_RETENTION=10m"}, "jobs.inbox_retention"},
		{"chat kept forever", []string{"LINEHUB_JOBS_CHAT_RETENTION=0"}, ""},
		{"short chat retention", []string{"LINEHUB_JOBS_CHAT_RETENTION=1h"}, "jobs.chat_retention"},
		{"line rate", []string{"LINEHUB_JOBS_LINE_RATE=0"}, "jobs.line_rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load("", nil, tt.env)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}
