package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// HookKey authenticates HubSpot workflow calls for one connection: the
// API key (only its SHA-256 is kept) and, optionally, the HubSpot app
// secret that signs requests (X-HubSpot-Signature-v3), sealed.
type HookKey struct {
	ConnectionID        int64 `gorm:"primaryKey;autoIncrement:false"`
	KeyHash             string
	Last4               string
	SigningSecretSealed string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// HookKeyPrefix marks workflow keys so a secret scanner recognises them.
const HookKeyPrefix = "lhw_"

func hookAD(connID int64) string { return connAD(connID, "hook-signing-secret") }

// RotateHookKey issues a new workflow API key for a connection and returns
// it in clear: this is the only time it can be shown.
func (s *Store) RotateHookKey(ctx context.Context, connID int64) (string, error) {
	plain := HookKeyPrefix + randomKey(32)
	sum := sha256.Sum256([]byte(plain))
	row := HookKey{ConnectionID: connID, KeyHash: hex.EncodeToString(sum[:]), Last4: last4(plain), CreatedAt: now(), UpdatedAt: now()}
	err := s.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "connection_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"key_hash", "last4", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return "", fmt.Errorf("store workflow key: %w", err)
	}
	return plain, nil
}

// HookKeyInfo returns a connection's workflow key row (ErrNotFound if none).
func (s *Store) HookKeyInfo(ctx context.Context, connID int64) (*HookKey, error) {
	var k HookKey
	if err := s.r.WithContext(ctx).Where("connection_id = ?", connID).First(&k).Error; err != nil {
		return nil, notFound(err)
	}
	return &k, nil
}

// CheckHookKey reports whether plain is the connection's workflow key.
func (s *Store) CheckHookKey(ctx context.Context, connID int64, plain string) (bool, error) {
	k, err := s.HookKeyInfo(ctx, connID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256([]byte(plain))
	got := hex.EncodeToString(sum[:])
	return k.KeyHash != "" && subtle.ConstantTimeCompare([]byte(got), []byte(k.KeyHash)) == 1, nil
}

// SetHookSigningSecret stores (or, with "", clears) the HubSpot app secret
// that signs workflow requests for a connection.
func (s *Store) SetHookSigningSecret(ctx context.Context, connID int64, secret string) error {
	sealed, err := s.sealer.Seal(secret, hookAD(connID))
	if err != nil {
		return err
	}
	row := HookKey{ConnectionID: connID, SigningSecretSealed: sealed, CreatedAt: now(), UpdatedAt: now()}
	err = s.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "connection_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"signing_secret_sealed", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("store workflow signing secret: %w", err)
	}
	return nil
}

// HookSigningSecret returns the connection's HubSpot signing secret ("" if
// none is configured).
func (s *Store) HookSigningSecret(k *HookKey) (string, error) {
	if k == nil {
		return "", nil
	}
	return s.sealer.Open(k.SigningSecretSealed, hookAD(k.ConnectionID))
}
