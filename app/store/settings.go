package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Setting returns a value, "" when unset.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	return settingTx(s.r.WithContext(ctx), key)
}

// SetSetting stores a value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	return setSettingTx(s.w.WithContext(ctx), key, value)
}

// SecretSetting returns a sealed value decrypted.
func (s *Store) SecretSetting(ctx context.Context, key string) (string, error) {
	v, err := s.Setting(ctx, key)
	if err != nil {
		return "", err
	}
	plain, err := s.sealer.Open(v, "setting/"+key)
	if err != nil {
		return "", fmt.Errorf("setting %s: %w", key, err)
	}
	return plain, nil
}

// SetSecretSetting seals and stores a value.
func (s *Store) SetSecretSetting(ctx context.Context, key, value string) error {
	sealed, err := s.sealer.Seal(value, "setting/"+key)
	if err != nil {
		return err
	}
	return s.SetSetting(ctx, key, sealed)
}

// SetSettings stores several values in one transaction; keys listed in
// secret are sealed.
func (s *Store) SetSettings(ctx context.Context, values map[string]string, secret map[string]bool) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for k, v := range values {
			if secret[k] {
				sealed, err := s.sealer.Seal(v, "setting/"+k)
				if err != nil {
					return err
				}
				v = sealed
			}
			if err := setSettingTx(tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

func settingTx(db *gorm.DB, key string) (string, error) {
	var st Setting
	err := db.Where("key = ?", key).First(&st).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read setting %s: %w", key, err)
	}
	return st.Value, nil
}

func setSettingTx(db *gorm.DB, key, value string) error {
	err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"value"})}).
		Create(&Setting{Key: key, Value: value}).Error
	if err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}
