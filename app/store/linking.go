package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Linking LINE friends to contacts already in HubSpot (package linking):
// the per-connection switch, the key that signs link tokens, the uses of
// tokens, the record of every link and unlink, and the jobs that write
// link URLs to the contacts of a list.

// LinkSettings is how linking works for one connection.
type LinkSettings struct {
	ConnectionID int64 `gorm:"primaryKey;autoIncrement:false"`
	Enabled      bool  `gorm:"not null;default:false"`
	// ExpiryDays is how long a link token is valid (0: the default).
	ExpiryDays int `gorm:"not null;default:0"`
	UpdatedAt  time.Time
}

// LinkTokenUse is the first use of a link token: the token is good for
// that LINE user only from then on.
type LinkTokenUse struct {
	TokenID      string `gorm:"primaryKey"`
	ConnectionID int64  `gorm:"not null"`
	ContactID    string `gorm:"not null"`
	UserID       string `gorm:"not null"`
	UsedAt       time.Time
}

// Link record actions and states.
const (
	LinkActionLink   = "link"
	LinkActionUnlink = "unlink"

	LinkPending = "pending" // decided and recorded; HubSpot not yet told
	LinkDone    = "done"
	LinkFailed  = "failed"
)

// LinkRecord is one link or unlink of a friend, with who asked for it and
// why. A pending record is finished after a crash (linking.Service).
type LinkRecord struct {
	ID           int64  `gorm:"primaryKey"`
	ConnectionID int64  `gorm:"not null;index:idx_link_records_friend,priority:1"`
	UserID       string `gorm:"not null;index:idx_link_records_friend,priority:2"`
	Action       string `gorm:"not null"`
	How          string `gorm:"not null"` // link, email, hand
	By           string // admin email, "" for the person themselves
	// ContactID is the contact linked to (link) or unlinked from (unlink);
	// FromContactID the friend's contact before; MergeID the dummy-email
	// contact merged into ContactID ("" when none); ResultID the id the
	// friend follows afterwards (a merge gives a new one).
	ContactID     string
	FromContactID string
	MergeID       string
	ResultID      string
	Reason        string
	State         string `gorm:"not null;index"`
	Error         string
	CreatedAt     time.Time
	DoneAt        *time.Time
	// The timeline note: pending until created; a marker is written into
	// its body before it is sent, so that a lost answer can be looked up.
	NotePending bool `gorm:"not null;default:false;index"`
	NoteMarker  string
	NoteSentAt  int64
	NoteID      string
}

// LinkURLJob writes link URLs to the contacts of one HubSpot list, page by
// page; After is the list cursor of the next page, so a restart resumes.
type LinkURLJob struct {
	ID           int64  `gorm:"primaryKey"`
	ConnectionID int64  `gorm:"not null;index"`
	ListID       string `gorm:"not null"`
	ListName     string
	State        string `gorm:"not null;index"` // running, done, failed, cancelled
	After        string
	Written      int
	Failed       int
	Error        string
	StartedAt    time.Time
	UpdatedAt    time.Time
	FinishedAt   *time.Time
}

// Link URL job states.
const (
	LinkJobRunning   = "running"
	LinkJobDone      = "done"
	LinkJobFailed    = "failed"
	LinkJobCancelled = "cancelled"
)

