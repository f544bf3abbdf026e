package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// HubSpotEvent is one event of a webhook batch of linehub's HubSpot app
// (a contact deleted, merged, or a LINE property changed), stored before
// the batch is acknowledged and applied by contactsync afterwards.
type HubSpotEvent struct {
	ID int64 `gorm:"primaryKey"`
	// DedupeKey names the event across HubSpot's redeliveries.
	DedupeKey  string `gorm:"not null;uniqueIndex"`
	Kind       string `gorm:"not null"` // contact.deletion, contact.merge, contact.propertyChange
	ObjectID   string
	OccurredAt int64  `gorm:"not null"` // ms
	Raw        string `gorm:"not null"` // the event as HubSpot sent it
	ReceivedAt time.Time
	Pending    bool `gorm:"not null"`
	AppliedAt  *time.Time
	Error      string
}

// TableName keeps HubSpot one word.
func (HubSpotEvent) TableName() string { return "hubspot_events" }

// ContactEdit is a person's change, in HubSpot, of one of a friend's LINE
// properties, as the app's webhooks reported it: the newest per friend and
// property. Drift repair leaves the value alone while HubSpot still holds
// it and linehub has not written a new value since.
type ContactEdit struct {
	ID           int64  `gorm:"primaryKey"`
	FriendID     int64  `gorm:"not null;uniqueIndex:idx_contact_edit_friend_prop,priority:1"`
	Property     string `gorm:"not null;uniqueIndex:idx_contact_edit_friend_prop,priority:2"` // unsuffixed, e.g. line_follow
	ConnectionID int64  `gorm:"not null;index"`
	ContactID    string
	Value        string // what the person set
	// Overrode is the value linehub had last written when the person
	// changed it; once linehub writes another, the edit is history.
	Overrode   string
	Source     string // HubSpot's changeSource, e.g. CRM_UI
	SourceID   string // e.g. userId:123
	OccurredAt int64  `gorm:"not null"` // ms
	UpdatedAt  time.Time
}

// migrateHubSpotEvents is the schema step of the app's webhooks: their
// queue, and the edits of LINE properties they report.
func migrateHubSpotEvents(tx *gorm.DB) error {
	type hubspotEvent struct {
		ID         int64  `gorm:"primaryKey"`
		DedupeKey  string `gorm:"not null;uniqueIndex"`
		Kind       string `gorm:"not null"`
		ObjectID   string
		OccurredAt int64  `gorm:"not null"`
		Raw        string `gorm:"not null"`
		ReceivedAt time.Time
		Pending    bool `gorm:"not null"`
		AppliedAt  *time.Time
		Error      string
	}
	type contactEdit struct {
		ID           int64  `gorm:"primaryKey"`
		FriendID     int64  `gorm:"not null;uniqueIndex:idx_contact_edit_friend_prop,priority:1"`
		Property     string `gorm:"not null;uniqueIndex:idx_contact_edit_friend_prop,priority:2"`
		ConnectionID int64  `gorm:"not null;index"`
		ContactID    string
		Value        string
		Overrode     string
		Source       string
		SourceID     string
		OccurredAt   int64 `gorm:"not null"`
		UpdatedAt    time.Time
	}
	type friend struct{ GoneContactID string }
	m := tx.Migrator()
	if err := m.AddColumn(&friend{}, "GoneContactID"); err != nil {
		return fmt.Errorf("add friends.gone_contact_id: %w", err)
	}
	if err := tx.Exec("CREATE INDEX idx_friend_gone_contact ON friends (gone_contact_id) WHERE gone_contact_id <> ''").Error; err != nil {
		return fmt.Errorf("index friends.gone_contact_id: %w", err)
	}
	if err := m.CreateTable(&hubspotEvent{}); err != nil {
		return fmt.Errorf("create table hubspot_events: %w", err)
	}
	if err := m.CreateTable(&contactEdit{}); err != nil {
		return fmt.Errorf("create table contact_edits: %w", err)
	}
	// The worker reads pending events oldest first; like the inbox's, the
	// index holds the pending rows only.
	return tx.Exec("CREATE INDEX idx_hubspot_events_pending ON hubspot_events (occurred_at, id) WHERE pending").Error
}

// AppendHubSpotEvents durably stores a webhook batch in one transaction,
// skipping events already stored (HubSpot redelivers). It returns how
// many are new; when it returns nil the batch survives a crash.
func (s *Store) AppendHubSpotEvents(ctx context.Context, rows []HubSpotEvent) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	s.yieldToInbox()
	var n int64
	err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&rows, 200)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("store HubSpot webhook events: %w", err)
	}
	return int(n), nil
}

// PendingHubSpotEvents returns up to limit unapplied events, oldest first.
func (s *Store) PendingHubSpotEvents(ctx context.Context, limit int) ([]HubSpotEvent, error) {
	var rows []HubSpotEvent
	if err := s.r.WithContext(ctx).Where("pending").Order("occurred_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read pending HubSpot events: %w", err)
	}
	return rows, nil
}

