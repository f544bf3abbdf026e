package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestLineLoginSealedAndKeptAcrossUpdates(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, t.TempDir())
	c := &Connection{Name: "shop"}
	if err := st.CreateConnection(ctx, c, "s", "t", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LineLoginOf(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before saving: %v, want ErrNotFound", err)
	}
	secret := "0123456789abcdef0123456789abcdef"
	if err := st.SetLineLogin(ctx, c.ID, LineLoginUpdate{ChannelID: "1657000001", Secret: &secret}); err != nil {
		t.Fatal(err)
	}
	l, err := st.LineLoginOf(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.SecretSealed, secret) || l.SecretLast4 != "cdef" {
		t.Fatalf("secret not sealed: %+v", l)
	}
	// A later save without a secret keeps it and changes the rest.
	if err := st.SetLineLogin(ctx, c.ID, LineLoginUpdate{ChannelID: "1657000002", WithEmail: true}); err != nil {
		t.Fatal(err)
	}
	l, _ = st.LineLoginOf(ctx, c.ID)
	if got, err := st.LineLoginSecret(l); err != nil || got != secret || l.ChannelID != "1657000002" || !l.WithEmail {
		t.Fatalf("after update: %+v secret %q %v", l, got, err)
	}
	// A sealed secret belongs to its connection: moved to another it does not open.
	l.ConnectionID++
	if _, err := st.LineLoginSecret(l); err == nil {
		t.Fatal("secret opened for another connection")
	}
	if err := st.DeleteConnection(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LineLoginOf(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after deleting the connection: %v, want ErrNotFound", err)
	}
}
