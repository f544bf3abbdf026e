package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

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

// UnansweredCount is how many friends of live connections wait for an
// answer: the conversations the combined inbox lists first. Every signed-in
// page shows it, so it only counts entries of idx_friend_chat_order
// (under a millisecond for 2,000 of 100,000 friends); asking each friend's chat rows
// too, as the list does, costs a hundred times more and differs only for
// a friend whose conversation the retention job already deleted.
func (s *Store) UnansweredCount(ctx context.Context) (int64, error) {
	var n int64
	if err := unansweredCount(s.r.WithContext(ctx)).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count unanswered conversations: %w", err)
	}
	return n, nil
}

func unansweredCount(db *gorm.DB) *gorm.DB {
	return db.Model(&Friend{}).Where("connection_id IN (SELECT id FROM connections WHERE deleted_at IS NULL) AND unanswered = ?", true)
}
