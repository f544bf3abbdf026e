package messaging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/line"
	"linehub/app/store"
)

// RateLimitError means LINE refused for now (429): rate limit or monthly
// quota. RetryAfter says when trying again makes sense.
type RateLimitError struct {
	RetryAfter time.Duration
	Quota      bool
	Err        error
}

func (e *RateLimitError) Error() string {
	if e.Quota {
		return "LINE monthly message quota reached: " + e.Err.Error()
	}
	return "LINE rate limit: " + e.Err.Error()
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// classifySendErr maps a LINE failure onto what callers act on: 429 →
// RateLimitError, LINE refusing the message itself (400) → connections.InputError,
// anything else stays an upstream error.
func classifySendErr(err error) error {
	var apiErr *line.APIError
	switch {
	case errors.Is(err, line.ErrQuotaExceeded):
		return &RateLimitError{RetryAfter: time.Hour, Quota: true, Err: err}
	case errors.Is(err, line.ErrRateLimited):
		return &RateLimitError{RetryAfter: time.Minute, Err: err}
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
		return connections.CodedErr(connections.CodeLINERefusedMessage, "LINE refused the message: %s", apiErr.Error())
	}
	return fmt.Errorf("push to LINE: %w", err)
}

// retryKeyLife is how long linehub retries a send with its stored
// X-Line-Retry-Key. LINE honours the key for 24 h after the first attempt
// (developers.line.biz "Retrying a failed API request"); a retry after
// that may deliver a message LINE already accepted a second time, so the
// send is given up instead. The hour of margin covers clock differences.
const retryKeyLife = 23 * time.Hour

// expiredSend is the error of a send given up because its retry key is
// too old to retry safely.
func expiredSend(first time.Time) error {
	return &SkipError{Code: SkipExpired, Msg: fmt.Sprintf("not sent again: the first attempt (%s) failed without a clear answer from LINE, and LINE's retry key for it has expired after 24 h, so another attempt could deliver the message twice",
		first.UTC().Format(time.RFC3339))}
}

// SendResult is what a send did.
type SendResult struct {
	SendID    int64             `json:"send_id,omitempty"`
	Status    string            `json:"status"` // sent, duplicate (sent before, nothing sent now)
	To        string            `json:"to"`
	Via       string            `json:"via"` // push or reply
	Messages  []json.RawMessage `json:"messages"`
	Duplicate bool              `json:"duplicate"`
}

// requestHash is what an idempotency key is bound to: the connection, the
// recipient and the message (content is the message as the caller wrote
// it, before placeholders are filled, or a template's id). A retry of the
// request has the same hash; a reuse of the key for anything else has not.
func requestHash(connID int64, to string, content []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "send-v1\x00%d\x00%s\x00", connID, to)
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalMessages writes message objects so that the same content has
// the same bytes whatever the key order or spacing the caller used.
func canonicalMessages(msgs []json.RawMessage) []byte {
	vs := make([]any, len(msgs))
	for i, m := range msgs {
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.UseNumber()
		if err := dec.Decode(&vs[i]); err != nil {
			vs[i] = string(m) // not JSON: compare as written
		}
	}
	out, _ := json.Marshal(vs)
	return out
}

// autoKeyPrefix starts the key of a send whose caller gave no idempotency
// key. Callers' keys always get another prefix (api:, reply:, key:, cb:,
// hash:), so no request can name such a send.
const autoKeyPrefix = "auto:"

// deliver pushes msgs to one friend. Every push is recorded with its LINE
// retry key before LINE is called (one without an idempotency key under a
// generated key no caller can repeat), so any retry (after an error, a
// timeout, or the recovery after a crash, see recoverSends) reuses that key
// and LINE delivers at most once; a send already recorded as sent returns
// Duplicate without calling LINE. reqHash (see requestHash) binds the key
// to this request: another request with the key gets store.ErrKeyReused
// and sends nothing. renew > 0 lets the same key send again after that
// long.
func (b *Service) deliver(ctx context.Context, cs *connections.Conn, kind, idemKey, reqHash string, renew time.Duration, to string, msgs []json.RawMessage) (SendResult, error) {
	raw, _ := json.Marshal(msgs)
	if idemKey == "" {
		idemKey = autoKeyPrefix + uuid.NewString()
	}
	row := &store.Send{ConnectionID: cs.Conn.ID, IdemKey: idemKey, Kind: kind, UserID: to, Messages: string(raw), RetryKey: uuid.NewString(), RequestHash: reqHash}
	got, created, err := b.st.ClaimSend(ctx, row, renew)
	if err != nil {
		return SendResult{}, err
	}
	if !created {
		if got.Status == store.SendSent {
			return duplicateOf(got), nil
		}
		// Pending means LINE's answer was unclear (5xx, timeout, crash):
		// only the retry key keeps a retry from delivering twice.
		if err := b.giveUpExpired(ctx, got); err != nil {
			return SendResult{}, err
		}
		// An earlier attempt failed or was cut short: send what it
		// recorded, with its retry key.
		row = got
		if err := json.Unmarshal([]byte(got.Messages), &msgs); err != nil {
			return SendResult{}, fmt.Errorf("send %d: stored messages: %w", got.ID, err)
		}
	}
	return b.pushSend(ctx, cs, row, kind, msgs)
}

// duplicateOf is the answer to a request whose send went out before.
func duplicateOf(s *store.Send) SendResult {
	var prev []json.RawMessage
	_ = json.Unmarshal([]byte(s.Messages), &prev)
	via := s.Kind
	if via != "reply" {
		via = "push"
	}
	return SendResult{SendID: s.ID, Status: "duplicate", To: s.UserID, Via: via, Messages: prev, Duplicate: true}
}

// giveUpExpired fails a pending send whose retry key LINE no longer
// honours and returns why; nil when the send may still be retried.
func (b *Service) giveUpExpired(ctx context.Context, s *store.Send) error {
	if s.Status != store.SendPending || time.Since(s.CreatedAt) <= retryKeyLife {
		return nil
	}
	err := expiredSend(s.CreatedAt)
	if ferr := b.st.FinishSend(context.WithoutCancel(ctx), s.ID, store.SendFailed, err.Error()); ferr != nil && !errors.Is(ferr, store.ErrSendFinished) {
		return ferr
	}
	return err
}

// pushSend pushes a recorded send with its retry key and records the
// outcome; via is how the chat shows it.
func (b *Service) pushSend(ctx context.Context, cs *connections.Conn, row *store.Send, via string, msgs []json.RawMessage) (SendResult, error) {
	if err := cs.Client.Push(ctx, row.UserID, msgs, row.RetryKey); err != nil {
		cerr := classifySendErr(err)
		var rl *RateLimitError
		var ie *connections.InputError
		status := store.SendPending // retried with the same key
		if errors.As(cerr, &ie) || (errors.As(cerr, &rl) && rl.Quota) {
			status = store.SendFailed
		}
		if ferr := b.st.FinishSend(context.WithoutCancel(ctx), row.ID, status, err.Error()); ferr != nil {
			b.log.Error("record failed send", "send", row.ID, "err", ferr)
		}
		return SendResult{}, cerr
	}
	// From here the message is out: record it even if the caller gave up,
	// in one transaction with the send's outcome. Should that fail (or the
	// process die first), the send stays pending and its retry, or the
	// recovery at the next start, with the same retry key, records it:
	// LINE answers 409 and delivers nothing.
	done := func(tx *store.ApplyTx) error { return tx.FinishSend(row.ID, store.SendSent, "") }
	err := b.recordSent(context.WithoutCancel(ctx), cs.Conn.ID, []string{row.UserID}, msgs, via, "send:"+store.IDString(row.ID), done)
	if err != nil && !errors.Is(err, store.ErrSendFinished) {
		return SendResult{}, err
	}
	// ErrSendFinished: another attempt of this send (a concurrent retry,
	// the recovery) recorded it first; LINE delivered it once.
	return SendResult{SendID: row.ID, Status: "sent", To: row.UserID, Via: "push", Messages: msgs}, nil
}

// recordSent notes messages linehub sent: in the conversation (and, through
// it, the timeline notes) and as Unanswered = No on each known friend
// (docs/design.md §3). Friends linehub has not seen get nothing: there is no
// contact to update, and their first message creates it. done, if not nil,
// stores the send's outcome in the same transaction, so that no crash can
// leave a send marked done whose record is missing.
func (b *Service) recordSent(ctx context.Context, connID int64, to []string, msgs []json.RawMessage, via, sourceKey string, done func(*store.ApplyTx) error) error {
	return b.recordSentTo(ctx, connID, to, nil, msgs, via, sourceKey, done)
}

// recordSentTo is recordSent with the HubSpot contacts of recipients
// linehub may have no friend for (user id → contact id, from a
// broadcast's list read): their timeline note goes on that contact.
func (b *Service) recordSentTo(ctx context.Context, connID int64, to []string, contacts map[string]string, msgs []json.RawMessage, via, sourceKey string, done func(*store.ApplyTx) error) error {
	raw, _ := json.Marshal(msgs)
	stored := string(raw)
	if len(to) > 1 {
		// A multicast's messages are stored once, with the broadcast; its
		// rows find them through their source key (ChatMessages). A flex
		// message can be tens of KB, and a broadcast has a row per friend.
		stored = ""
	}
	summary := line.MessageSummary(msgs)
	at := time.Now().UnixMilli()
	err := b.st.Apply(ctx, func(tx *store.ApplyTx) error {
		if done != nil {
			if err := done(tx); err != nil {
				return err
			}
		}
		fs, err := tx.Friends(connID, to)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		save := make([]*store.Friend, 0, len(fs))
		for _, f := range fs {
			known[f.UserID] = true
			// The reply answers every message seen so far. Stamping it just
			// after the newest one keeps the comparison on LINE's clock: a
			// later message flips Unanswered back whatever this server's
			// clock says.
			f.Unanswered, f.UnansweredAt = false, max(f.UnansweredAt, f.LastMessageAt+1)
			f.Dirty |= int(contactsync.FieldUnanswered)
			save = append(save, f)
		}
		if err := tx.SaveFriends(save); err != nil {
			return err
		}
		rows := make([]store.ChatMessage, 0, len(to))
		for _, u := range to {
			key := sourceKey
			if len(to) > 1 {
				key = sourceKey + ":" + u
			}
			// The note goes on the friend's contact, or on the one the list
			// named; a user with neither has no contact to log it on.
			rows = append(rows, store.ChatMessage{ConnectionID: connID, SourceKey: key, UserID: u, Direction: store.ChatOut, Via: via,
				Text: summary, Messages: stored, Timestamp: at, NotePending: known[u] || contacts[u] != "", NoteContactID: contacts[u]})
		}
		return tx.AddChatMessages(rows)
	})
	if err != nil {
		return fmt.Errorf("record sent message: %w", err)
	}
	b.sync.Wake()
	wake(b.messagingWake())
	return nil
}

// recordUnconfirmed notes a message LINE may or may not have delivered: a
// chat row marked unconfirmed (and its timeline note, which says so) in
// one transaction with the send's outcome (done). The friend's Unanswered
// is left alone: if the answer did not arrive, the friend is still
// waiting, and the conversation stays on top of the list for a person to
// check.
func (b *Service) recordUnconfirmed(ctx context.Context, connID int64, to string, msgs []json.RawMessage, via, sourceKey string, done func(*store.ApplyTx) error) error {
	raw, _ := json.Marshal(msgs)
	err := b.st.Apply(ctx, func(tx *store.ApplyTx) error {
		if err := done(tx); err != nil {
			return err
		}
		fs, err := tx.Friends(connID, []string{to})
		if err != nil {
			return err
		}
		return tx.AddChatMessages([]store.ChatMessage{{ConnectionID: connID, SourceKey: sourceKey, UserID: to, Direction: store.ChatOut, Via: via,
			Text: line.MessageSummary(msgs), Messages: string(raw), Timestamp: time.Now().UnixMilli(), NotePending: len(fs) > 0, Unconfirmed: true}})
	})
	if err != nil {
		return fmt.Errorf("record unconfirmed message: %w", err)
	}
	wake(b.messagingWake())
	return nil
}
