package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Send states. Unconfirmed is a reply whose outcome LINE never told:
// the reply API has no retry key, so nothing can ask it again.
const (
	SendPending     = "pending"
	SendSent        = "sent"
	SendFailed      = "failed"
	SendUnconfirmed = "unconfirmed"
)

// Send is one message linehub was asked to push, keyed for idempotency.
// Its RetryKey is stored before LINE is called, so a retry after a crash
// reuses it and LINE refuses a second delivery (409).
type Send struct {
	ID           int64  `gorm:"primaryKey" json:"id"`
	ConnectionID int64  `json:"connection_id"`
	IdemKey      string `json:"-"`
	Kind         string `json:"kind"`
	UserID       string `json:"to"`
	Messages     string `json:"-"`
	RetryKey     string `json:"-"`
	RequestHash  string `json:"-"` // what the key was given for (recipient and message); "" on sends older than it
	// ReplyMsgID is the received chat message whose reply token the send
	// used (0: none taken; ReplyTokenUnknown: taken before this was kept).
	ReplyMsgID int64      `json:"-"`
	Status     string     `json:"status"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	SentAt     *time.Time `json:"sent_at"`
}

// ReplyTokenUnknown is the ReplyMsgID of a reply whose token is not known.
const ReplyTokenUnknown = -1

// ErrSendFinished is an outcome for a send that another attempt already
// finished (recorded as sent, or as unconfirmed): nothing was changed.
var ErrSendFinished = errors.New("send already finished")

// ErrKeyReused is a send whose idempotency key an earlier send of the same
// connection used for another recipient or message.
var ErrKeyReused = errors.New("idempotency key already used for another request")

// ClaimSend records s unless a send with the same (connection, IdemKey)
// exists; then that one is returned with created false. An existing send
// older than renewAfter (when > 0) that went out is treated as a new,
// separate send: the row is reset to pending with s's retry key.
//
// A key stands for one request: an existing send whose RequestHash differs
// from in's is ErrKeyReused, and nothing changes. (Sends stored before
// RequestHash existed are compared by recipient only.)
func (s *Store) ClaimSend(ctx context.Context, in *Send, renewAfter time.Duration) (out *Send, created bool, err error) {
	err = s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ex Send
		e := tx.Where("connection_id = ? AND idem_key = ?", in.ConnectionID, in.IdemKey).First(&ex).Error
		switch {
		case errors.Is(e, gorm.ErrRecordNotFound):
			in.CreatedAt, in.Status = now(), SendPending
			if err := tx.Create(in).Error; err != nil {
				return fmt.Errorf("record send: %w", err)
			}
			out, created = in, true
			return nil
		case e != nil:
			return fmt.Errorf("look up send: %w", e)
		}
		if (ex.RequestHash != "" && ex.RequestHash != in.RequestHash) || (ex.RequestHash == "" && ex.UserID != in.UserID) {
			return ErrKeyReused
		}
		if renewAfter > 0 && ex.Status == SendSent && time.Since(ex.CreatedAt) > renewAfter {
			in.ID, in.CreatedAt, in.Status = ex.ID, now(), SendPending
			if err := tx.Model(&Send{}).Where("id = ?", ex.ID).Updates(map[string]any{
				"kind": in.Kind, "user_id": in.UserID, "messages": in.Messages, "retry_key": in.RetryKey, "request_hash": in.RequestHash,
				"status": SendPending, "error": "", "created_at": in.CreatedAt, "sent_at": nil,
			}).Error; err != nil {
				return fmt.Errorf("renew send: %w", err)
			}
			out, created = in, true
			return nil
		}
		out = &ex
		return nil
	})
	return out, created, err
}

// PruneSends deletes finished sends created before cutoff; pending ones
// stay (a retry still needs their retry key).
func (s *Store) PruneSends(ctx context.Context, cutoff time.Time) (int64, error) {
	s.yieldToInbox()
	res := s.w.WithContext(ctx).Where("status <> ? AND created_at < ?", SendPending, cutoff).Delete(&Send{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune sends: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// SetSendKind records how a send goes out (e.g. a reply that became a push).
func (s *Store) SetSendKind(ctx context.Context, id int64, kind string) error {
	if err := s.w.WithContext(ctx).Model(&Send{}).Where("id = ?", id).Update("kind", kind).Error; err != nil {
		return fmt.Errorf("record send %d as %s: %w", id, kind, err)
	}
	return nil
}

// FinishSend records the outcome of a send.
func (s *Store) FinishSend(ctx context.Context, id int64, status, errMsg string) error {
	return finishSend(s.w.WithContext(ctx), id, status, errMsg)
}

// FinishSend records the outcome of a send in the transaction that records
// what it changed (its chat row, the friend's Unanswered): a crash then
// leaves the send either done and recorded or pending, which a retry with
// the send's retry key (or the recovery at the next start) completes.
// Never done without its record.
func (t *ApplyTx) FinishSend(id int64, status, errMsg string) error {
	return finishSend(t.db, id, status, errMsg)
}

// finishSend changes only a send still open (pending, or failed and being
// tried again). Two attempts of one send can both get through to LINE (a
// caller's retry and the recovery after a restart; LINE delivers once
// thanks to the retry key): the first to finish records it, the other
// gets ErrSendFinished, which rolls its record back.
func finishSend(db *gorm.DB, id int64, status, errMsg string) error {
	up := map[string]any{"status": status, "error": errMsg}
	if status == SendSent {
		up["sent_at"] = now()
	}
	res := db.Model(&Send{}).Where("id = ? AND status IN ?", id, []string{SendPending, SendFailed}).Updates(up)
	if res.Error != nil {
		return fmt.Errorf("record outcome of send %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("record outcome of send %d: %w", id, ErrSendFinished)
	}
	return nil
}

// GetSend returns one send.
func (s *Store) GetSend(ctx context.Context, id int64) (*Send, error) {
	var row Send
	if err := s.r.WithContext(ctx).First(&row, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &row, nil
}

// PendingSendIDs lists the sends whose outcome is not recorded, oldest
// first.
func (s *Store) PendingSendIDs(ctx context.Context) ([]int64, error) {
	var ids []int64
	if err := s.r.WithContext(ctx).Model(&Send{}).Where("status = ?", SendPending).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("list pending sends: %w", err)
	}
	return ids, nil
}
