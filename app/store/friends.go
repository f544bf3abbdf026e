package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ApplyTx is the write transaction in which the event applier turns inbox
// events into friend state.
type ApplyTx struct{ db *gorm.DB }

// Apply runs fn in one write transaction: either every friend change and
// every inbox mark in it is stored, or none.
func (s *Store) Apply(ctx context.Context, fn func(tx *ApplyTx) error) error {
	s.yieldToInbox()
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return fn(&ApplyTx{db: tx}) })
}

// Friends loads the friends of one connection with the given LINE user ids,
// keyed by user id.
func (t *ApplyTx) Friends(connectionID int64, userIDs []string) (map[string]*Friend, error) {
	out := make(map[string]*Friend, len(userIDs))
	// Chunked to stay under SQLite's bound-parameter limit.
	for len(userIDs) > 0 {
		n := min(len(userIDs), 500)
		var fs []Friend
		if err := t.db.Where("connection_id = ? AND user_id IN ?", connectionID, userIDs[:n]).Find(&fs).Error; err != nil {
			return nil, fmt.Errorf("load friends: %w", err)
		}
		for i := range fs {
			out[fs[i].UserID] = &fs[i]
		}
		userIDs = userIDs[n:]
	}
	return out, nil
}

// SaveFriend inserts or updates one friend, bumping its version.
func (t *ApplyTx) SaveFriend(f *Friend) error { return t.SaveFriends([]*Friend{f}) }

// SaveFriends inserts or updates several friends, bumping each one's
// version like SaveFriend, in a few multi-row statements instead of one
// statement per friend: the applier's transaction holds the single writer
// that webhook commits wait for, so it has to be short.
func (t *ApplyTx) SaveFriends(fs []*Friend) error {
	var added, changed []*Friend
	at := now()
	for _, f := range fs {
		f.Version++
		f.UpdatedAt = at
		if f.ID == 0 {
			f.CreatedAt = at
			added = append(added, f)
		} else {
			changed = append(changed, f)
		}
	}
	if len(added) > 0 {
		if err := t.db.CreateInBatches(added, friendWriteBatch).Error; err != nil {
			return fmt.Errorf("insert friends: %w", err)
		}
	}
	if len(changed) > 0 {
		// An upsert on the primary key rewrites every column of rows that
		// exist, as Save does; both SQLite and PostgreSQL have it.
		err := t.db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, UpdateAll: true}).
			CreateInBatches(changed, friendWriteBatch).Error
		if err != nil {
			return fmt.Errorf("update friends: %w", err)
		}
	}
	return nil
}

// friendWriteBatch rows of about 25 columns per statement stay far below
// SQLite's limit of 32766 bound parameters.
const friendWriteBatch = 100

// MarkApplied takes events out of the pending set; errMsg (may be "")
// records why an event could not be used.
func (t *ApplyTx) MarkApplied(id int64, at time.Time, errMsg string) error {
	err := t.db.Model(&InboxEvent{}).Where("id = ?", id).
		Updates(map[string]any{"pending": false, "applied_at": at, "error": errMsg}).Error
	if err != nil {
		return fmt.Errorf("mark inbox event %d applied: %w", id, err)
	}
	return nil
}

