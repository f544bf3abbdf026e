package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// HookKey authenticates HubSpot workflow calls for one connection: the
// API key (only its SHA-256 is kept) and, optionally, the HubSpot app
// secret that signs requests (X-HubSpot-Signature-v3), sealed.
type HookKey struct {
	ConnectionID        int64 `gorm:"primaryKey;autoIncrement:false"`
	KeyHash             string
	Last4               string
	SigningSecretSealed string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// HookKeyPrefix marks workflow keys so a secret scanner recognises them.
const HookKeyPrefix = "lhw_"

func hookAD(connID int64) string { return connAD(connID, "hook-signing-secret") }

// RotateHookKey issues a new workflow API key for a connection and returns
// it in clear: this is the only time it can be shown.
func (s *Store) RotateHookKey(ctx context.Context, connID int64) (string, error) {
	plain := HookKeyPrefix + randomKey(32)
	sum := sha256.Sum256([]byte(plain))
	row := HookKey{ConnectionID: connID, KeyHash: hex.EncodeToString(sum[:]), Last4: last4(plain), CreatedAt: now(), UpdatedAt: now()}
	err := s.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "connection_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"key_hash", "last4", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return "", fmt.Errorf("store workflow key: %w", err)
	}
	return plain, nil
}

// HookKeyInfo returns a connection's workflow key row (ErrNotFound if none).
func (s *Store) HookKeyInfo(ctx context.Context, connID int64) (*HookKey, error) {
	var k HookKey
	if err := s.r.WithContext(ctx).Where("connection_id = ?", connID).First(&k).Error; err != nil {
		return nil, notFound(err)
	}
	return &k, nil
}

// CheckHookKey reports whether plain is the connection's workflow key.
func (s *Store) CheckHookKey(ctx context.Context, connID int64, plain string) (bool, error) {
	k, err := s.HookKeyInfo(ctx, connID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256([]byte(plain))
	got := hex.EncodeToString(sum[:])
	return k.KeyHash != "" && subtle.ConstantTimeCompare([]byte(got), []byte(k.KeyHash)) == 1, nil
}

// SetHookSigningSecret stores (or, with "", clears) the HubSpot app secret
// that signs workflow requests for a connection.
func (s *Store) SetHookSigningSecret(ctx context.Context, connID int64, secret string) error {
	sealed, err := s.sealer.Seal(secret, hookAD(connID))
	if err != nil {
		return err
	}
	row := HookKey{ConnectionID: connID, SigningSecretSealed: sealed, CreatedAt: now(), UpdatedAt: now()}
	err = s.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "connection_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"signing_secret_sealed", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("store workflow signing secret: %w", err)
	}
	return nil
}

// HookSigningSecret returns the connection's HubSpot signing secret ("" if
// none is configured).
func (s *Store) HookSigningSecret(k *HookKey) (string, error) {
	if k == nil {
		return "", nil
	}
	return s.sealer.Open(k.SigningSecretSealed, hookAD(k.ConnectionID))
}

