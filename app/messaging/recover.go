package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"linehub/app/connections"
	"linehub/app/line"
	"linehub/app/store"
)

// A send is stored, with its LINE retry key, before LINE is called, and
// its outcome commits with its record. A process killed in between leaves
// the send pending: LINE may or may not have it. The sends pending when a
// Bridge is made are such orphans (the data directory's lock keeps any
// other linehub off the database), and recoverSends settles them:
//
//   - a push is sent again with its retry key while LINE still honours it:
//     LINE answers 409 if it had accepted it (nothing is delivered twice)
//     or delivers it now; either way it is recorded as sent, with its chat
//     row and Unanswered = No, as deliver does. LINE refusing it fails it;
//     one too old for its key is given up (giveUpExpired).
//   - a reply (no retry key exists for those) is tried once more with the
//     same reply token, which LINE accepts only once: accepted → it was not
//     delivered before and is now; refused or unanswered → it is recorded
//     as unconfirmed (see recordUnconfirmed). It is never pushed instead:
//     that could answer twice.
//
// Sends this process claims later are never in the list, so recovery
// cannot race a request in flight; a caller retrying an orphan at the same
// time is harmless (same retry key; finishSend records it once).

// orphanRetry is how long an orphan waits after LINE failed to answer.
const orphanRetry = time.Minute

// loadOrphans remembers the sends pending when the Bridge is made.
func (b *Service) loadOrphans(ctx context.Context) error {
	ids, err := b.st.PendingSendIDs(ctx)
	if err != nil {
		return err
	}
	b.msg.recMu.Lock()
	defer b.msg.recMu.Unlock()
	b.msg.orphans = make(map[int64]time.Time, len(ids))
	for _, id := range ids {
		b.msg.orphans[id] = time.Time{}
	}
	return nil
}

// recoverSends settles the orphans that are due; those LINE did not
// answer wait orphanRetry (or what its rate limit says) and are tried
// again until their retry key expires.
func (b *Service) recoverSends(ctx context.Context) {
	b.msg.recMu.Lock()
	defer b.msg.recMu.Unlock()
	now := time.Now()
	for _, id := range slices.Sorted(maps.Keys(b.msg.orphans)) {
		if ctx.Err() != nil {
			return
		}
		if b.msg.orphans[id].After(now) {
			continue
		}
		wait, err := b.recoverSend(ctx, id)
		if err != nil && wait > 0 {
			b.log.Warn("recovering an interrupted send: LINE did not answer; trying again later", "send", id, "retry_in", wait, "err", err)
			b.msg.orphans[id] = time.Now().Add(wait)
			continue
		}
		if err != nil {
			b.log.Error("recovering an interrupted send", "send", id, "err", err)
		}
		delete(b.msg.orphans, id)
	}
}

// RecoverSends settles the sends an earlier process left pending (see
// recoverSends) now; the messaging worker does it when it starts.
func (b *Service) RecoverSends(ctx context.Context) { b.recoverSends(ctx) }