// MarkAppliedIDs takes several events out of the pending set at once.
func (t *ApplyTx) MarkAppliedIDs(ids []int64, at time.Time) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		err := t.db.Model(&InboxEvent{}).Where("id IN ?", ids[:n]).
			Updates(map[string]any{"pending": false, "applied_at": at}).Error
		if err != nil {
			return fmt.Errorf("mark inbox events applied: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// FriendsByUser loads friends of a connection by LINE user id (read-only).
func (s *Store) FriendsByUser(ctx context.Context, connectionID int64, userIDs []string) (map[string]*Friend, error) {
	return (&ApplyTx{db: s.r.WithContext(ctx)}).Friends(connectionID, userIDs)
}

// Friend returns one friend.
func (s *Store) Friend(ctx context.Context, connectionID int64, userID string) (*Friend, error) {
	var f Friend
	if err := s.r.WithContext(ctx).Where("connection_id = ? AND user_id = ?", connectionID, userID).First(&f).Error; err != nil {
		return nil, notFound(err)
	}
	return &f, nil
}

// FriendsPage lists a connection's friends by id after the cursor.
func (s *Store) FriendsPage(ctx context.Context, connectionID, after int64, limit int) ([]Friend, error) {
	var fs []Friend
	err := s.r.WithContext(ctx).Where("connection_id = ? AND id > ?", connectionID, after).Order("id").Limit(limit).Find(&fs).Error
	if err != nil {
		return nil, fmt.Errorf("list friends: %w", err)
	}
	return fs, nil
}

// FriendStats summarises a connection's friends (0 = all connections).
type FriendStats struct {
	Total      int64 `json:"total"`
	Following  int64 `json:"following"`
	Blocked    int64 `json:"blocked"`
	Backlog    int64 `json:"sync_backlog"` // waiting to be synced; parked friends are not backlog
	SyncErrors int64 `json:"sync_errors"`
	Parked     int64 `json:"dead_letters"`
}

// FriendStats counts friends by state.
func (s *Store) FriendStats(ctx context.Context, connectionID int64) (FriendStats, error) {
	var st FriendStats
	q := s.r.WithContext(ctx).Model(&Friend{})
	if connectionID != 0 {
		q = q.Where("connection_id = ?", connectionID)
	}
	err := q.Select(`COUNT(*) AS total,
		COALESCE(SUM(CASE WHEN following THEN 1 ELSE 0 END), 0) AS following,
		COALESCE(SUM(CASE WHEN NOT following THEN 1 ELSE 0 END), 0) AS blocked,
		COALESCE(SUM(CASE WHEN dirty <> 0 AND next_sync_at < ? THEN 1 ELSE 0 END), 0) AS backlog,
		COALESCE(SUM(CASE WHEN sync_error <> '' THEN 1 ELSE 0 END), 0) AS sync_errors,
		COALESCE(SUM(CASE WHEN dirty <> 0 AND next_sync_at >= ? THEN 1 ELSE 0 END), 0) AS parked`, parkedSyncAt, parkedSyncAt).Scan(&st).Error
	if err != nil {
		return st, fmt.Errorf("count friends: %w", err)
	}
	return st, nil
}

// DirtyFriends returns friends with unsynced changes whose backoff has
// passed, oldest change first.
func (s *Store) DirtyFriends(ctx context.Context, nowMs int64, limit int) ([]Friend, error) {
	var fs []Friend
	// dirty > 0 (a bit set is never negative) lets SQLite use the
	// (dirty, next_sync_at) index; dirty <> 0 scanned the whole table.
	err := s.r.WithContext(ctx).Where("dirty > 0 AND next_sync_at <= ?", nowMs).
		Order("next_sync_at, updated_at, id").Limit(limit).Find(&fs).Error
	if err != nil {
		return nil, fmt.Errorf("read dirty friends: %w", err)
	}
	return fs, nil
}

// SyncResult is what the sync worker learned about one friend.
type SyncResult struct {
	FriendID, Version int64
	// ReadContactID is the contact id the round read the friend with.
	// ContactID, ContactGone and Written are stored only while the friend
	// still has it (or already has ContactID): something else that moved
	// the friend meanwhile (drift repair, the app's merge webhook) knew
	// better than the round, which wrote to the old contact.
	ReadContactID string
	ContactID     string
	ContactGone   bool
	// Written replaces the record of values last written to HubSpot ("" = keep).
	Written string
	// Synced: the friend's changes are in HubSpot. Dirty bits and the
	// permission to create are cleared unless the friend changed meanwhile.
	Synced bool
	// DirtyAll, with Error: bits added to the friend's dirty ones for the
	// next try (a new or adopted contact whose properties are not written).
	DirtyAll int
	// Notice, with Synced: kept as the friend's sync error, a state the
	// owner should know of although nothing is left to retry.
	Notice string
	// Error with NextSyncAt: keep dirty, try again later.
	Error      string
	NextSyncAt int64
	// KeepAttempts: a deliberate wait, not a failure to count.
	KeepAttempts bool
	// Profile, when set, stores a LINE profile read by the sync worker.
	Profile *ProfileUpdate
}

// ProfileUpdate is a LINE profile read outside the applier.
type ProfileUpdate struct {
	DisplayName, PictureURL string
	ProfileAt               int64
}

// SaveSyncResults records a batch of sync outcomes. Each result stands
// alone, so they are written in transactions of syncResultBatch: one
// transaction for a whole round (500 friends) held the single writer long
// enough to delay webhook acknowledgements noticeably.
func (s *Store) SaveSyncResults(ctx context.Context, results []SyncResult) error {
	for len(results) > 0 {
		n := min(len(results), syncResultBatch)
		if err := s.saveSyncResults(ctx, results[:n]); err != nil {
			return err
		}
		results = results[n:]
	}
	return nil
}

const syncResultBatch = 100

func (s *Store) saveSyncResults(ctx context.Context, results []SyncResult) error {
	s.yieldToInbox()
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, r := range results {
			// SQLite and PostgreSQL evaluate every SET expression on the
			// row as it was, so each CASE sees the contact id before this
			// update.
			same := gorm.Expr("contact_id IN (?, ?)", r.ReadContactID, r.ContactID)
			m := map[string]any{
				"contact_id":   gorm.Expr("CASE WHEN ? THEN ? ELSE contact_id END", same, r.ContactID),
				"contact_gone": gorm.Expr("CASE WHEN ? THEN ? ELSE contact_gone END", same, r.ContactGone),
			}
			if r.Written != "" {
				m["written"] = gorm.Expr("CASE WHEN ? THEN ? ELSE written END", same, r.Written)
			}
			switch {
			case r.Synced:
				// The version is bumped by every other change of the
				// friend, a move to another contact included.
				m["sync_error"], m["sync_attempts"], m["next_sync_at"], m["synced_at"] = r.Notice, 0, 0, now()
				m["dirty"] = gorm.Expr("CASE WHEN version = ? THEN 0 ELSE dirty END", r.Version)
				m["may_create"] = gorm.Expr("CASE WHEN version = ? THEN ? ELSE may_create END", r.Version, false)
			default:
				m["sync_error"], m["next_sync_at"] = r.Error, r.NextSyncAt
				if r.DirtyAll != 0 {
					m["dirty"] = gorm.Expr("dirty | ?", r.DirtyAll)
				}
				if !r.KeepAttempts {
					m["sync_attempts"] = gorm.Expr("sync_attempts + 1")
				}
			}
			if p := r.Profile; p != nil {
				m["display_name"], m["picture_url"], m["profile_at"], m["profile_missing"] = p.DisplayName, p.PictureURL, p.ProfileAt, false
			}
			if err := tx.Model(&Friend{}).Where("id = ?", r.FriendID).Updates(m).Error; err != nil {
				return fmt.Errorf("record sync of friend %d: %w", r.FriendID, err)
			}
		}
		return nil
	})
}

