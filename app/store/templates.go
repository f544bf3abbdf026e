package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MessageTemplate is a saved message: LINE message objects (JSON array)
// whose strings may hold {{property}} placeholders.
type MessageTemplate struct {
	ID        int64     `gorm:"primaryKey" json:"id"`
	Name      string    `gorm:"not null;uniqueIndex" json:"name"`
	Messages  string    `gorm:"not null" json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrDuplicate is returned when a unique name is taken.
var ErrDuplicate = errors.New("already exists")

// SaveTemplate creates (ID 0) or updates a template.
func (s *Store) SaveTemplate(ctx context.Context, t *MessageTemplate) error {
	t.UpdatedAt = now()
	db := s.w.WithContext(ctx)
	var err error
	if t.ID == 0 {
		t.CreatedAt = t.UpdatedAt
		err = db.Create(t).Error
	} else {
		res := db.Model(&MessageTemplate{}).Where("id = ?", t.ID).
			Updates(map[string]any{"name": t.Name, "messages": t.Messages, "updated_at": t.UpdatedAt})
		err = res.Error
		if err == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
	}
	if isUnique(err) {
		return fmt.Errorf("template %q: %w", t.Name, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("save template: %w", err)
	}
	return nil
}

// Template returns a template by id.
func (s *Store) Template(ctx context.Context, id int64) (*MessageTemplate, error) {
	var t MessageTemplate
	if err := s.r.WithContext(ctx).First(&t, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// TemplateByName returns a template by its (unique) name.
func (s *Store) TemplateByName(ctx context.Context, name string) (*MessageTemplate, error) {
	var t MessageTemplate
	if err := s.r.WithContext(ctx).Where("name = ?", name).First(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// Templates lists templates by name.
func (s *Store) Templates(ctx context.Context) ([]MessageTemplate, error) {
	var ts []MessageTemplate
	err := s.r.WithContext(ctx).Order("name").Find(&ts).Error
	return ts, err
}

// DeleteTemplate removes a template.
func (s *Store) DeleteTemplate(ctx context.Context, id int64) error {
	res := s.w.WithContext(ctx).Delete(&MessageTemplate{}, id)
	if res.Error != nil {
		return fmt.Errorf("delete template: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
