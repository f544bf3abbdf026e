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
		if err := createTables(tx,
			table{"connections", &connection{}},
			table{"friends", &friend{}},
			table{"inbox_events", &inboxEvent{}},
			table{"settings", &setting{}},
			table{"api_tokens", &apiToken{}},
		); err != nil {
			return err
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
		if err := createTables(tx,
			table{"admins", &admin{}},
			table{"sessions", &session{}},
			table{"connection_icons", &connectionIcon{}},
		); err != nil {
			return err
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
	{11, "pending inbox events and pending notes: partial indexes", migratePartialPending},
	{12, "HubSpot app webhooks: event queue, edits of LINE properties", migrateHubSpotEvents},
	{13, "LINE Login channel per connection", migrateLineLogin},
	{14, "linking friends to contacts: settings, token uses, link records, link URL jobs", migrateLinking},
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

// migrateJobs is schema step 4: what the scheduled jobs keep.
func migrateJobs(tx *gorm.DB) error {
	type jobRun struct {
		ID           int64     `gorm:"primaryKey"`
		Job          string    `gorm:"not null;index:idx_job_runs_job,priority:1"`
		ConnectionID int64     `gorm:"not null;default:0"`
		Trigger      string    `gorm:"not null"`
		Status       string    `gorm:"not null;index"`
		StartedAt    time.Time `gorm:"index:idx_job_runs_job,priority:2"`
		FinishedAt   *time.Time
		Items        int64
		Errors       int64
		Message      string
	}
	type deadLetter struct {
		ID           int64  `gorm:"primaryKey"`
		FriendID     int64  `gorm:"not null;uniqueIndex"`
		ConnectionID int64  `gorm:"not null;index"`
		UserID       string `gorm:"not null"`
		Error        string
		Attempts     int
		ParkedAt     time.Time
	}
	type jobCursor struct {
		Job          string `gorm:"primaryKey"`
		ConnectionID int64  `gorm:"primaryKey;autoIncrement:false"`
		RunStarted   int64
		Phase        string
		Cursor       string
		UpdatedAt    time.Time
	}
	type friendImport struct {
		ConnectionID int64  `gorm:"primaryKey;autoIncrement:false"`
		State        string `gorm:"not null"`
		Total        int64
		Done         int64
		Message      string
		StartedAt    time.Time
		UpdatedAt    time.Time
		FinishedAt   *time.Time
	}
	if err := createTables(tx,
		table{"job_runs", &jobRun{}},
		table{"dead_letters", &deadLetter{}},
		table{"job_cursors", &jobCursor{}},
		table{"friend_imports", &friendImport{}},
	); err != nil {
		return err
	}
	// The fair sync order reads dirty friends connection by connection.
	if err := tx.Exec("CREATE INDEX idx_friend_conn_dirty ON friends (connection_id, dirty, next_sync_at)").Error; err != nil {
		return fmt.Errorf("create index idx_friend_conn_dirty: %w", err)
	}
	// The fair applier reads pending events connection by connection; the
	// index holds only pending rows, so it stays small however long the
	// retention.
	if err := tx.Exec("CREATE INDEX idx_inbox_pending_conn ON inbox_events (connection_id, timestamp, id) WHERE pending").Error; err != nil {
		return fmt.Errorf("create index idx_inbox_pending_conn: %w", err)
	}
	// Inbox pruning deletes applied rows by age.
	return tx.Exec("CREATE INDEX idx_inbox_applied_at ON inbox_events (applied_at) WHERE NOT pending").Error
}

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
	if err := createTables(tx,
		table{"hook_keys", &hookKey{}},
		table{"message_templates", &messageTemplate{}},
		table{"sends", &send{}},
		table{"chat_messages", &chatMessage{}},
		table{"broadcasts", &broadcast{}},
		table{"broadcast_chunks", &broadcastChunk{}},
	); err != nil {
		return err
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

// migratePartialPending is migration 11. The applier and the notes pass
// look up pending rows only, and nearly every row is applied or logged:
// full indexes over the pending flag grew with the retention (about
// 22 MiB and 9 MiB per million rows) to find a few. The partial indexes
// hold only the pending rows; the queries say "pending" literally, as the
// index does, or SQLite does not use them.
func migratePartialPending(tx *gorm.DB) error {
	for _, q := range []string{
		"DROP INDEX IF EXISTS idx_inbox_pending_ts",
		// The applier reads the oldest pending events in this order.
		"CREATE INDEX idx_inbox_pending_order ON inbox_events (timestamp, id) WHERE pending",
		"DROP INDEX IF EXISTS idx_chat_messages_note_pending",
		// The notes pass reads pending notes in id order and stops at a batch.
		"CREATE INDEX idx_chat_note_pending ON chat_messages (id) WHERE note_pending",
	} {
		if err := tx.Exec(q).Error; err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// table is a table a migration step creates, with the model frozen in
// that step.
type table struct {
	name  string
	model any
}

// createTables creates a step's tables in order.
func createTables(tx *gorm.DB, tables ...table) error {
	m := tx.Migrator()
	for _, t := range tables {
		if err := m.CreateTable(t.model); err != nil {
			return fmt.Errorf("create table %s: %w", t.name, err)
		}
	}
	return nil
}
