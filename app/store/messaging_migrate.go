package store

import (
	"fmt"
	"time"

	"gorm.io/gorm"
)

// migrateMessaging is migration 5 (messaging). Like every step it declares
// its own table shapes.
func migrateMessaging(tx *gorm.DB) error {
	type hookKey struct {
		ConnectionID        int64 `gorm:"primaryKey;autoIncrement:false"`
		KeyHash             string
		Last4               string
		SigningSecretSealed string
		CreatedAt           time.Time
		UpdatedAt           time.Time
	}
	type messageTemplate struct {
		ID        int64  `gorm:"primaryKey"`
		Name      string `gorm:"not null;uniqueIndex"`
		Messages  string `gorm:"not null"`
		CreatedAt time.Time
		UpdatedAt time.Time
	}
	type send struct {
		ID           int64  `gorm:"primaryKey"`
		ConnectionID int64  `gorm:"not null;uniqueIndex:idx_send_conn_key"`
		IdemKey      string `gorm:"not null;uniqueIndex:idx_send_conn_key"`
		Kind         string `gorm:"not null"`
		UserID       string `gorm:"not null"`
		Messages     string `gorm:"not null"`
		RetryKey     string `gorm:"not null"`
		Status       string `gorm:"not null"`
		Error        string
		CreatedAt    time.Time
		SentAt       *time.Time
	}
	type chatMessage struct {
		ID           int64  `gorm:"primaryKey"`
		ConnectionID int64  `gorm:"not null;uniqueIndex:idx_chat_source,priority:1;index:idx_chat_user,priority:1"`
		SourceKey    string `gorm:"not null;uniqueIndex:idx_chat_source,priority:2"`
		UserID       string `gorm:"not null;index:idx_chat_user,priority:2"`
		Direction    string `gorm:"not null"`
		Via          string
		Text         string
		Messages     string
		ReplyToken   string
		ReplyUsed    bool  `gorm:"not null;default:false"`
		Timestamp    int64 `gorm:"not null;index:idx_chat_user,priority:3"`
		NotePending  bool  `gorm:"not null;default:false;index"`
		NoteID       string
		NoteError    string
		NoteAttempts int
		CreatedAt    time.Time
	}
	type broadcast struct {
		ID           int64 `gorm:"primaryKey"`
		ConnectionID int64 `gorm:"not null;index"`
		ListID       string
		ListName     string
		Messages     string `gorm:"not null"`
		Status       string `gorm:"not null;index"`
		ScheduledAt  *time.Time
		Members      int
		Recipients   int
		SkippedNoID  int
		SkippedBlock int
		Error        string
		CreatedAt    time.Time
		StartedAt    *time.Time
		FinishedAt   *time.Time
	}
	type broadcastChunk struct {
		ID          int64 `gorm:"primaryKey"`
		BroadcastID int64 `gorm:"not null;uniqueIndex:idx_chunk_seq"`
		Seq         int   `gorm:"not null;uniqueIndex:idx_chunk_seq"`
		UserIDs     string
		Count       int
		RetryKey    string `gorm:"not null"`
		Status      string `gorm:"not null"`
		Error       string
		SentAt      *time.Time
	}
	m := tx.Migrator()
	for _, t := range []struct {
		name  string
		model any
	}{
		{"hook_keys", &hookKey{}},
		{"message_templates", &messageTemplate{}},
		{"sends", &send{}},
		{"chat_messages", &chatMessage{}},
		{"broadcasts", &broadcast{}},
		{"broadcast_chunks", &broadcastChunk{}},
	} {
		if err := m.CreateTable(t.model); err != nil {
			return fmt.Errorf("create table %s: %w", t.name, err)
		}
	}
	return nil
}

// migrateNotesOnce is migration 9. A note batch whose answer was lost may
// exist in HubSpot: its rows keep the marker written into each note and
// the time they were sent, so the next pass looks them up before sending
// again; the index answers "which of these note ids does linehub know".
// Broadcast recipients linehub has no friend for get their note on the
// contact the list read named, kept with the chunk and the chat row.
func migrateNotesOnce(tx *gorm.DB) error {
	type chatMessage struct {
		NoteMarker    string
		NoteSentAt    int64 `gorm:"not null;default:0"`
		NoteContactID string
	}
	type broadcastChunk struct{ ContactIDs string }
	m := tx.Migrator()
	for _, col := range []string{"NoteMarker", "NoteSentAt", "NoteContactID"} {
		if err := m.AddColumn(&chatMessage{}, col); err != nil {
			return fmt.Errorf("add chat_messages column %s: %w", col, err)
		}
	}
	if err := m.AddColumn(&broadcastChunk{}, "ContactIDs"); err != nil {
		return fmt.Errorf("add broadcast_chunks.contact_ids: %w", err)
	}
	return tx.Exec("CREATE INDEX idx_chat_note_id ON chat_messages (note_id) WHERE note_id <> ''").Error
}

// migrateSendRecovery is migration 10. A reply send keeps the message
// whose reply token it used, so that the recovery after a crash can try
// that token once more; a chat row can say that LINE may not have
// delivered it. Replies left pending by an older version did not record
// their token: they are marked as having used an unknown one, so that
// the recovery neither pushes them (that could answer twice) nor tries a
// token.
func migrateSendRecovery(tx *gorm.DB) error {
	type send struct {
		ReplyMsgID int64 `gorm:"not null;default:0"`
	}
	type chatMessage struct {
		Unconfirmed bool `gorm:"not null;default:false"`
	}
	m := tx.Migrator()
	if err := m.AddColumn(&send{}, "ReplyMsgID"); err != nil {
		return fmt.Errorf("add sends.reply_msg_id: %w", err)
	}
	if err := m.AddColumn(&chatMessage{}, "Unconfirmed"); err != nil {
		return fmt.Errorf("add chat_messages.unconfirmed: %w", err)
	}
	if err := tx.Exec("UPDATE sends SET reply_msg_id = ? WHERE kind = 'reply' AND status = 'pending'", ReplyTokenUnknown).Error; err != nil {
		return fmt.Errorf("mark pending replies: %w", err)
	}
	return nil
}