// MessageTemplate is a saved message: LINE message objects (JSON array)
// whose strings may hold {{property}} placeholders.
type MessageTemplate struct {
	ID        int64     `gorm:"primaryKey" json:"id"`
	Name      string    `gorm:"not null;uniqueIndex" json:"name"`
	Messages  string    `gorm:"not null" json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrDuplicate is returned when a unique name is taken.
var ErrDuplicate = errors.New("already exists")

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// SaveTemplate creates (ID 0) or updates a template.
func (s *Store) SaveTemplate(ctx context.Context, t *MessageTemplate) error {
	t.UpdatedAt = now()
	db := s.w.WithContext(ctx)
	var err error
	if t.ID == 0 {
		t.CreatedAt = t.UpdatedAt
		err = db.Create(t).Error
	} else {
		res := db.Model(&MessageTemplate{}).Where("id = ?", t.ID).
			Updates(map[string]any{"name": t.Name, "messages": t.Messages, "updated_at": t.UpdatedAt})
		err = res.Error
		if err == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
	}
	if isUnique(err) {
		return fmt.Errorf("template %q: %w", t.Name, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("save template: %w", err)
	}
	return nil
}

// Template returns a template by id.
func (s *Store) Template(ctx context.Context, id int64) (*MessageTemplate, error) {
	var t MessageTemplate
	if err := s.r.WithContext(ctx).First(&t, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// TemplateByName returns a template by its (unique) name.
func (s *Store) TemplateByName(ctx context.Context, name string) (*MessageTemplate, error) {
	var t MessageTemplate
	if err := s.r.WithContext(ctx).Where("name = ?", name).First(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// Templates lists templates by name.
func (s *Store) Templates(ctx context.Context) ([]MessageTemplate, error) {
	var ts []MessageTemplate
	err := s.r.WithContext(ctx).Order("name").Find(&ts).Error
	return ts, err
}

// DeleteTemplate removes a template.
func (s *Store) DeleteTemplate(ctx context.Context, id int64) error {
	res := s.w.WithContext(ctx).Delete(&MessageTemplate{}, id)
	if res.Error != nil {
		return fmt.Errorf("delete template: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

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

// ChatMessageByID returns one chat message.
func (s *Store) ChatMessageByID(ctx context.Context, id int64) (*ChatMessage, error) {
	var m ChatMessage
	if err := s.r.WithContext(ctx).First(&m, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &m, nil
}

// Chat message directions.
const (
	ChatIn  = "in"
	ChatOut = "out"
)

// ChatMessage is one message of a 1:1 conversation: received from the
// friend (webhook) or sent by linehub. NotePending marks it for logging on
// the HubSpot contact's timeline.
type ChatMessage struct {
	ID           int64  `gorm:"primaryKey" json:"id"`
	ConnectionID int64  `json:"connection_id"`
	SourceKey    string `json:"-"` // "ev:<webhookEventId>" or "send:<id>": makes recording idempotent
	UserID       string `json:"user_id"`
	Direction    string `json:"direction"`
	Via          string `json:"via,omitempty"` // out: push, reply, multicast, workflow
	Text         string `json:"text"`
	Messages     string `json:"-"`
	ReplyToken   string `json:"-"`
	ReplyUsed    bool   `json:"-"`
	// Unconfirmed marks a sent message LINE may not have delivered: a
	// reply whose answer linehub never saw (a crash, a timeout).
	Unconfirmed  bool      `json:"unconfirmed,omitempty"`
	Timestamp    int64     `json:"timestamp"` // ms
	NotePending  bool      `json:"-"`
	NoteID       string    `json:"note_id,omitempty"`
	NoteError    string    `json:"note_error,omitempty"`
	NoteAttempts int       `json:"-"`
	CreatedAt    time.Time `json:"created_at"`

	// NoteMarker is written into the note; NoteSentAt (ms) is set while a
	// batch holding the note is sent and its outcome not recorded: such a
	// note may exist in HubSpot and is looked up by marker before it is
	// sent again.
	NoteMarker string `json:"-"`
	NoteSentAt int64  `json:"-"`
	// NoteContactID is the contact to log the note on when linehub has no
	// friend with a contact for the user (a broadcast to a list member).
	NoteContactID string `json:"-"`
}

// AddChatMessages records received messages in the applier's transaction;
// a message already recorded (same source key) is left alone.
func (t *ApplyTx) AddChatMessages(ms []ChatMessage) error {
	if len(ms) == 0 {
		return nil
	}
	for i := range ms {
		ms[i].CreatedAt = now()
	}
	err := t.db.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(ms, 100).Error
	if err != nil {
		return fmt.Errorf("record chat messages: %w", err)
	}
	return nil
}

// AddChatMessage records one message (sent ones); a repeat of the same
// source key is ignored.
func (s *Store) AddChatMessage(ctx context.Context, m *ChatMessage) error {
	m.CreatedAt = now()
	if err := s.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(m).Error; err != nil {
		return fmt.Errorf("record chat message: %w", err)
	}
	return nil
}

// AddChatMessagesBulk records many sent messages (a broadcast chunk).
func (s *Store) AddChatMessagesBulk(ctx context.Context, ms []ChatMessage) error {
	if len(ms) == 0 {
		return nil
	}
	for i := range ms {
		ms[i].CreatedAt = now()
	}
	if err := s.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(ms, 100).Error; err != nil {
		return fmt.Errorf("record chat messages: %w", err)
	}
	return nil
}

// PruneChat deletes chat messages recorded before cutoff, except those
// still to be logged as HubSpot notes (refused ones are not).
func (s *Store) PruneChat(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		s.yieldToInbox()
		res := s.w.WithContext(ctx).Exec(
			"DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages WHERE created_at < ? AND (NOT note_pending OR note_attempts >= ?) LIMIT 1000)",
			cutoff, maxNoteAttempts)
		if res.Error != nil {
			return total, fmt.Errorf("prune chat messages: %w", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < 1000 || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// ChatMessages returns up to limit messages with a friend, newest last;
// beforeID > 0 pages back to older ones.
func (s *Store) ChatMessages(ctx context.Context, connID int64, userID string, beforeID int64, limit int) ([]ChatMessage, error) {
	q := s.r.WithContext(ctx).Where("connection_id = ? AND user_id = ?", connID, userID)
	if beforeID > 0 {
		q = q.Where("id < ?", beforeID)
	}
	var ms []ChatMessage
	if err := q.Order("timestamp DESC, id DESC").Limit(limit).Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("read chat: %w", err)
	}
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms, nil
}

// TakeReplyToken claims the reply token of the friend's newest received
// message if it arrived at or after notBefore (ms) and was not used yet,
// for send sendID. Claiming is atomic, so two replies never share a token,
// and it records the token's message on the send in the same transaction:
// a send that used a token always says which. nil when there is none.
func (s *Store) TakeReplyToken(ctx context.Context, connID int64, userID string, notBefore, sendID int64) (*ChatMessage, error) {
	var m ChatMessage
	err := s.r.WithContext(ctx).Where("connection_id = ? AND user_id = ? AND direction = ?", connID, userID, ChatIn).
		Order("timestamp DESC, id DESC").First(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find reply token: %w", err)
	}
	if m.ReplyToken == "" || m.ReplyUsed || m.Timestamp < notBefore {
		return nil, nil
	}
	taken := false
	err = s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&ChatMessage{}).Where("id = ? AND reply_used = ?", m.ID, false).Update("reply_used", true)
		if res.Error != nil {
			return fmt.Errorf("claim reply token: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if sendID != 0 {
			if err := tx.Model(&Send{}).Where("id = ?", sendID).Update("reply_msg_id", m.ID).Error; err != nil {
				return fmt.Errorf("record reply token of send %d: %w", sendID, err)
			}
		}
		taken = true
		return nil
	})
	if err != nil || !taken {
		return nil, err
	}
	return &m, nil
}

// Conversations lists a connection's friends who wrote or were written
// to: unanswered first, then by latest message.
func (s *Store) Conversations(ctx context.Context, connID int64, limit int) ([]Friend, error) {
	var fs []Friend
	if err := conversations(s.r.WithContext(ctx), connID, limit).Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return fs, nil
}

// conversations walks idx_friend_chat_order and asks each friend's first
// chat row (idx_chat_user), so a page costs about its own size, however
// many broadcasts filled the chat table.
func conversations(db *gorm.DB, connID int64, limit int) *gorm.DB {
	return db.Model(&Friend{}).
		Where("connection_id = ? AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.connection_id = friends.connection_id AND m.user_id = friends.user_id)", connID).
		Order("unanswered DESC, last_message_at DESC, id").Limit(limit)
}

// PendingNote is a chat message waiting to be logged, with the contact it
// belongs on.
type PendingNote struct {
	ChatMessage
	ContactID string
}

// maxNoteAttempts is how often HubSpot may refuse a note before linehub
// stops offering it.
const maxNoteAttempts = 10

// NoteStats counts the chat messages not yet logged as HubSpot notes:
// Pending are still offered (some wait for their contact to exist),
// GivenUp were refused maxNoteAttempts times.
type NoteStats struct {
	Pending int64 `json:"pending"`
	GivenUp int64 `json:"given_up"`
	// LastRefusal is HubSpot's answer to the newest given-up note.
	LastRefusal string `json:"last_refusal,omitempty"`
}

// NoteStats reports the timeline notes not yet in HubSpot.
func (s *Store) NoteStats(ctx context.Context) (NoteStats, error) {
	var st NoteStats
	err := s.r.WithContext(ctx).Model(&ChatMessage{}).Where("note_pending = ?", true).
		Select("COALESCE(SUM(CASE WHEN note_attempts < ? THEN 1 ELSE 0 END), 0) AS pending, COALESCE(SUM(CASE WHEN note_attempts >= ? THEN 1 ELSE 0 END), 0) AS given_up", maxNoteAttempts, maxNoteAttempts).
		Scan(&st).Error
	if err != nil {
		return st, fmt.Errorf("count pending notes: %w", err)
	}
	if st.GivenUp > 0 {
		var last []string
		err := s.r.WithContext(ctx).Model(&ChatMessage{}).Where("note_pending = ? AND note_attempts >= ?", true, maxNoteAttempts).
			Order("id DESC").Limit(1).Pluck("note_error", &last).Error
		if err != nil {
			return st, fmt.Errorf("read the last note refusal: %w", err)
		}
		if len(last) > 0 {
			st.LastRefusal = last[0]
		}
	}
	return st, nil
}

// PendingNotes returns up to limit messages to log that have a contact to
// log them on: their friend's, or the one recorded with the message; the
// others wait until the contact exists.
func (s *Store) PendingNotes(ctx context.Context, limit int) ([]PendingNote, error) {
	var out []PendingNote
	const contact = "COALESCE(NULLIF(f.contact_id, ''), m.note_contact_id, '')"
	err := s.r.WithContext(ctx).Table("chat_messages AS m").
		Select("m.*, "+contact+" AS contact_id").
		Joins("LEFT JOIN friends f ON f.connection_id = m.connection_id AND f.user_id = m.user_id").
		Where("m.note_pending = ? AND "+contact+" <> '' AND m.note_attempts < ?", true, maxNoteAttempts).
		Order("m.id").Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("read pending notes: %w", err)
	}
	return out, nil
}

// SendingNotes records, before a batch goes to HubSpot, each message's
// marker and that it is being sent (chat message id → marker). Committed
// first, so a crash before the answer is recorded leaves the messages to
// be looked up, not sent blindly again.
func (s *Store) SendingNotes(ctx context.Context, markers map[int64]string) error {
	at := time.Now().UnixMilli()
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for id, marker := range markers {
			if err := tx.Model(&ChatMessage{}).Where("id = ?", id).
				Updates(map[string]any{"note_marker": marker, "note_sent_at": at}).Error; err != nil {
				return fmt.Errorf("record note sending: %w", err)
			}
		}
		return nil
	})
}

// NoteOutcome is what became of notes linehub sent or looked up.
type NoteOutcome struct {
	Done    map[int64]string // chat message id → HubSpot note id
	Refused []int64          // HubSpot refused them: one more attempt used
	Unsent  []int64          // certainly not created (rate limit, token): no attempt used
	Error   string           // HubSpot's answer, for Refused and Unsent
}

// FinishNotes records an outcome. Messages in none of its lists keep
// their sending mark: their outcome is unknown.
func (s *Store) FinishNotes(ctx context.Context, o NoteOutcome) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for id, noteID := range o.Done {
			if err := tx.Model(&ChatMessage{}).Where("id = ?", id).
				Updates(map[string]any{"note_pending": false, "note_id": noteID, "note_error": "", "note_sent_at": 0}).Error; err != nil {
				return fmt.Errorf("record note: %w", err)
			}
		}
		if len(o.Refused) > 0 {
			if err := tx.Model(&ChatMessage{}).Where("id IN ?", o.Refused).
				Updates(map[string]any{"note_error": o.Error, "note_sent_at": 0, "note_attempts": gorm.Expr("note_attempts + 1")}).Error; err != nil {
				return fmt.Errorf("record note failure: %w", err)
			}
		}
		if len(o.Unsent) > 0 {
			if err := tx.Model(&ChatMessage{}).Where("id IN ?", o.Unsent).
				Updates(map[string]any{"note_error": o.Error, "note_sent_at": 0}).Error; err != nil {
				return fmt.Errorf("record notes not sent: %w", err)
			}
		}
		return nil
	})
}

// KnownNoteIDs tells which of these HubSpot note ids linehub recorded.
func (s *Store) KnownNoteIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	for chunk := range slices.Chunk(ids, 500) {
		var got []string
		if err := s.r.WithContext(ctx).Model(&ChatMessage{}).Where("note_id IN ?", chunk).Pluck("note_id", &got).Error; err != nil {
			return nil, fmt.Errorf("read known note ids: %w", err)
		}
		for _, id := range got {
			known[id] = true
		}
	}
	return known, nil
}

// Broadcast states.
const (
	BroadcastScheduled = "scheduled" // waits for ScheduledAt
	BroadcastPreparing = "preparing" // reading the list; no chunk stored yet
	BroadcastSending   = "sending"   // chunks stored; sending the pending ones
	BroadcastDone      = "done"
	BroadcastFailed    = "failed"
	BroadcastCanceled  = "canceled"
)

// Broadcast is one message to the LINE friends among a HubSpot list's
// members.
type Broadcast struct {
	ID           int64      `gorm:"primaryKey" json:"id"`
	ConnectionID int64      `json:"connection_id"`
	ListID       string     `json:"list_id"`
	ListName     string     `json:"list_name"`
	Messages     string     `json:"-"`
	Status       string     `json:"status"`
	ScheduledAt  *time.Time `json:"scheduled_at"`
	Members      int        `json:"members"`
	Recipients   int        `json:"recipients"`
	SkippedNoID  int        `json:"skipped_no_line_id"`
	SkippedBlock int        `json:"skipped_blocked"`
	Error        string     `json:"error,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
}

