package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LineLogin is a connection's LINE Login channel, used by the public link
// pages. The channel must be in the same LINE provider as the connection's
// Messaging API channel: LINE user ids are per provider.
type LineLogin struct {
	ConnectionID int64 `gorm:"primaryKey;autoIncrement:false"`
	ChannelID    string
	// SecretSealed is the channel secret, sealed like the connection's;
	// read it through LineLoginSecret.
	SecretSealed string
	SecretLast4  string
	// WithEmail asks for the email scope (the channel needs LINE's email
	// address permission).
	WithEmail bool `gorm:"not null;default:false"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

func lineLoginAD(connID int64) string { return connAD(connID, "line-login-secret") }

// migrateLineLogin is the schema step of the LINE Login settings.
func migrateLineLogin(tx *gorm.DB) error {
	type lineLogin struct {
		ConnectionID int64 `gorm:"primaryKey;autoIncrement:false"`
		ChannelID    string
		SecretSealed string
		SecretLast4  string
		WithEmail    bool `gorm:"not null;default:false"`
		CreatedAt    time.Time
		UpdatedAt    time.Time
	}
	if err := tx.Migrator().CreateTable(&lineLogin{}); err != nil {
		return fmt.Errorf("create table line_logins: %w", err)
	}
	return nil
}

// LineLoginUpdate changes a connection's LINE Login settings; a nil
// Secret keeps the saved one.
type LineLoginUpdate struct {
	ChannelID string
	Secret    *string
	WithEmail bool
}

// SetLineLogin stores a connection's LINE Login channel.
func (s *Store) SetLineLogin(ctx context.Context, connID int64, u LineLoginUpdate) error {
	row := LineLogin{ConnectionID: connID, ChannelID: u.ChannelID, WithEmail: u.WithEmail, CreatedAt: now(), UpdatedAt: now()}
	cols := []string{"channel_id", "with_email", "updated_at"}
	if u.Secret != nil {
		sealed, err := s.sealer.Seal(*u.Secret, lineLoginAD(connID))
		if err != nil {
			return err
		}
		row.SecretSealed, row.SecretLast4 = sealed, last4(*u.Secret)
		cols = append(cols, "secret_sealed", "secret_last4")
	}
	err := s.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "connection_id"}},
		DoUpdates: clause.AssignmentColumns(cols),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("store LINE Login settings of connection %d: %w", connID, err)
	}
	return nil
}

// LineLoginOf returns a connection's LINE Login settings (ErrNotFound if
// none were saved).
func (s *Store) LineLoginOf(ctx context.Context, connID int64) (*LineLogin, error) {
	var l LineLogin
	if err := s.r.WithContext(ctx).Where("connection_id = ?", connID).First(&l).Error; err != nil {
		return nil, notFound(err)
	}
	return &l, nil
}

// LineLoginSecret opens the sealed channel secret ("" when none is saved).
func (s *Store) LineLoginSecret(l *LineLogin) (string, error) {
	if l == nil || l.SecretSealed == "" {
		return "", nil
	}
	plain, err := s.sealer.Open(l.SecretSealed, lineLoginAD(l.ConnectionID))
	if err != nil {
		return "", fmt.Errorf("connection %d LINE Login secret: %w", l.ConnectionID, err)
	}
	return plain, nil
}

// DeleteLineLogin removes a connection's LINE Login settings.
func (s *Store) DeleteLineLogin(ctx context.Context, connID int64) error {
	err := s.w.WithContext(ctx).Where("connection_id = ?", connID).Delete(&LineLogin{}).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("delete LINE Login settings of connection %d: %w", connID, err)
	}
	return nil
}
