package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// migration is one step of the schema's history. Steps are append-only:
// an upgrade that renames or backfills is a new step, never an edit of an
// old one. Each step declares the table shapes it needs itself (not the
// current models), so replaying history from an empty database always
// yields the same schema.
type migration struct {
	version int
	name    string
	up      func(tx *gorm.DB) error
}

var migrations = []migration{
	{1, "initial schema", func(tx *gorm.DB) error {
		type connection struct {
			ID                  int64  `gorm:"primaryKey"`
			Serial              int    `gorm:"not null;uniqueIndex"`
			Key                 string `gorm:"not null;uniqueIndex"`
			Name                string `gorm:"not null"`
			Description         string
			ChannelSecretSealed string
			ChannelTokenSealed  string
			SecretLast4         string
			TokenLast4          string
			BotUserID           string
			BotName             string
			BotPictureURL       string
			PropertiesReady     bool `gorm:"not null;default:false"`
			LastEventAt         *time.Time
			LastError           string
			LastErrorAt         *time.Time
			CreatedAt           time.Time
			UpdatedAt           time.Time
			DeletedAt           *time.Time `gorm:"index"`
		}
		type friend struct {
			ID             int64  `gorm:"primaryKey"`
			ConnectionID   int64  `gorm:"not null;uniqueIndex:idx_friend_conn_user"`
			UserID         string `gorm:"not null;uniqueIndex:idx_friend_conn_user"`
			DisplayName    string
			PictureURL     string
			ProfileAt      int64
			ProfileMissing bool
			Following      bool
			FollowAt       int64
			LastResponse   string
			LastMessageAt  int64
			Unanswered     bool
			UnansweredAt   int64
			ContactID      string `gorm:"index"`
			ContactGone    bool
			MayCreate      bool
			Dirty          int   `gorm:"not null;default:0;index:idx_friend_dirty,priority:1"`
			NextSyncAt     int64 `gorm:"not null;default:0;index:idx_friend_dirty,priority:2"`
			Version        int64 `gorm:"not null;default:0"`
			Written        string
			SyncError      string
			SyncAttempts   int
			SyncedAt       *time.Time
			CreatedAt      time.Time
			UpdatedAt      time.Time
		}
		type inboxEvent struct {
			ID             int64  `gorm:"primaryKey"`
			ConnectionID   int64  `gorm:"not null;uniqueIndex:idx_inbox_conn_event"`
			WebhookEventID string `gorm:"not null;uniqueIndex:idx_inbox_conn_event"`
			Type           string `gorm:"not null"`
			UserID         string
			Timestamp      int64  `gorm:"not null"`
			Raw            string `gorm:"not null"`
			ReceivedAt     time.Time
			Pending        bool `gorm:"not null;default:true;index:idx_inbox_pending,priority:1"`
			AppliedAt      *time.Time
			Error          string
		}
		type setting struct {
			Key   string `gorm:"primaryKey"`
			Value string `gorm:"not null"`
		}
		type apiToken struct {
			ID         int64  `gorm:"primaryKey"`
			Name       string `gorm:"not null"`
			Hash       string `gorm:"not null;uniqueIndex"`
			Last4      string
			CreatedAt  time.Time
			LastUsedAt *time.Time
			RevokedAt  *time.Time
		}
		m := tx.Migrator()
		for _, t := range []struct {
			name  string
			model any
		}{
			{"connections", &connection{}},
			{"friends", &friend{}},
			{"inbox_events", &inboxEvent{}},
			{"settings", &setting{}},
			{"api_tokens", &apiToken{}},
		} {
			if err := m.CreateTable(t.model); err != nil {
				return fmt.Errorf("create table %s: %w", t.name, err)
			}
		}
		// The pending index also orders by timestamp so the applier's scan
		// is an index walk, not a sort.
		return tx.Exec("CREATE INDEX idx_inbox_pending_ts ON inbox_events (pending, timestamp, id)").Error
	}},
	{2, "drop inbox index covered by idx_inbox_pending_ts", func(tx *gorm.DB) error {
		// (pending) is a prefix of (pending, timestamp, id): the extra index
		// only cost a write on every webhook insert and every applied mark.
		return tx.Exec("DROP INDEX IF EXISTS idx_inbox_pending").Error
	}},
	{3, "admin accounts, browser sessions, connection icons", func(tx *gorm.DB) error {
		type admin struct {
			ID           int64  `gorm:"primaryKey"`
			Email        string `gorm:"not null;uniqueIndex"`
			PasswordHash string `gorm:"not null"`
			CreatedAt    time.Time
			UpdatedAt    time.Time
		}
		type session struct {
			Hash      string `gorm:"primaryKey"`
			AdminID   int64  `gorm:"not null;index"`
			CSRF      string `gorm:"not null"`
			CreatedAt time.Time
			ExpiresAt time.Time `gorm:"not null;index"`
		}
		type connectionIcon struct {
			ConnectionID int64  `gorm:"primaryKey;autoIncrement:false"`
			ContentType  string `gorm:"not null"`
			Data         []byte `gorm:"not null"`
			UpdatedAt    time.Time
		}
		m := tx.Migrator()
		for _, t := range []struct {
			name  string
			model any
		}{
			{"admins", &admin{}},
			{"sessions", &session{}},
			{"connection_icons", &connectionIcon{}},
		} {
			if err := m.CreateTable(t.model); err != nil {
				return fmt.Errorf("create table %s: %w", t.name, err)
			}
		}
		return nil
	}},
	{4, "job runs, dead letters, job cursors, friend imports", migrateJobs},
	{5, "messaging: workflow hook keys, templates, sends, chat, broadcasts", migrateMessaging},
	{6, "broadcast chunks: time of the first attempt", func(tx *gorm.DB) error {
		// LINE honours a retry key for 24 h after the first attempt only.
		type broadcastChunk struct{ TriedAt *time.Time }
		if err := tx.Migrator().AddColumn(&broadcastChunk{}, "TriedAt"); err != nil {
			return fmt.Errorf("add broadcast_chunks.tried_at: %w", err)
		}
		return nil
	}},
	{7, "friends in chat-list order", func(tx *gorm.DB) error {
		// The chat list walks a connection's friends unanswered first, newest
		// message first, and stops at a page; without this index it read
		// every chat row of the connection (one per broadcast recipient)
		// and sorted all friends.
		return tx.Exec("CREATE INDEX idx_friend_chat_order ON friends (connection_id, unanswered DESC, last_message_at DESC, id)").Error
	}},
	{8, "sends: the request an idempotency key was given for", func(tx *gorm.DB) error {
		// A hash of recipient and message, so that a key reused for another
		// request is refused instead of answered with the first one.
		type send struct {
			RequestHash string `gorm:"not null;default:''"`
		}
		if err := tx.Migrator().AddColumn(&send{}, "RequestHash"); err != nil {
			return fmt.Errorf("add sends.request_hash: %w", err)
		}
		return nil
	}},
	{9, "timeline notes: marker, time sent, contact of broadcast recipients", migrateNotesOnce},
	{10, "sends: the reply token used; chat: messages LINE may not have delivered", migrateSendRecovery},
}

type schemaMigration struct {
	Version   int `gorm:"primaryKey;autoIncrement:false"`
	Name      string
	AppliedAt time.Time
}

func (s *Store) migrate(ctx context.Context) error {
	db := s.w.WithContext(ctx)
	if err := db.Table("schema_migrations").AutoMigrate(&schemaMigration{}); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := db.Table("schema_migrations").Select("COALESCE(MAX(version), 0)").Scan(&current).Error; err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if latest := migrations[len(migrations)-1].version; current > latest {
		return fmt.Errorf("database schema version %d is newer than this linehub (knows up to %d): upgrade linehub or restore a backup", current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := m.up(tx); err != nil {
				return err
			}
			return tx.Table("schema_migrations").Create(&schemaMigration{Version: m.version, Name: m.name, AppliedAt: now()}).Error
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		s.log.Info("database migrated", "version", m.version, "name", m.name)
	}
	return nil
}

// SchemaVersion reports the applied schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.WithContext(ctx).Table("schema_migrations").Select("COALESCE(MAX(version), 0)").Scan(&v).Error
	return v, err
}
