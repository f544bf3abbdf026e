package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIsFull fills a real database up to a page limit SQLite enforces
// (max_page_count), which fails writes with the same SQLITE_FULL a full
// disk gives, and checks that IsFull recognises it through the store's own
// error wrapping, and that the rejected write left nothing behind.
func TestIsFull(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.w.Exec("PRAGMA max_page_count = 1").Error; err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.w.Raw("PRAGMA page_count").Scan(&pages).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)).Error; err != nil {
		t.Fatal(err)
	}
	row := InboxEvent{ConnectionID: 1, WebhookEventID: "ev-1", Type: "follow", UserID: "U1", Timestamp: 1,
		Raw: strings.Repeat("x", 64<<10), ReceivedAt: time.Now().UTC(), Pending: true}
	_, err = s.AppendInbox(ctx, []InboxEvent{row})
	if err == nil || !IsFull(err) {
		t.Fatalf("append past the page limit: %v, want an error IsFull recognises", err)
	}
	st, err := s.InboxStats(ctx, 0)
	if err != nil || st.Total != 0 {
		t.Fatalf("a refused append stored %d rows (%v)", st.Total, err)
	}

	for _, e := range []error{nil, errors.New("database is locked"), ErrNotFound} {
		if IsFull(e) {
			t.Errorf("IsFull(%v) = true", e)
		}
	}
	if !IsFull(fmt.Errorf("write key: %w", syscall.ENOSPC)) {
		t.Error("IsFull misses a wrapped ENOSPC")
	}
}
