package contactsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"linehub/app/line"
	"linehub/app/metrics"
	"linehub/app/store"
)

// ErrNoSecret means a webhook arrived for a connection whose channel
// secret is not set yet, so it cannot be verified.
var ErrNoSecret = errors.New("channel secret not set for this connection")

// IngestResult says what a webhook request contained.
type IngestResult struct {
	ConnectionID int64
	Events       int // events in the request
	New          int // events not seen before (the rest were redeliveries)
}

// Ingest verifies a webhook request and stores its events durably. When it
// returns nil the events survive a crash and LINE may be answered 200;
// any error means nothing was stored.
func (b *Sync) Ingest(ctx context.Context, key, signature string, body []byte) (IngestResult, error) {
	cs, err := b.conns.ByKey(ctx, key)
	if err != nil {
		return IngestResult{}, err
	}
	res := IngestResult{ConnectionID: cs.Conn.ID}
	if cs.Secret == "" {
		return res, ErrNoSecret
	}
	cb, err := line.ParseWebhook(cs.Secret, signature, body)
	if err != nil {
		return res, err
	}
	res.Events = len(cb.Events)
	for _, ev := range cb.Events {
		metrics.WebhookEvents.Inc(metrics.EventType(ev.Type))
	}
	if len(cb.Events) == 0 {
		return res, nil // LINE's "Verify" button sends no events
	}
	received := time.Now().UTC()
	rows := make([]store.InboxEvent, len(cb.Events))
	for i, ev := range cb.Events {
		id := ev.ID
		if id == "" {
			// Every documented event has a webhookEventId; a hash keeps
			// dedupe working for any that does not.
			sum := sha256.Sum256(ev.Raw)
			id = "sha256:" + hex.EncodeToString(sum[:16])
		}
		rows[i] = store.InboxEvent{
			ConnectionID: cs.Conn.ID, WebhookEventID: id, Type: ev.Type, UserID: ev.UserID,
			Timestamp: ev.Timestamp, Raw: string(ev.Raw), ReceivedAt: received, Pending: true,
		}
	}
	n, err := b.st.AppendInbox(ctx, rows)
	if err != nil || n > 0 { // only new rows prove the disk takes writes
		b.noteStorage(err)
	}
	if err != nil {
		return res, fmt.Errorf("store webhook events: %w", err)
	}
	res.New = n
	if n > 0 {
		b.lastIngest.Store(time.Now().UnixNano())
		wake(b.applyWake)
	}
	return res, nil
}

// ingestActive says whether a webhook stored new events within ingestRecent.
func (b *Sync) ingestActive() bool {
	last := b.lastIngest.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < ingestRecent
}
