package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Admin is the person who runs the dashboard. The password hash is a PHC
// string produced by the web package; the store never sees the password.
type Admin struct {
	ID           int64  `gorm:"primaryKey"`
	Email        string `gorm:"not null;uniqueIndex"`
	PasswordHash string `gorm:"not null"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is one signed-in browser. Only the SHA-256 of the cookie value
// is kept, so a copy of the database cannot be used to sign in.
type Session struct {
	Hash      string `gorm:"primaryKey"`
	AdminID   int64  `gorm:"not null;index"`
	CSRF      string `gorm:"not null"`
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"not null;index"`
}

// ConnectionIcon is the picture an admin uploaded for a connection.
type ConnectionIcon struct {
	ConnectionID int64  `gorm:"primaryKey;autoIncrement:false"`
	ContentType  string `gorm:"not null"`
	Data         []byte `gorm:"not null"`
	UpdatedAt    time.Time
}

// ErrAdminExists is returned when the first-run claim races a second one.
var ErrAdminExists = errors.New("an admin account already exists")

// HasAdmin tells whether the first-run claim is done.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var n int64
	if err := s.r.WithContext(ctx).Model(&Admin{}).Count(&n).Error; err != nil {
		return false, fmt.Errorf("count admins: %w", err)
	}
	return n > 0, nil
}

// CreateFirstAdmin creates the admin only while none exists, in one
// transaction, so two tabs holding the setup link cannot both claim it.
func (s *Store) CreateFirstAdmin(ctx context.Context, email, passwordHash string) (*Admin, error) {
	a := &Admin{Email: strings.ToLower(strings.TrimSpace(email)), PasswordHash: passwordHash}
	err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Admin{}).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrAdminExists
		}
		return tx.Create(a).Error
	})
	if err != nil {
		return nil, fmt.Errorf("create admin: %w", err)
	}
	return a, nil
}

// AdminByEmail finds an admin by (case-insensitive) email.
func (s *Store) AdminByEmail(ctx context.Context, email string) (*Admin, error) {
	var a Admin
	err := s.r.WithContext(ctx).Where("email = ?", strings.ToLower(strings.TrimSpace(email))).First(&a).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &a, nil
}

// Admin loads one admin by id.
func (s *Store) Admin(ctx context.Context, id int64) (*Admin, error) {
	var a Admin
	if err := s.r.WithContext(ctx).First(&a, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &a, nil
}

// SetAdminPassword replaces the hash and signs out every other session.
func (s *Store) SetAdminPassword(ctx context.Context, id int64, passwordHash, keepSession string) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&Admin{}).Where("id = ?", id).Updates(map[string]any{"password_hash": passwordHash, "updated_at": now()}).Error; err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return tx.Where("admin_id = ? AND hash <> ?", id, sessionHash(keepSession)).Delete(&Session{}).Error
	})
}

func sessionHash(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// CreateSession stores a new session for the cookie value plain.
func (s *Store) CreateSession(ctx context.Context, plain string, adminID int64, csrf string, ttl time.Duration) error {
	t := now()
	sess := &Session{Hash: sessionHash(plain), AdminID: adminID, CSRF: csrf, CreatedAt: t, ExpiresAt: t.Add(ttl)}
	if err := s.w.WithContext(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	// Expired rows are swept here rather than by a job: sign-ins are rare.
	return s.w.WithContext(ctx).Where("expires_at < ?", t).Delete(&Session{}).Error
}

// Session returns the live session for a cookie value.
func (s *Store) Session(ctx context.Context, plain string) (*Session, error) {
	var sess Session
	err := s.r.WithContext(ctx).Where("hash = ? AND expires_at > ?", sessionHash(plain), now()).First(&sess).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &sess, nil
}

// DeleteSession signs a browser out.
func (s *Store) DeleteSession(ctx context.Context, plain string) error {
	return s.w.WithContext(ctx).Where("hash = ?", sessionHash(plain)).Delete(&Session{}).Error
}

// SetConnectionIcon stores (or replaces) a connection's icon.
func (s *Store) SetConnectionIcon(ctx context.Context, connectionID int64, contentType string, data []byte) error {
	icon := &ConnectionIcon{ConnectionID: connectionID, ContentType: contentType, Data: data, UpdatedAt: now()}
	if err := s.w.WithContext(ctx).Save(icon).Error; err != nil {
		return fmt.Errorf("save icon: %w", err)
	}
	return nil
}

// ConnectionIcon loads a connection's icon.
func (s *Store) ConnectionIcon(ctx context.Context, connectionID int64) (*ConnectionIcon, error) {
	var icon ConnectionIcon
	if err := s.r.WithContext(ctx).First(&icon, "connection_id = ?", connectionID).Error; err != nil {
		return nil, notFound(err)
	}
	return &icon, nil
}
