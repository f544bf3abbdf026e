package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// TokenPrefix marks linehub API tokens so they are recognisable in a
// secret scanner or a pasted log.
const TokenPrefix = "lhk_"

// CreateAPIToken makes a new token and returns it in clear; only its hash
// is stored, so this is the only time it can be shown.
func (s *Store) CreateAPIToken(ctx context.Context, name string) (string, *APIToken, error) {
	if name == "" {
		return "", nil, fmt.Errorf("token name is required")
	}
	plain := TokenPrefix + randomKey(32)
	t := &APIToken{Name: name, Hash: hashToken(plain), Last4: last4(plain), CreatedAt: now()}
	if err := s.w.WithContext(ctx).Create(t).Error; err != nil {
		return "", nil, fmt.Errorf("store api token: %w", err)
	}
	return plain, t, nil
}

// CheckAPIToken returns the live token matching plain, or ErrNotFound.
func (s *Store) CheckAPIToken(ctx context.Context, plain string) (*APIToken, error) {
	var t APIToken
	err := s.r.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL", hashToken(plain)).First(&t).Error
	if err != nil {
		return nil, notFound(err)
	}
	// Last-used time is informational: refreshing it at most once a minute
	// keeps API calls from turning into writes.
	if t.LastUsedAt == nil || time.Since(*t.LastUsedAt) > time.Minute {
		n := now()
		s.w.WithContext(ctx).Model(&APIToken{}).Where("id = ?", t.ID).Update("last_used_at", n)
		t.LastUsedAt = &n
	}
	return &t, nil
}

// APITokens lists tokens (never their values).
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	var ts []APIToken
	err := s.r.WithContext(ctx).Order("id").Find(&ts).Error
	return ts, err
}

// RevokeAPIToken disables a token.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64) error {
	res := s.w.WithContext(ctx).Model(&APIToken{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now())
	if res.Error != nil {
		return fmt.Errorf("revoke token %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

func hashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}
