package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFirstAdminOnlyOnce(t *testing.T) {
	st, ctx := openTest(t, t.TempDir()), context.Background()
	if has, _ := st.HasAdmin(ctx); has {
		t.Fatal("fresh store has an admin")
	}
	if _, err := st.CreateFirstAdmin(ctx, " Owner@Example.com ", "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateFirstAdmin(ctx, "other@example.com", "h2"); !errors.Is(err, ErrAdminExists) {
		t.Fatalf("second claim: %v", err)
	}
	a, err := st.AdminByEmail(ctx, "OWNER@example.com")
	if err != nil || a.PasswordHash != "h1" {
		t.Fatalf("lookup: %v %+v", err, a)
	}
}

func TestSessionsStoredHashed(t *testing.T) {
	st, ctx := openTest(t, t.TempDir()), context.Background()
	a, _ := st.CreateFirstAdmin(ctx, "a@example.com", "h")
	if err := st.CreateSession(ctx, "cookie-value", a.ID, "csrf", time.Hour); err != nil {
		t.Fatal(err)
	}
	var raw Session
	if err := st.r.First(&raw).Error; err != nil || raw.Hash == "cookie-value" {
		t.Fatalf("session row keeps the cookie value: %+v %v", raw, err)
	}
	if s, err := st.Session(ctx, "cookie-value"); err != nil || s.AdminID != a.ID {
		t.Fatalf("session lookup: %v", err)
	}
	if err := st.CreateSession(ctx, "other", a.ID, "c2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAdminPassword(ctx, a.ID, "h2", "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "cookie-value"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old session survived a password change: %v", err)
	}
	if _, err := st.Session(ctx, "other"); err != nil {
		t.Errorf("current session ended by its own password change: %v", err)
	}
	if err := st.CreateSession(ctx, "expired", a.ID, "c3", -time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "expired"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired session accepted: %v", err)
	}
}

func TestEventsPerDayAndSearch(t *testing.T) {
	st, ctx := openTest(t, t.TempDir()), context.Background()
	c := &Connection{Name: "A"}
	if err := st.CreateConnection(ctx, c, "", "", 5); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rows := []InboxEvent{
		{ConnectionID: c.ID, WebhookEventID: "1", Type: "follow", Timestamp: day.UnixMilli(), Raw: "{}"},
		{ConnectionID: c.ID, WebhookEventID: "2", Type: "follow", Timestamp: day.Add(time.Hour).UnixMilli(), Raw: "{}"},
		{ConnectionID: c.ID, WebhookEventID: "3", Type: "message", Timestamp: day.AddDate(0, 0, 1).UnixMilli(), Raw: "{}"},
		{ConnectionID: c.ID, WebhookEventID: "4", Type: "follow", Timestamp: day.AddDate(0, 0, -40).UnixMilli(), Raw: "{}"},
	}
	if _, err := st.AppendInbox(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := st.EventsPerDay(ctx, 0, day.AddDate(0, 0, -29))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"2026-11-20 follow": 2, "2026-11-21 message": 1}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for _, d := range got {
		if want[d.Day+" "+d.Type] != d.Count {
			t.Errorf("%+v", d)
		}
	}
	err = st.Apply(ctx, func(tx *ApplyTx) error {
		return tx.SaveFriends([]*Friend{{ConnectionID: c.ID, UserID: "U1", DisplayName: "Taro 100%"}, {ConnectionID: c.ID, UserID: "U2", DisplayName: "Hanako"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	for q, n := range map[string]int{"": 2, "taro": 1, "100%": 1, "%": 1, "u2": 1, "_": 0} {
		fs, _, err := st.SearchFriends(ctx, c.ID, q, 0, 10)
		if err != nil || len(fs) != n {
			t.Errorf("search %q: %d friends, %v; want %d", q, len(fs), err, n)
		}
	}
	fs, more, _ := st.SearchFriends(ctx, c.ID, "", 0, 1)
	if len(fs) != 1 || !more {
		t.Errorf("paging: %d %v", len(fs), more)
	}
}
