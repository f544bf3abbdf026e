package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// ErrLimit is returned when creating a connection would exceed the limit.
var ErrLimit = errors.New("connection limit reached")

// CreateConnection stores a new connection with the next serial number,
// unless maxActive connections exist already. The serial counter lives in
// settings and only ever grows, so a deleted connection's number is never
// issued again, even if its row were removed by hand.
func (s *Store) CreateConnection(ctx context.Context, c *Connection, secret, token string, maxActive int) error {
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var active int64
		if err := tx.Model(&Connection{}).Where("deleted_at IS NULL").Count(&active).Error; err != nil {
			return fmt.Errorf("count connections: %w", err)
		}
		if maxActive > 0 && int(active) >= maxActive {
			return fmt.Errorf("%w: %d of %d in use", ErrLimit, active, maxActive)
		}
		var maxSerial int
		if err := tx.Model(&Connection{}).Select("COALESCE(MAX(serial), 0)").Scan(&maxSerial).Error; err != nil {
			return fmt.Errorf("read serials: %w", err)
		}
		last, err := settingTx(tx, "connection.last_serial")
		if err != nil {
			return err
		}
		if n, _ := strconv.Atoi(last); n > maxSerial {
			maxSerial = n
		}
		c.Serial = maxSerial + 1
		if c.Key == "" {
			c.Key = randomKey(24)
		}
		c.CreatedAt, c.UpdatedAt = now(), now()
		if err := tx.Create(c).Error; err != nil {
			return fmt.Errorf("insert connection: %w", err)
		}
		if err := setSettingTx(tx, "connection.last_serial", strconv.Itoa(c.Serial)); err != nil {
			return err
		}
		return s.sealConnectionSecrets(tx, c, &secret, &token)
	})
}

// sealConnectionSecrets stores the secrets given as non-nil pointers.
func (s *Store) sealConnectionSecrets(tx *gorm.DB, c *Connection, secret, token *string) error {
	updates := map[string]any{}
	if secret != nil {
		sealed, err := s.sealer.Seal(*secret, connAD(c.ID, "secret"))
		if err != nil {
			return err
		}
		c.ChannelSecretSealed, c.SecretLast4 = sealed, last4(*secret)
		updates["channel_secret_sealed"], updates["secret_last4"] = sealed, c.SecretLast4
	}
	if token != nil {
		sealed, err := s.sealer.Seal(*token, connAD(c.ID, "token"))
		if err != nil {
			return err
		}
		c.ChannelTokenSealed, c.TokenLast4 = sealed, last4(*token)
		updates["channel_token_sealed"], updates["token_last4"] = sealed, c.TokenLast4
	}
	if len(updates) == 0 {
		return nil
	}
	if err := tx.Model(&Connection{}).Where("id = ?", c.ID).Updates(updates).Error; err != nil {
		return fmt.Errorf("store connection secrets: %w", err)
	}
	return nil
}

func connAD(id int64, what string) string {
	return "connection/" + strconv.FormatInt(id, 10) + "/" + what
}

func last4(s string) string {
	if len(s) <= 4 {
		return ""
	}
	return s[len(s)-4:]
}

func randomKey(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ConnectionSecrets returns the decrypted channel secret and access token.
func (s *Store) ConnectionSecrets(c *Connection) (secret, token string, err error) {
	if secret, err = s.sealer.Open(c.ChannelSecretSealed, connAD(c.ID, "secret")); err != nil {
		return "", "", fmt.Errorf("connection %d channel secret: %w", c.ID, err)
	}
	if token, err = s.sealer.Open(c.ChannelTokenSealed, connAD(c.ID, "token")); err != nil {
		return "", "", fmt.Errorf("connection %d channel access token: %w", c.ID, err)
	}
	return secret, token, nil
}

// ConnectionUpdate holds the fields to change; nil means unchanged.
type ConnectionUpdate struct {
	Name, Description  *string
	ChannelSecret      *string
	ChannelToken       *string
	BotUserID, BotName *string
	BotPictureURL      *string
	PropertiesReady    *bool
	LastError          *string
}

// UpdateConnection applies u to connection id and returns the new row.
func (s *Store) UpdateConnection(ctx context.Context, id int64, u ConnectionUpdate) (*Connection, error) {
	var out *Connection
	err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var c Connection
		if err := tx.Where("id = ? AND deleted_at IS NULL", id).First(&c).Error; err != nil {
			return notFound(err)
		}
		m := map[string]any{"updated_at": now()}
		set := func(col string, v *string) {
			if v != nil {
				m[col] = *v
			}
		}
		set("name", u.Name)
		set("description", u.Description)
		set("bot_user_id", u.BotUserID)
		set("bot_name", u.BotName)
		set("bot_picture_url", u.BotPictureURL)
		if u.PropertiesReady != nil {
			m["properties_ready"] = *u.PropertiesReady
		}
		if u.LastError != nil {
			m["last_error"] = *u.LastError
			if *u.LastError == "" {
				m["last_error_at"] = nil
			} else {
				m["last_error_at"] = now()
			}
		}
		if err := tx.Model(&Connection{}).Where("id = ?", id).Updates(m).Error; err != nil {
			return fmt.Errorf("update connection %d: %w", id, err)
		}
		if err := s.sealConnectionSecrets(tx, &c, u.ChannelSecret, u.ChannelToken); err != nil {
			return err
		}
		if err := tx.Where("id = ?", id).First(&c).Error; err != nil {
			return err
		}
		out = &c
		return nil
	})
	return out, err
}

// Connection returns an active connection.
func (s *Store) Connection(ctx context.Context, id int64) (*Connection, error) {
	var c Connection
	if err := s.r.WithContext(ctx).Where("id = ? AND deleted_at IS NULL", id).First(&c).Error; err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// ConnectionByKey returns the active connection with that webhook key.
func (s *Store) ConnectionByKey(ctx context.Context, key string) (*Connection, error) {
	var c Connection
	if err := s.r.WithContext(ctx).Where("key = ? AND deleted_at IS NULL", key).First(&c).Error; err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// Connections lists active connections by serial.
func (s *Store) Connections(ctx context.Context) ([]Connection, error) {
	var cs []Connection
	if err := s.r.WithContext(ctx).Where("deleted_at IS NULL").Order("serial").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return cs, nil
}

// DeleteConnection soft-deletes a connection: its webhook stops answering
// and its serial stays taken. Its secrets (LINE Login's too) are wiped.
func (s *Store) DeleteConnection(ctx context.Context, id int64) error {
	res := s.w.WithContext(ctx).Model(&Connection{}).Where("id = ? AND deleted_at IS NULL", id).
		Updates(map[string]any{"deleted_at": now(), "channel_secret_sealed": "", "channel_token_sealed": ""})
	if res.Error != nil {
		return fmt.Errorf("delete connection %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	// Its LINE Login secret goes with the others.
	return s.DeleteLineLogin(ctx, id)
}

// LastEventAt is when the connection's newest stored event arrived.
func (s *Store) LastEventAt(ctx context.Context, connectionID int64) (*time.Time, error) {
	var ev InboxEvent
	err := s.r.WithContext(ctx).Where("connection_id = ?", connectionID).Order("id DESC").Limit(1).Find(&ev).Error
	if err != nil || ev.ID == 0 {
		return nil, err
	}
	return &ev.ReceivedAt, nil
}
