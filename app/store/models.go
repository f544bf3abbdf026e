package store

import "time"

// Connection is one LINE Official Account linked to the HubSpot portal.
// Rows are soft-deleted so that a serial number is never issued twice.
type Connection struct {
	ID          int64  `gorm:"primaryKey" json:"id"`
	Serial      int    `gorm:"not null;uniqueIndex" json:"serial"`
	Key         string `gorm:"not null;uniqueIndex" json:"-"` // path segment of the webhook URL
	Name        string `gorm:"not null" json:"name"`
	Description string `json:"description"`
	// Sealed secrets (see Sealer); read them through ConnectionSecrets.
	ChannelSecretSealed string `json:"-"`
	ChannelTokenSealed  string `json:"-"`
	SecretLast4         string `json:"-"`
	TokenLast4          string `json:"-"`

	BotUserID     string `json:"bot_user_id"`
	BotName       string `json:"bot_name"`
	BotPictureURL string `json:"bot_picture_url"`

	PropertiesReady bool       `gorm:"not null;default:false" json:"properties_ready"`
	LastEventAt     *time.Time `json:"last_event_at"`
	LastError       string     `json:"last_error"`
	LastErrorAt     *time.Time `json:"last_error_at"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	DeletedAt       *time.Time `gorm:"index" json:"-"`
}

// Friend is linehub's view of one LINE user of one connection: the truth
// from LINE, what was last written to HubSpot, and what is not yet synced.
//
// The *At fields hold the LINE event timestamp (ms) that last set the
// matching value; an older event arriving late never overrides a newer one,
// which is what makes application order-independent per friend.
type Friend struct {
	ID           int64  `gorm:"primaryKey"`
	ConnectionID int64  `gorm:"not null;uniqueIndex:idx_friend_conn_user"`
	UserID       string `gorm:"not null;uniqueIndex:idx_friend_conn_user"`

	DisplayName    string
	PictureURL     string
	ProfileAt      int64 // ms, when the profile was last read from LINE (LINE ID Sync Date)
	ProfileMissing bool  // a profile read failed for a reason other than "not a friend"

	Following     bool
	FollowAt      int64
	LastResponse  string
	LastMessageAt int64
	Unanswered    bool
	UnansweredAt  int64

	ContactID   string `gorm:"index"`
	ContactGone bool   // deleted in HubSpot; only a message or a follow recreates it
	// GoneContactID is the contact a deletion webhook took from the friend:
	// HubSpot may report a merged-away contact as deleted before the merge,
	// which then still finds the friend by it.
	GoneContactID string
	MayCreate     bool // a message or follow since the last sync allows creating the contact

	Dirty        int    `gorm:"not null;default:0;index:idx_friend_dirty,priority:1"` // bit set of properties to write
	NextSyncAt   int64  `gorm:"not null;default:0;index:idx_friend_dirty,priority:2"` // ms; backoff after a failure
	Version      int64  `gorm:"not null;default:0"`                                   // bumped by every change; guards "mark synced"
	Written      string // JSON map of property → value last written to HubSpot
	SyncError    string
	SyncAttempts int
	SyncedAt     *time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
}

// InboxEvent is one webhook event exactly as LINE sent it, stored before the
// webhook is acknowledged.
type InboxEvent struct {
	ID             int64  `gorm:"primaryKey"`
	ConnectionID   int64  `gorm:"not null;uniqueIndex:idx_inbox_conn_event"`
	WebhookEventID string `gorm:"not null;uniqueIndex:idx_inbox_conn_event"`
	Type           string `gorm:"not null"`
	UserID         string
	Timestamp      int64  `gorm:"not null"`
	Raw            string `gorm:"not null"`
	ReceivedAt     time.Time
	Pending        bool `gorm:"not null"` // stored as given: webhook rows are created pending (partial indexes hold only pending rows)
	AppliedAt      *time.Time
	Error          string
}

// Setting is one key/value pair; secret values are sealed.
type Setting struct {
	Key   string `gorm:"primaryKey"`
	Value string `gorm:"not null"`
}

// APIToken is a bearer token for the admin API. Only its SHA-256 is kept:
// tokens are 256-bit random, so a fast hash is as strong as a slow one.
type APIToken struct {
	ID         int64      `gorm:"primaryKey" json:"id"`
	Name       string     `gorm:"not null" json:"name"`
	Hash       string     `gorm:"not null;uniqueIndex" json:"-"`
	Last4      string     `json:"last4"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}
