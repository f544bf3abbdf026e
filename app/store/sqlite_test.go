package store

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"
)

// TestUniqueViolationsAreTranslated: gorm's SQLite dialector turns the
// driver's unique and primary key violations into gorm.ErrDuplicatedKey,
// which is what isUnique (and so ErrDuplicate) relies on instead of the
// error's text. Other constraint failures stay what they are.
func TestUniqueViolationsAreTranslated(t *testing.T) {
	st, ctx := openTest(t, t.TempDir()), context.Background()

	// A unique index (SQLITE_CONSTRAINT_UNIQUE).
	if err := st.w.Create(&Admin{Email: "a@example.com", PasswordHash: "x"}).Error; err != nil {
		t.Fatal(err)
	}
	err := st.w.Create(&Admin{Email: "a@example.com", PasswordHash: "y"}).Error
	if !errors.Is(err, gorm.ErrDuplicatedKey) || !isUnique(err) {
		t.Fatalf("second admin with the same email: %v, want gorm.ErrDuplicatedKey", err)
	}
	// A primary key (SQLITE_CONSTRAINT_PRIMARYKEY).
	if err := st.w.Create(&Setting{Key: "k", Value: "1"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.w.Create(&Setting{Key: "k", Value: "2"}).Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
		t.Fatalf("second setting with the same key: %v, want gorm.ErrDuplicatedKey", err)
	}
	// NOT NULL is no duplicate.
	if err := st.w.Exec("INSERT INTO admins (email, password_hash) VALUES ('b@example.com', NULL)").Error; err == nil || isUnique(err) {
		t.Fatalf("NOT NULL violation: %v, want an error isUnique rejects", err)
	}

	// What callers see: ErrDuplicate, on create and on rename.
	a := &MessageTemplate{Name: "welcome", Messages: "[]"}
	b := &MessageTemplate{Name: "bye", Messages: "[]"}
	for _, tpl := range []*MessageTemplate{a, b} {
		if err := st.SaveTemplate(ctx, tpl); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveTemplate(ctx, &MessageTemplate{Name: "welcome", Messages: "[]"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("new template with a taken name: %v, want ErrDuplicate", err)
	}
	b.Name = "welcome"
	if err := st.SaveTemplate(ctx, b); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("template renamed to a taken name: %v, want ErrDuplicate", err)
	}
}