func migrateLinking(tx *gorm.DB) error {
	type linkSettings struct {
		ConnectionID int64 `gorm:"primaryKey;autoIncrement:false"`
		Enabled      bool  `gorm:"not null;default:false"`
		ExpiryDays   int   `gorm:"not null;default:0"`
		UpdatedAt    time.Time
	}
	type linkTokenUse struct {
		TokenID      string `gorm:"primaryKey"`
		ConnectionID int64  `gorm:"not null"`
		ContactID    string `gorm:"not null"`
		UserID       string `gorm:"not null"`
		UsedAt       time.Time
	}
	type linkRecord struct {
		ID            int64  `gorm:"primaryKey"`
		ConnectionID  int64  `gorm:"not null;index:idx_link_records_friend,priority:1"`
		UserID        string `gorm:"not null;index:idx_link_records_friend,priority:2"`
		Action        string `gorm:"not null"`
		How           string `gorm:"not null"`
		By            string
		ContactID     string
		FromContactID string
		MergeID       string
		ResultID      string
		Reason        string
		State         string `gorm:"not null;index"`
		Error         string
		CreatedAt     time.Time
		DoneAt        *time.Time
		NotePending   bool `gorm:"not null;default:false;index"`
		NoteMarker    string
		NoteSentAt    int64
		NoteID        string
	}
	type linkURLJob struct {
		ID           int64  `gorm:"primaryKey"`
		ConnectionID int64  `gorm:"not null;index"`
		ListID       string `gorm:"not null"`
		ListName     string
		State        string `gorm:"not null;index"`
		After        string
		Written      int
		Failed       int
		Error        string
		StartedAt    time.Time
		UpdatedAt    time.Time
		FinishedAt   *time.Time
	}
	if err := createTables(tx,
		table{"link_settings", &linkSettings{}},
		table{"link_token_uses", &linkTokenUse{}},
		table{"link_records", &linkRecord{}},
		table{"link_url_jobs", &linkURLJob{}},
	); err != nil {
		return err
	}
	return nil
}

// settingLinkKey holds, sealed, the key that signs link tokens.
const settingLinkKey = "link_token_key"

// LinkTokenKey returns the key that signs link tokens, creating it on
// first use. Two first uses at once agree on one key.
func (s *Store) LinkTokenKey(ctx context.Context) ([]byte, error) {
	if v, err := s.Setting(ctx, settingLinkKey); err != nil {
		return nil, err
	} else if v == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate link token key: %w", err)
		}
		sealed, err := s.sealer.Seal(base64.StdEncoding.EncodeToString(key), "setting/"+settingLinkKey)
		if err != nil {
			return nil, err
		}
		err = s.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&Setting{Key: settingLinkKey, Value: sealed}).Error
		if err != nil {
			return nil, fmt.Errorf("store link token key: %w", err)
		}
	}
	plain, err := s.SecretSetting(ctx, settingLinkKey)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(plain)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("link token key is not 32 base64-encoded bytes")
	}
	return key, nil
}

// LinkSettingsOf returns a connection's linking settings (zero when never set).
func (s *Store) LinkSettingsOf(ctx context.Context, connID int64) (LinkSettings, error) {
	var ls LinkSettings
	err := s.r.WithContext(ctx).Where("connection_id = ?", connID).First(&ls).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return LinkSettings{ConnectionID: connID}, nil
	}
	if err != nil {
		return ls, fmt.Errorf("read link settings of connection %d: %w", connID, err)
	}
	return ls, nil
}

// SaveLinkSettings stores a connection's linking settings.
func (s *Store) SaveLinkSettings(ctx context.Context, ls LinkSettings) error {
	ls.UpdatedAt = now()
	err := s.w.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "connection_id"}}, UpdateAll: true}).Create(&ls).Error
	if err != nil {
		return fmt.Errorf("save link settings of connection %d: %w", ls.ConnectionID, err)
	}
	return nil
}

// ErrTokenTaken: the token was first used by another LINE user.
var ErrTokenTaken = errors.New("link token already used by another LINE user")

// LinkTx is the write transaction in which a link is decided and recorded.
type LinkTx struct{ db *gorm.DB }

// Link runs fn in one write transaction.
func (s *Store) Link(ctx context.Context, fn func(tx *LinkTx) error) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return fn(&LinkTx{db: tx}) })
}

// UseToken records the first use of a token; a later use by the same LINE
// user is fine, by another ErrTokenTaken.
func (t *LinkTx) UseToken(u LinkTokenUse) error {
	var have LinkTokenUse
	err := t.db.Where("token_id = ?", u.TokenID).First(&have).Error
	switch {
	case err == nil && have.UserID == u.UserID:
		return nil
	case err == nil:
		return ErrTokenTaken
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("read link token use: %w", err)
	}
	u.UsedAt = now()
	if err := t.db.Create(&u).Error; err != nil {
		return fmt.Errorf("record link token use: %w", err)
	}
	return nil
}