// recoverSend settles one orphan. wait > 0 with an error: try again then.
func (b *Service) recoverSend(ctx context.Context, id int64) (wait time.Duration, err error) {
	row, err := b.st.GetSend(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return orphanRetry, err
	}
	if row.Status != store.SendPending {
		return 0, nil // a caller's retry settled it meanwhile
	}
	log := b.log.With("send", row.ID, "connection", row.ConnectionID, "kind", row.Kind, "created_at", row.CreatedAt)
	fail := func(msg string) (time.Duration, error) {
		if err := b.st.FinishSend(ctx, row.ID, store.SendFailed, msg); err != nil && !errors.Is(err, store.ErrSendFinished) {
			return orphanRetry, err
		}
		log.Warn("interrupted send failed", "reason", msg)
		return 0, nil
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal([]byte(row.Messages), &msgs); err != nil {
		return fail(fmt.Sprintf("stored messages unreadable: %v", err))
	}
	cs, err := b.conns.ByID(ctx, row.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return fail("not sent again: its connection was removed")
	}
	if err != nil {
		return orphanRetry, err
	}
	if row.Kind == "reply" && row.ReplyMsgID != 0 {
		return b.recoverReply(ctx, cs, row, msgs, log)
	}
	// A push, or a reply cut short before it took a token: then LINE was
	// not called, and it goes out as the push it would have become.
	if err := b.giveUpExpired(ctx, row); err != nil {
		log.Warn("interrupted send given up", "reason", err)
		return 0, nil
	}
	if cs.Client == nil {
		return orphanRetry, connections.NoChannelTokenErr()
	}
	via := row.Kind
	if via == "reply" {
		if err := b.st.SetSendKind(ctx, row.ID, "push"); err != nil {
			return orphanRetry, err
		}
		via = "push"
	}
	if _, err := b.pushSend(ctx, cs, row, via, msgs); err != nil {
		var rl *RateLimitError
		var ie *connections.InputError
		switch {
		case errors.As(err, &ie), errors.As(err, &rl) && rl.Quota:
			log.Warn("interrupted send refused by LINE", "err", err) // pushSend failed it
			return 0, nil
		case errors.As(err, &rl):
			return rl.RetryAfter, err
		}
		return orphanRetry, err
	}
	log.Info("interrupted send recovered: recorded as sent (LINE delivers it once: the retry key makes a repeat a no-op)")
	return 0, nil
}

// recoverReply tries an interrupted reply's token once more (see the
// comment at the top).
func (b *Service) recoverReply(ctx context.Context, cs *connections.Conn, row *store.Send, msgs []json.RawMessage, log *slog.Logger) (time.Duration, error) {
	unconfirmed := func(tokID int64, why string) (time.Duration, error) {
		msg := "linehub stopped while LINE was answering this reply, so it may not have been delivered (" + why + ")"
		if err := b.recordReply(ctx, cs.Conn.ID, row, tokID, msgs, store.SendUnconfirmed, msg); err != nil {
			return orphanRetry, err
		}
		log.Warn("interrupted reply recorded as unconfirmed: LINE may not have delivered it", "reason", why)
		return 0, nil
	}
	if row.ReplyMsgID == store.ReplyTokenUnknown {
		return unconfirmed(0, "its reply token is not known")
	}
	tok, err := b.st.ChatMessageByID(ctx, row.ReplyMsgID)
	if errors.Is(err, store.ErrNotFound) {
		return unconfirmed(0, "its reply token is no longer stored")
	}
	if err != nil {
		return orphanRetry, err
	}
	if cs.Client == nil {
		return unconfirmed(tok.ID, "the connection has no channel access token to try it again")
	}
	err = cs.Client.Reply(ctx, tok.ReplyToken, msgs)
	var ie *connections.InputError
	switch {
	case err == nil:
		if err := b.recordReply(ctx, cs.Conn.ID, row, tok.ID, msgs, store.SendSent, ""); err != nil {
			return orphanRetry, err
		}
		log.Info("interrupted reply recovered: LINE accepted its reply token now, so it had not been delivered before")
		return 0, nil
	case errors.Is(err, line.ErrInvalidReplyToken):
		return unconfirmed(tok.ID, "LINE refuses its reply token now: used by the first attempt, or expired")
	case errors.As(classifySendErr(err), &ie):
		// LINE refuses the message itself: it was never deliverable.
		if ferr := b.st.FinishSend(ctx, row.ID, store.SendFailed, err.Error()); ferr != nil && !errors.Is(ferr, store.ErrSendFinished) {
			return orphanRetry, ferr
		}
		log.Warn("interrupted reply refused by LINE", "err", err)
		return 0, nil
	}
	return unconfirmed(tok.ID, "trying its reply token again failed: "+err.Error())
}
