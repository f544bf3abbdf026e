package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

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
	err := s.r.WithContext(ctx).Model(&ChatMessage{}).Where("note_pending").
		Select("COALESCE(SUM(CASE WHEN note_attempts < ? THEN 1 ELSE 0 END), 0) AS pending, COALESCE(SUM(CASE WHEN note_attempts >= ? THEN 1 ELSE 0 END), 0) AS given_up", maxNoteAttempts, maxNoteAttempts).
		Scan(&st).Error
	if err != nil {
		return st, fmt.Errorf("count pending notes: %w", err)
	}
	if st.GivenUp > 0 {
		var last []string
		err := s.r.WithContext(ctx).Model(&ChatMessage{}).Where("note_pending AND note_attempts >= ?", maxNoteAttempts).
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
		Where("m.note_pending AND "+contact+" <> '' AND m.note_attempts < ?", maxNoteAttempts).
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