// AddRecord inserts a link record.
func (t *LinkTx) AddRecord(r *LinkRecord) error {
	r.CreatedAt = now()
	if err := t.db.Create(r).Error; err != nil {
		return fmt.Errorf("record link of %s: %w", r.UserID, err)
	}
	return nil
}

// PendingLink is the friend's unfinished link or unlink, if any.
func (t *LinkTx) PendingLink(connID int64, userID string) (*LinkRecord, error) {
	var r LinkRecord
	err := t.db.Where("connection_id = ? AND user_id = ? AND state = ?", connID, userID, LinkPending).First(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pending link of %s: %w", userID, err)
	}
	return &r, nil
}

// Friend loads one friend (nil when unknown).
func (t *LinkTx) Friend(connID int64, userID string) (*Friend, error) {
	fs, err := (&ApplyTx{db: t.db}).Friends(connID, []string{userID})
	if err != nil {
		return nil, err
	}
	return fs[userID], nil
}

// SaveFriend inserts or updates a friend, as the applier does.
func (t *LinkTx) SaveFriend(f *Friend) error { return (&ApplyTx{db: t.db}).SaveFriend(f) }

// FinishRecord marks a record done (with its timeline note due) or failed.
func (t *LinkTx) FinishRecord(id int64, resultID, errMsg string) error {
	at := now()
	m := map[string]any{"done_at": at, "result_id": resultID, "error": errMsg}
	if errMsg == "" {
		m["state"], m["note_pending"] = LinkDone, true
	} else {
		m["state"] = LinkFailed
	}
	if err := t.db.Model(&LinkRecord{}).Where("id = ?", id).Updates(m).Error; err != nil {
		return fmt.Errorf("finish link record %d: %w", id, err)
	}
	return nil
}

// FailLink marks a pending record failed outside a link transaction.
func (s *Store) FailLink(ctx context.Context, id int64, errMsg string) error {
	return s.Link(ctx, func(tx *LinkTx) error { return tx.FinishRecord(id, "", errMsg) })
}

// PendingLinks lists unfinished records, oldest first.
func (s *Store) PendingLinks(ctx context.Context, limit int) ([]LinkRecord, error) {
	var rs []LinkRecord
	if err := s.r.WithContext(ctx).Where("state = ?", LinkPending).Order("id").Limit(limit).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("read pending links: %w", err)
	}
	return rs, nil
}

// LinkRecordsOf lists a friend's link records, newest first.
func (s *Store) LinkRecordsOf(ctx context.Context, connID int64, userID string, limit int) ([]LinkRecord, error) {
	var rs []LinkRecord
	err := s.r.WithContext(ctx).Where("connection_id = ? AND user_id = ?", connID, userID).Order("id DESC").Limit(limit).Find(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("read link records of %s: %w", userID, err)
	}
	return rs, nil
}

// LinkNotesDue lists records whose timeline note is not yet created.
func (s *Store) LinkNotesDue(ctx context.Context, limit int) ([]LinkRecord, error) {
	var rs []LinkRecord
	if err := s.r.WithContext(ctx).Where("note_pending").Order("id").Limit(limit).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("read link notes due: %w", err)
	}
	return rs, nil
}

// SendingLinkNotes records, before the request goes out, the marker each
// note is sent with.
func (s *Store) SendingLinkNotes(ctx context.Context, markers map[int64]string) error {
	at := time.Now().UnixMilli()
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for id, m := range markers {
			if err := tx.Model(&LinkRecord{}).Where("id = ?", id).Updates(map[string]any{"note_marker": m, "note_sent_at": at}).Error; err != nil {
				return fmt.Errorf("mark link note %d sending: %w", id, err)
			}
		}
		return nil
	})
}

// LinkNotesDone records created notes (record id → note id); a record
// whose contact is gone has "" and is not tried again.
func (s *Store) LinkNotesDone(ctx context.Context, done map[int64]string) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for id, noteID := range done {
			if err := tx.Model(&LinkRecord{}).Where("id = ?", id).Updates(map[string]any{"note_pending": false, "note_id": noteID}).Error; err != nil {
				return fmt.Errorf("record link note %d: %w", id, err)
			}
		}
		return nil
	})
}