// HubSpotEventStats counts the app's webhook events.
type HubSpotEventStats struct {
	Pending int64 `json:"pending"`
	Total   int64 `json:"total"`
}

// HubSpotEventStats reports the queue's depth.
func (s *Store) HubSpotEventStats(ctx context.Context) (HubSpotEventStats, error) {
	var st HubSpotEventStats
	db := s.r.WithContext(ctx).Model(&HubSpotEvent{})
	if err := db.Count(&st.Total).Error; err != nil {
		return st, fmt.Errorf("count HubSpot events: %w", err)
	}
	if err := s.r.WithContext(ctx).Model(&HubSpotEvent{}).Where("pending").Count(&st.Pending).Error; err != nil {
		return st, fmt.Errorf("count HubSpot events: %w", err)
	}
	return st, nil
}

// MarkHubSpotEvent takes an event out of the pending set; errMsg (may be
// "") says why it changed nothing.
func (t *ApplyTx) MarkHubSpotEvent(id int64, at time.Time, errMsg string) error {
	err := t.db.Model(&HubSpotEvent{}).Where("id = ?", id).
		Updates(map[string]any{"pending": false, "applied_at": at, "error": errMsg}).Error
	if err != nil {
		return fmt.Errorf("mark HubSpot event %d applied: %w", id, err)
	}
	return nil
}

// FriendsOfContacts loads the friends, of every connection, whose contact
// is one of ids.
func (t *ApplyTx) FriendsOfContacts(ids []string) ([]*Friend, error) {
	var out []*Friend
	for len(ids) > 0 {
		n := min(len(ids), 500)
		var fs []Friend
		if err := t.db.Where("contact_id IN ?", ids[:n]).Order("id").Find(&fs).Error; err != nil {
			return nil, fmt.Errorf("load friends by contact: %w", err)
		}
		for i := range fs {
			out = append(out, &fs[i])
		}
		ids = ids[n:]
	}
	return out, nil
}

// FriendsGoneFrom loads the friends, of every connection, that a deletion
// webhook took one of the contacts ids from and that have none since.
func (t *ApplyTx) FriendsGoneFrom(ids []string) ([]*Friend, error) {
	var out []*Friend
	for len(ids) > 0 {
		n := min(len(ids), 500)
		var fs []Friend
		err := t.db.Where("gone_contact_id <> '' AND gone_contact_id IN ? AND contact_id = '' AND contact_gone", ids[:n]).Order("id").Find(&fs).Error
		if err != nil {
			return nil, fmt.Errorf("load friends by deleted contact: %w", err)
		}
		for i := range fs {
			out = append(out, &fs[i])
		}
		ids = ids[n:]
	}
	return out, nil
}

// SaveContactEdit records a person's edit unless a newer one of the same
// property of the same friend is recorded already.
func (t *ApplyTx) SaveContactEdit(e *ContactEdit) error {
	var cur ContactEdit
	err := t.db.Where("friend_id = ? AND property = ?", e.FriendID, e.Property).Limit(1).Find(&cur).Error
	if err != nil {
		return fmt.Errorf("read contact edit: %w", err)
	}
	if cur.ID != 0 && cur.OccurredAt > e.OccurredAt {
		return nil
	}
	e.ID, e.UpdatedAt = cur.ID, now()
	if err := t.db.Save(e).Error; err != nil {
		return fmt.Errorf("save contact edit: %w", err)
	}
	return nil
}

// ContactEdits returns the recorded edits of friends, by friend id and
// property.
func (s *Store) ContactEdits(ctx context.Context, friendIDs []int64) (map[int64]map[string]ContactEdit, error) {
	out := map[int64]map[string]ContactEdit{}
	for len(friendIDs) > 0 {
		n := min(len(friendIDs), 500)
		var es []ContactEdit
		if err := s.r.WithContext(ctx).Where("friend_id IN ?", friendIDs[:n]).Find(&es).Error; err != nil {
			return nil, fmt.Errorf("read contact edits: %w", err)
		}
		for _, e := range es {
			if out[e.FriendID] == nil {
				out[e.FriendID] = map[string]ContactEdit{}
			}
			out[e.FriendID][e.Property] = e
		}
		friendIDs = friendIDs[n:]
	}
	return out, nil
}

// PruneHubSpotEvents deletes events applied before cutoff.
func (s *Store) PruneHubSpotEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	s.yieldToInbox()
	res := s.w.WithContext(ctx).Where("NOT pending AND applied_at < ?", cutoff).Delete(&HubSpotEvent{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune HubSpot events: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// DeleteContactEdits forgets the recorded edits of a friend whose contact
// was deleted or merged: they were edits of another record.
func (t *ApplyTx) DeleteContactEdits(friendID int64) error {
	if err := t.db.Where("friend_id = ?", friendID).Delete(&ContactEdit{}).Error; err != nil {
		return fmt.Errorf("delete contact edits of friend %d: %w", friendID, err)
	}
	return nil
}
