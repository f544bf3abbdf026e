package contactsync

import (
	"context"
	"time"

	"linehub/app/store"
)

// deadLetterAttempts failed syncs in a row, all rejected by HubSpot for the
// friend itself, park the friend: with backoffFor that is about four hours
// of trying. Outages fail every friend with another error and park nobody.
var deadLetterAttempts = 8

// rejectedPrefix starts the sync error of a friend HubSpot refused on its
// own (see failures in sync.go).
const rejectedPrefix = "HubSpot rejected"

// DeadLetterRetryAfter is how long a dead letter stays parked before the
// dead-letter job tries it again by itself.
const DeadLetterRetryAfter = 24 * time.Hour

// SweepDeadLetters parks friends that keep being rejected and retries
// those parked more than DeadLetterRetryAfter ago.
func (b *Sync) SweepDeadLetters(ctx context.Context) (parked, retried int, err error) {
	if err := b.st.ForgetResolvedDeadLetters(ctx); err != nil {
		return 0, 0, err
	}
	parked, err = b.st.ParkFailing(ctx, deadLetterAttempts, rejectedPrefix)
	if err != nil {
		return 0, 0, err
	}
	if parked > 0 {
		b.log.Warn("contacts parked as dead letters after repeated rejections by HubSpot", "count", parked)
	}
	retried, err = b.st.RetryDeadLetters(ctx, 0, nil, time.Now().Add(-DeadLetterRetryAfter))
	if retried > 0 {
		wake(b.syncWake)
	}
	return parked, retried, err
}

// RetryDeadLetters un-parks the given dead letters of a connection (all of
// them when ids is empty) and syncs them at once.
func (b *Sync) RetryDeadLetters(ctx context.Context, connID int64, ids []int64) (int, error) {
	n, err := b.st.RetryDeadLetters(ctx, connID, ids, time.Time{})
	if n > 0 {
		wake(b.syncWake)
	}
	return n, err
}

// PruneInbox deletes applied webhook events, LINE's and the HubSpot
// app's, older than the retention.
func (b *Sync) PruneInbox(ctx context.Context) (int64, error) {
	cutoff := time.Now().UTC().Add(-b.cfg.Jobs.InboxRetention)
	n, err := b.st.PruneInbox(ctx, cutoff)
	if err != nil {
		return n, err
	}
	m, err := b.st.PruneHubSpotEvents(ctx, cutoff)
	return n + m, err
}

// DeadLetters lists a connection's dead letters (0 = all connections).
func (b *Sync) DeadLetters(ctx context.Context, connID int64, limit int) ([]store.DeadLetter, error) {
	return b.st.DeadLetters(ctx, connID, limit)
}