// BroadcastChunk is one multicast of at most 500 recipients. Its RetryKey
// is stored with it before the first attempt.
type BroadcastChunk struct {
	ID          int64      `gorm:"primaryKey"`
	BroadcastID int64      `gorm:"not null"`
	Seq         int        `gorm:"not null"`
	UserIDs     string     // comma-separated LINE user ids
	ContactIDs  string     // comma-separated HubSpot contact ids, one per user id ("" unknown)
	Count       int        //
	RetryKey    string     `gorm:"not null"`
	Status      string     `gorm:"not null"` // pending, sent, failed
	Error       string     //
	SentAt      *time.Time //
	TriedAt     *time.Time // first attempt: when the retry key's 24 h began
}

// Recipients splits UserIDs.
func (c *BroadcastChunk) Recipients() []string {
	if c.UserIDs == "" {
		return nil
	}
	return strings.Split(c.UserIDs, ",")
}

// Contacts maps each recipient to the HubSpot contact the list read named
// for it (chunks stored before contacts were kept have none).
func (c *BroadcastChunk) Contacts() map[string]string {
	users, contacts := c.Recipients(), strings.Split(c.ContactIDs, ",")
	if c.ContactIDs == "" || len(contacts) != len(users) {
		return nil
	}
	out := make(map[string]string, len(users))
	for i, u := range users {
		if contacts[i] != "" {
			out[u] = contacts[i]
		}
	}
	return out
}

