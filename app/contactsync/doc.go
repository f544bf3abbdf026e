// Package contactsync turns LINE webhook events into HubSpot contact
// changes. Each stage hands on through the store, so a crash anywhere loses
// nothing acknowledged:
//
//	LINE webhook ──Ingest──▶ inbox ──applier──▶ friends ──sync worker──▶ HubSpot contacts
//	(ingest.go: verify,     (apply.go: events    (sync.go: batched
//	 store durably, ack)     → friend state,      creates and updates,
//	                          chat rows, profiles) merges followed,
//	                                               backoff, probes)
//
// Beside the path: the scheduled jobs that keep it true (reconcile.go:
// followers LINE knows but no webhook told; drift.go: contact properties
// edited by someone else; import.go: existing friends of verified
// accounts; deadletters.go: friends HubSpot keeps rejecting, and the
// inbox's retention), the seven contact properties each connection keeps
// (properties.go), and the pipeline's health (Status).
//
// It reads connections from a connections.Registry and knows nothing of
// sending: messaging stands above it and calls Wake when a sent message
// changed a friend.
package contactsync
