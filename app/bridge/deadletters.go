package bridge

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
func (b *Bridge) SweepDeadLetters(ctx context.Context) (parked, retried int, err error) {
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
func (b *Bridge) RetryDeadLetters(ctx context.Context, connID int64, ids []int64) (int, error) {
	n, err := b.st.RetryDeadLetters(ctx, connID, ids, time.Time{})
	if n > 0 {
		wake(b.syncWake)
	}
	return n, err
}

// PruneInbox deletes applied webhook events older than the retention, and
// finished sends too: those are kept at least a day past HubSpot's retry
// window, as their idempotency keys answer HubSpot's retries. Chat
// messages older than the chat retention go too (unless kept forever).
func (b *Bridge) PruneInbox(ctx context.Context) (int64, error) {
	now := time.Now().UTC()
	n, err := b.st.PruneInbox(ctx, now.Add(-b.cfg.Jobs.InboxRetention))
	if err != nil {
		return n, err
	}
	keep := max(b.cfg.Jobs.InboxRetention, retryWindow+24*time.Hour)
	m, err := b.st.PruneSends(ctx, now.Add(-keep))
	n += m
	if err != nil || b.cfg.Jobs.ChatRetention == 0 {
		return n, err
	}
	m, err = b.st.PruneChat(ctx, now.Add(-b.cfg.Jobs.ChatRetention))
	return n + m, err
}

// DeadLetters lists a connection's dead letters (0 = all connections).
func (b *Bridge) DeadLetters(ctx context.Context, connID int64, limit int) ([]store.DeadLetter, error) {
	return b.st.DeadLetters(ctx, connID, limit)
}