// UpdateFriend changes a friend outside the event stream (e.g. a message
// linehub sent); fn edits the loaded row, which is saved with a new version.
func (s *Store) UpdateFriend(ctx context.Context, connectionID int64, userID string, fn func(f *Friend) error) (*Friend, error) {
	var out *Friend
	err := s.Apply(ctx, func(tx *ApplyTx) error {
		fs, err := tx.Friends(connectionID, []string{userID})
		if err != nil {
			return err
		}
		f := fs[userID]
		if f == nil {
			f = &Friend{ConnectionID: connectionID, UserID: userID}
		}
		if err := fn(f); err != nil {
			return err
		}
		out = f
		return tx.SaveFriend(f)
	})
	return out, err
}

// RetryNow makes a connection's waiting friends eligible for sync at once
// (after whatever they waited for is fixed).
func (s *Store) RetryNow(ctx context.Context, connectionID int64) error {
	err := s.w.WithContext(ctx).Model(&Friend{}).Where("connection_id = ? AND dirty <> 0 AND next_sync_at > 0", connectionID).
		Update("next_sync_at", 0).Error
	if err != nil {
		return fmt.Errorf("reset sync backoff: %w", err)
	}
	return nil
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

// FriendsWithContacts lists every friend of a connection linked to one of
// the contact ids, by id.
func (s *Store) FriendsWithContacts(ctx context.Context, connID int64, contactIDs []string) ([]Friend, error) {
	var out []Friend
	for len(contactIDs) > 0 {
		n := min(len(contactIDs), 500)
		var fs []Friend
		if err := s.r.WithContext(ctx).Where("connection_id = ? AND contact_id IN ?", connID, contactIDs[:n]).Order("id").Find(&fs).Error; err != nil {
			return nil, fmt.Errorf("load friends by contact: %w", err)
		}
		out = append(out, fs...)
		contactIDs = contactIDs[n:]
	}
	return out, nil
}

// DetachFriend takes a contact from a friend that shares it with another
// friend of its connection, as a deletion does (no contact until a new
// LINE event), with notice as its sync error. It changes nothing unless
// the friend still has contactID.
func (s *Store) DetachFriend(ctx context.Context, friendID int64, contactID, notice string) error {
	s.yieldToInbox()
	err := s.w.WithContext(ctx).Model(&Friend{}).Where("id = ? AND contact_id = ?", friendID, contactID).Updates(map[string]any{
		"contact_id": "", "contact_gone": true, "written": "{}", "dirty": 0, "may_create": false,
		"next_sync_at": 0, "sync_attempts": 0, "sync_error": notice, "version": gorm.Expr("version + 1"),
	}).Error
	if err != nil {
		return fmt.Errorf("detach friend %d from contact %s: %w", friendID, contactID, err)
	}
	return nil
}

// RewriteFriend makes every property in dirty due again for a friend,
// as to a contact that holds none of linehub's values.
func (s *Store) RewriteFriend(ctx context.Context, friendID int64, dirty int) error {
	s.yieldToInbox()
	err := s.w.WithContext(ctx).Model(&Friend{}).Where("id = ?", friendID).Updates(map[string]any{
		"dirty": gorm.Expr("dirty | ?", dirty), "written": "{}", "next_sync_at": 0, "version": gorm.Expr("version + 1"),
	}).Error
	if err != nil {
		return fmt.Errorf("rewrite friend %d: %w", friendID, err)
	}
	return nil
}

// FriendsOfContact lists the friends, on every connection, linked to one
// HubSpot contact that was not deleted there, by connection then user, at
// most limit of them.
func (s *Store) FriendsOfContact(ctx context.Context, contactID string, limit int) ([]Friend, error) {
	var fs []Friend
	if contactID == "" {
		return fs, nil
	}
	err := s.r.WithContext(ctx).Where("contact_id = ? AND NOT contact_gone", contactID).
		Order("connection_id, user_id").Limit(limit).Find(&fs).Error
	if err != nil {
		return nil, fmt.Errorf("load friends of contact %s: %w", contactID, err)
	}
	return fs, nil
}

// FollowingPage lists a connection's friends marked following, by id after
// the cursor (the profile pass of reconcile).
func (s *Store) FollowingPage(ctx context.Context, connectionID, after int64, limit int) ([]Friend, error) {
	var fs []Friend
	err := s.r.WithContext(ctx).Where("connection_id = ? AND following AND id > ?", connectionID, after).
		Order("id").Limit(limit).Find(&fs).Error
	if err != nil {
		return nil, fmt.Errorf("list following friends: %w", err)
	}
	return fs, nil
}

// UnconfirmedFollowers lists friends marked following whose follow status
// and sync date are both older than before (ms): the followers that a
// complete pass over LINE's follower list did not confirm.
func (s *Store) UnconfirmedFollowers(ctx context.Context, connectionID, before, after int64, limit int) ([]Friend, error) {
	var fs []Friend
	// created_at: a friend first stored after the pass began may simply
	// have been missing from the store when its page was read.
	err := s.r.WithContext(ctx).
		Where("connection_id = ? AND following AND profile_at < ? AND follow_at < ? AND created_at < ? AND id > ?",
			connectionID, before, before, time.UnixMilli(before).UTC(), after).
		Order("id").Limit(limit).Find(&fs).Error
	if err != nil {
		return nil, fmt.Errorf("list unconfirmed followers: %w", err)
	}
	return fs, nil
}

// ContactsPage lists a connection's friends that have a HubSpot contact and
// nothing waiting to be written (drift repair reads them back).
func (s *Store) ContactsPage(ctx context.Context, connectionID, after int64, limit int) ([]Friend, error) {
	var fs []Friend
	err := s.r.WithContext(ctx).Where("connection_id = ? AND contact_id <> '' AND dirty = 0 AND id > ?", connectionID, after).
		Order("id").Limit(limit).Find(&fs).Error
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return fs, nil
}

// SearchFriends lists a connection's friends for the dashboard, newest
// first, optionally filtered by display name or user id; more tells
// whether another page follows.
func (s *Store) SearchFriends(ctx context.Context, connectionID int64, q string, offset, limit int) ([]Friend, bool, error) {
	var fs []Friend
	db := s.r.WithContext(ctx).Where("connection_id = ?", connectionID)
	if q != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(q)) + "%"
		db = db.Where(`(LOWER(display_name) LIKE ? ESCAPE '\' OR LOWER(user_id) LIKE ? ESCAPE '\')`, like, like)
	}
	if err := db.Order("id DESC").Offset(offset).Limit(limit + 1).Find(&fs).Error; err != nil {
		return nil, false, fmt.Errorf("search friends: %w", err)
	}
	more := len(fs) > limit
	if more {
		fs = fs[:limit]
	}
	return fs, more, nil
}