// KnownLinkNoteIDs says which note ids linehub already recorded for links.
func (s *Store) KnownLinkNoteIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	var have []string
	if err := s.r.WithContext(ctx).Model(&LinkRecord{}).Where("note_id IN ?", ids).Pluck("note_id", &have).Error; err != nil {
		return nil, fmt.Errorf("read link note ids: %w", err)
	}
	for _, id := range have {
		out[id] = true
	}
	return out, nil
}

// ErrJobRunning: the connection already writes link URLs.
var ErrJobRunning = errors.New("a link URL job is already running for this connection")

// StartLinkURLJob starts writing link URLs for a list; a connection runs
// one job at a time (ErrJobRunning while one runs).
func (s *Store) StartLinkURLJob(ctx context.Context, j *LinkURLJob) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&LinkURLJob{}).Where("connection_id = ? AND state = ?", j.ConnectionID, LinkJobRunning).Count(&n).Error; err != nil {
			return fmt.Errorf("read link URL jobs: %w", err)
		}
		if n > 0 {
			return ErrJobRunning
		}
		j.State, j.StartedAt, j.UpdatedAt = LinkJobRunning, now(), now()
		if err := tx.Create(j).Error; err != nil {
			return fmt.Errorf("start link URL job: %w", err)
		}
		return nil
	})
}

// SaveLinkURLJob records a running job's progress or end; a job that
// ended meanwhile (cancelled) is left as it is (ErrNotFound).
func (s *Store) SaveLinkURLJob(ctx context.Context, j *LinkURLJob) error {
	j.UpdatedAt = now()
	if j.State != LinkJobRunning && j.FinishedAt == nil {
		at := now()
		j.FinishedAt = &at
	}
	res := s.w.WithContext(ctx).Model(&LinkURLJob{}).Where("id = ? AND state = ?", j.ID, LinkJobRunning).Updates(map[string]any{
		"state": j.State, "after": j.After, "written": j.Written, "failed": j.Failed, "error": j.Error,
		"updated_at": j.UpdatedAt, "finished_at": j.FinishedAt,
	})
	if res.Error != nil {
		return fmt.Errorf("save link URL job %d: %w", j.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RunningLinkURLJobs lists jobs to run (or resume after a restart).
func (s *Store) RunningLinkURLJobs(ctx context.Context) ([]LinkURLJob, error) {
	var js []LinkURLJob
	if err := s.r.WithContext(ctx).Where("state = ?", LinkJobRunning).Order("id").Find(&js).Error; err != nil {
		return nil, fmt.Errorf("read running link URL jobs: %w", err)
	}
	return js, nil
}

// LastLinkURLJob is a connection's newest job (nil when none).
func (s *Store) LastLinkURLJob(ctx context.Context, connID int64) (*LinkURLJob, error) {
	var j LinkURLJob
	err := s.r.WithContext(ctx).Where("connection_id = ?", connID).Order("id DESC").First(&j).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read link URL job: %w", err)
	}
	return &j, nil
}

// UnlinkedFrom says whether the friend's newest finished link record is
// an unlink from contactID.
func (s *Store) UnlinkedFrom(ctx context.Context, connID int64, userID, contactID string) (bool, error) {
	var r LinkRecord
	err := s.r.WithContext(ctx).Where("connection_id = ? AND user_id = ? AND state = ?", connID, userID, LinkDone).Order("id DESC").First(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read link records of %s: %w", userID, err)
	}
	return r.Action == LinkActionUnlink && r.ContactID == contactID, nil
}

// TokenUser is the LINE user who first used a token ("" when unused).
func (s *Store) TokenUser(ctx context.Context, tokenID string) (string, error) {
	var u LinkTokenUse
	err := s.r.WithContext(ctx).Where("token_id = ?", tokenID).First(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read link token use: %w", err)
	}
	return u.UserID, nil
}
