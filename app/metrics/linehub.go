package metrics

import "strconv"

// Default holds linehub's counters. The packages that count (web, hubspot,
// line, contactsync, jobs) increment these directly, so instrumenting a call
// site needs no wiring through constructors.
var Default = &Registry{}

// linehub's counters. Label values must come from small fixed sets (a
// result word, an event type, an endpoint template, a status code), never
// from user input, so the number of series stays bounded.
var (
	WebhookRequests = Default.Counter("linehub_webhook_requests_total",
		"LINE webhook requests by result (ok, bad_signature, unknown_connection, bad_request, too_large, no_secret, storage_full, error).", "result")
	WebhookEvents = Default.Counter("linehub_webhook_events_total",
		"LINE webhook events received, by event type; redeliveries count once per delivery.", "type")
	HubSpotRequests = Default.Counter("linehub_hubspot_requests_total",
		"HTTP requests sent to HubSpot, by endpoint template and status code (error = no response).", "endpoint", "status")
	HubSpotRateLimited = Default.Counter("linehub_hubspot_rate_limited_total",
		"HubSpot answers with status 429, by endpoint template.", "endpoint")
	LINERequests = Default.Counter("linehub_line_api_requests_total",
		"HTTP requests sent to the LINE Messaging API, by operation and status code (error = no response).", "op", "status")
	JobRuns = Default.Counter("linehub_job_runs_total",
		"Scheduled job runs by job name and result (ok, error).", "job", "result")
	CertificateEvents = Default.Counter("linehub_certificate_events_total",
		"Automatic TLS certificate events (cert_obtained, cert_failed, …).", "event")
)

// lineEventTypes are the webhook event types LINE documents; anything else
// is counted as "other" so a malformed request cannot add series.
var lineEventTypes = map[string]bool{
	"message": true, "unsend": true, "follow": true, "unfollow": true, "join": true, "leave": true,
	"memberJoined": true, "memberLeft": true, "postback": true, "videoPlayComplete": true,
	"beacon": true, "accountLink": true, "things": true, "membership": true, "module": true,
	"activated": true, "deactivated": true, "botSuspended": true, "botResumed": true,
}

// EventType is the label value for a LINE webhook event type.
func EventType(t string) string {
	if lineEventTypes[t] {
		return t
	}
	return "other"
}

// Status is the label value for an HTTP status; 0 means no response.
func Status(code int) string {
	if code <= 0 {
		return "error"
	}
	return strconv.Itoa(code)
}