// CreateBroadcast stores a new broadcast.
func (s *Store) CreateBroadcast(ctx context.Context, b *Broadcast) error {
	b.CreatedAt = now()
	if err := s.w.WithContext(ctx).Create(b).Error; err != nil {
		return fmt.Errorf("store broadcast: %w", err)
	}
	return nil
}

// GetBroadcast returns one broadcast.
func (s *Store) GetBroadcast(ctx context.Context, id int64) (*Broadcast, error) {
	var b Broadcast
	if err := s.r.WithContext(ctx).First(&b, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &b, nil
}

// Broadcasts lists a connection's broadcasts (all connections with 0),
// newest first.
func (s *Store) Broadcasts(ctx context.Context, connID int64, limit int) ([]Broadcast, error) {
	q := s.r.WithContext(ctx)
	if connID > 0 {
		q = q.Where("connection_id = ?", connID)
	}
	var bs []Broadcast
	err := q.Order("id DESC").Limit(limit).Find(&bs).Error
	return bs, err
}

// DueBroadcasts returns broadcasts that have work to do now: scheduled
// ones whose time has come, and any preparing or sending (interrupted by a
// restart, say).
func (s *Store) DueBroadcasts(ctx context.Context, at time.Time) ([]Broadcast, error) {
	var bs []Broadcast
	err := s.r.WithContext(ctx).
		Where("status IN ? OR (status = ? AND scheduled_at <= ?)", []string{BroadcastPreparing, BroadcastSending}, BroadcastScheduled, at).
		Order("id").Find(&bs).Error
	if err != nil {
		return nil, fmt.Errorf("read due broadcasts: %w", err)
	}
	return bs, nil
}

// SetBroadcastStatus moves a broadcast from one of the states in from to
// status; it reports false (and changes nothing) if it was in none of them.
func (s *Store) SetBroadcastStatus(ctx context.Context, id int64, from []string, status, errMsg string) (bool, error) {
	up := map[string]any{"status": status, "error": errMsg}
	switch status {
	case BroadcastPreparing:
		up["started_at"] = now()
	case BroadcastDone, BroadcastFailed, BroadcastCanceled:
		up["finished_at"] = now()
	}
	res := s.w.WithContext(ctx).Model(&Broadcast{}).Where("id = ? AND status IN ?", id, from).Updates(up)
	if res.Error != nil {
		return false, fmt.Errorf("update broadcast %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// BroadcastPlan is the outcome of reading the list: the counts and the
// recipients already cut into chunks.
type BroadcastPlan struct {
	Members, SkippedNoID, SkippedBlock int
	Chunks                             []BroadcastChunk
}

// SaveBroadcastPlan stores the chunks (each with its retry key) and counts
// in one transaction and moves the broadcast to sending. A broadcast that
// is no longer preparing is left alone (false).
func (s *Store) SaveBroadcastPlan(ctx context.Context, id int64, p BroadcastPlan) (bool, error) {
	ok := false
	err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		recips := 0
		for _, c := range p.Chunks {
			recips += c.Count
		}
		res := tx.Model(&Broadcast{}).Where("id = ? AND status = ?", id, BroadcastPreparing).Updates(map[string]any{
			"status": BroadcastSending, "members": p.Members, "recipients": recips,
			"skipped_no_id": p.SkippedNoID, "skipped_block": p.SkippedBlock,
		})
		if res.Error != nil {
			return fmt.Errorf("update broadcast: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		for i := range p.Chunks {
			p.Chunks[i].BroadcastID, p.Chunks[i].Status = id, SendPending
		}
		if len(p.Chunks) > 0 {
			if err := tx.CreateInBatches(p.Chunks, 50).Error; err != nil {
				return fmt.Errorf("store broadcast chunks: %w", err)
			}
		}
		ok = true
		return nil
	})
	return ok, err
}

// BroadcastChunks returns a broadcast's chunks in order.
func (s *Store) BroadcastChunks(ctx context.Context, id int64) ([]BroadcastChunk, error) {
	var cs []BroadcastChunk
	if err := s.r.WithContext(ctx).Where("broadcast_id = ?", id).Order("seq").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("read broadcast chunks: %w", err)
	}
	return cs, nil
}

// ChunkTried records the first attempt to send a chunk; later attempts
// keep the first time.
func (s *Store) ChunkTried(ctx context.Context, c *BroadcastChunk) error {
	if c.TriedAt != nil {
		return nil
	}
	t := now()
	if err := s.w.WithContext(ctx).Model(&BroadcastChunk{}).Where("id = ? AND tried_at IS NULL", c.ID).Update("tried_at", t).Error; err != nil {
		return fmt.Errorf("record attempt of chunk %d: %w", c.ID, err)
	}
	c.TriedAt = &t
	return nil
}

// FinishChunk records a chunk's outcome.
func (s *Store) FinishChunk(ctx context.Context, id int64, status, errMsg string) error {
	return finishChunk(s.w.WithContext(ctx), id, status, errMsg)
}

// FinishChunk records a chunk's outcome in the transaction that records its
// chat rows, for the same reason as ApplyTx.FinishSend.
func (t *ApplyTx) FinishChunk(id int64, status, errMsg string) error {
	return finishChunk(t.db, id, status, errMsg)
}

func finishChunk(db *gorm.DB, id int64, status, errMsg string) error {
	up := map[string]any{"status": status, "error": errMsg}
	if status == SendSent {
		up["sent_at"] = now()
	}
	if err := db.Model(&BroadcastChunk{}).Where("id = ?", id).Updates(up).Error; err != nil {
		return fmt.Errorf("record chunk %d: %w", id, err)
	}
	return nil
}

// FailBroadcast marks a sending broadcast failed with errMsg and every
// chunk of it still pending failed, in one transaction: a crash cannot
// leave it half failed, with its other chunks sent after a restart.
func (s *Store) FailBroadcast(ctx context.Context, id int64, errMsg string) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&BroadcastChunk{}).Where("broadcast_id = ? AND status = ?", id, SendPending).
			Updates(map[string]any{"status": SendFailed, "error": errMsg}).Error; err != nil {
			return fmt.Errorf("fail chunks of broadcast %d: %w", id, err)
		}
		err := tx.Model(&Broadcast{}).Where("id = ? AND status = ?", id, BroadcastSending).
			Updates(map[string]any{"status": BroadcastFailed, "error": errMsg, "finished_at": now()}).Error
		if err != nil {
			return fmt.Errorf("fail broadcast %d: %w", id, err)
		}
		return nil
	})
}

// BroadcastProgress counts recipients by chunk state.
type BroadcastProgress struct {
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
}

// BroadcastProgress sums a broadcast's chunks.
func (s *Store) BroadcastProgress(ctx context.Context, id int64) (BroadcastProgress, error) {
	var rows []struct {
		Status string
		N      int
	}
	var p BroadcastProgress
	err := s.r.WithContext(ctx).Model(&BroadcastChunk{}).Select("status, COALESCE(SUM(count), 0) AS n").
		Where("broadcast_id = ?", id).Group("status").Scan(&rows).Error
	if err != nil {
		return p, fmt.Errorf("broadcast progress: %w", err)
	}
	for _, r := range rows {
		switch r.Status {
		case SendSent:
			p.Sent = r.N
		case SendFailed:
			p.Failed = r.N
		default:
			p.Pending += r.N
		}
	}
	return p, nil
}

// FriendsByContact maps HubSpot contact ids to the connection's friends.
func (s *Store) FriendsByContact(ctx context.Context, connID int64, contactIDs []string) (map[string]*Friend, error) {
	out := map[string]*Friend{}
	for len(contactIDs) > 0 {
		n := min(len(contactIDs), 500)
		var fs []Friend
		if err := s.r.WithContext(ctx).Where("connection_id = ? AND contact_id IN ?", connID, contactIDs[:n]).Find(&fs).Error; err != nil {
			return nil, fmt.Errorf("load friends by contact: %w", err)
		}
		for i := range fs {
			out[fs[i].ContactID] = &fs[i]
		}
		contactIDs = contactIDs[n:]
	}
	return out, nil
}

// IDString formats a row id for keys.
func IDString(id int64) string { return strconv.FormatInt(id, 10) }
