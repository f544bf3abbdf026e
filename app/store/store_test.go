package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := Open(dir, Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestOpenCreatesKeyAndMigratesOnce(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir)
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, err := os.Stat(filepath.Join(dir, DBFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v %v, want mode 0600", fi.Mode().Perm(), err)
	}
	v, err := st.SchemaVersion(context.Background())
	if err != nil || v != migrations[len(migrations)-1].version {
		t.Fatalf("schema version %d, %v", v, err)
	}
	st.Close()
	// A second start must find the schema current and change nothing.
	st2 := openTest(t, dir)
	if v2, _ := st2.SchemaVersion(context.Background()); v2 != v {
		t.Fatalf("schema version after reopen %d, want %d", v2, v)
	}
}

func TestKeyFileTooOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir).Close()
	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("open with a world-readable key succeeded")
	}
}

func TestSecretsAreSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir)
	ctx := context.Background()
	const secret, token, hsToken = "channel-secret-PLAINTEXT-1234", "channel-token-PLAINTEXT-5678", "pat-na1-PLAINTEXT-9999"
	c := &Connection{Name: "Shop"}
	if err := st.CreateConnection(ctx, c, secret, token, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSecretSetting(ctx, "hubspot.token", hsToken); err != nil {
		t.Fatal(err)
	}
	got, err := st.Connection(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, tk, err := st.ConnectionSecrets(got)
	if err != nil || s != secret || tk != token {
		t.Fatalf("secrets round trip: %q %q %v", s, tk, err)
	}
	if got.SecretLast4 != "1234" || got.TokenLast4 != "5678" {
		t.Fatalf("last4 %q %q", got.SecretLast4, got.TokenLast4)
	}
	if v, err := st.SecretSetting(ctx, "hubspot.token"); err != nil || v != hsToken {
		t.Fatalf("secret setting %q %v", v, err)
	}
	st.Close()
	for _, name := range []string{DBFile, DBFile + "-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, plain := range []string{secret, token, hsToken} {
			if bytes.Contains(raw, []byte(plain)) {
				t.Fatalf("%s contains %q in clear", name, plain)
			}
		}
	}
}

func TestSealedValueIsBoundToItsPlace(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	a, b := &Connection{Name: "A"}, &Connection{Name: "B"}
	if err := st.CreateConnection(ctx, a, "secret-a-xxxx", "", 0); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateConnection(ctx, b, "secret-b-yyyy", "", 0); err != nil {
		t.Fatal(err)
	}
	// Copy A's sealed secret onto B: it must not open there.
	b.ChannelSecretSealed = a.ChannelSecretSealed
	if _, _, err := st.ConnectionSecrets(b); err == nil {
		t.Fatal("a sealed secret moved to another row still opened")
	}
}

func TestSerialsAreNeverReused(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	var serials []int
	for i := 0; i < 3; i++ {
		c := &Connection{Name: fmt.Sprint("c", i)}
		if err := st.CreateConnection(ctx, c, "", "", 0); err != nil {
			t.Fatal(err)
		}
		serials = append(serials, c.Serial)
	}
	if fmt.Sprint(serials) != "[1 2 3]" {
		t.Fatalf("serials %v", serials)
	}
	// Delete the newest: the next one must still be 4, not 3.
	conns, _ := st.Connections(ctx)
	if err := st.DeleteConnection(ctx, conns[2].ID); err != nil {
		t.Fatal(err)
	}
	c := &Connection{Name: "next"}
	if err := st.CreateConnection(ctx, c, "", "", 0); err != nil {
		t.Fatal(err)
	}
	if c.Serial != 4 {
		t.Fatalf("serial after delete %d, want 4", c.Serial)
	}
	if _, err := st.Connection(ctx, conns[2].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted connection still visible: %v", err)
	}
}

func TestConnectionLimit(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := st.CreateConnection(ctx, &Connection{Name: "c"}, "", "", 2); err != nil {
			t.Fatal(err)
		}
	}
	err := st.CreateConnection(ctx, &Connection{Name: "third"}, "", "", 2)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("third connection: %v, want ErrLimit", err)
	}
	// The refused attempt must not burn a serial.
	conns, _ := st.Connections(ctx)
	if err := st.DeleteConnection(ctx, conns[0].ID); err != nil {
		t.Fatal(err)
	}
	c := &Connection{Name: "after"}
	if err := st.CreateConnection(ctx, c, "", "", 2); err != nil || c.Serial != 3 {
		t.Fatalf("after delete: serial %d err %v", c.Serial, err)
	}
}

func inboxRows(conn int64, ids ...string) []InboxEvent {
	var rows []InboxEvent
	for i, id := range ids {
		rows = append(rows, InboxEvent{ConnectionID: conn, WebhookEventID: id, Type: "message", UserID: "U1",
			Timestamp: int64(1000 + i), Raw: `{}`, ReceivedAt: time.Now(), Pending: true})
	}
	return rows
}

func TestAppendInboxDedupes(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	n, err := st.AppendInbox(ctx, inboxRows(1, "a", "b", "c"))
	if err != nil || n != 3 {
		t.Fatalf("first append: %d %v", n, err)
	}
	n, err = st.AppendInbox(ctx, inboxRows(1, "b", "c", "d"))
	if err != nil || n != 1 {
		t.Fatalf("redelivery append: %d new, %v; want 1", n, err)
	}
	// The same event id on another connection is a different event.
	n, err = st.AppendInbox(ctx, inboxRows(2, "a"))
	if err != nil || n != 1 {
		t.Fatalf("other connection: %d %v", n, err)
	}
	stats, _ := st.InboxStats(ctx, 0)
	if stats.Total != 5 || stats.Pending != 5 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestAppendInboxConcurrentGroupCommit(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 10; r++ {
				var ids []string
				for e := 0; e < 50; e++ {
					ids = append(ids, fmt.Sprintf("g%d-r%d-e%d", g, r, e))
				}
				if _, err := st.AppendInbox(ctx, inboxRows(1, ids...)); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stats, _ := st.InboxStats(ctx, 1)
	if stats.Total != 16*10*50 {
		t.Fatalf("stored %d, want %d", stats.Total, 16*10*50)
	}
	pend, err := st.PendingInbox(ctx, 100)
	if err != nil || len(pend) != 100 {
		t.Fatalf("pending: %d %v", len(pend), err)
	}
	for i := 1; i < len(pend); i++ {
		if pend[i].Timestamp < pend[i-1].Timestamp {
			t.Fatal("pending inbox not in timestamp order")
		}
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	st := openTest(t, t.TempDir())
	st.Close()
	if _, err := st.AppendInbox(context.Background(), inboxRows(1, "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	plain, tok, err := st.CreateAPIToken(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) < 40 || tok.Hash == plain {
		t.Fatalf("token %q stored as %q", plain, tok.Hash)
	}
	if _, err := st.CheckAPIToken(ctx, plain); err != nil {
		t.Fatalf("check: %v", err)
	}
	if _, err := st.CheckAPIToken(ctx, plain+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong token: %v", err)
	}
	if err := st.RevokeAPIToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CheckAPIToken(ctx, plain); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token accepted: %v", err)
	}
}

func TestSyncResultKeepsNewerChanges(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	f, err := st.UpdateFriend(ctx, 1, "U1", func(f *Friend) error { f.Dirty = 3; f.MayCreate = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	seenVersion := f.Version
	// The friend changes again while its sync is in flight.
	if _, err := st.UpdateFriend(ctx, 1, "U1", func(f *Friend) error { f.Dirty |= 4; return nil }); err != nil {
		t.Fatal(err)
	}
	err = st.SaveSyncResults(ctx, []SyncResult{{FriendID: f.ID, Version: seenVersion, ContactID: "101", Synced: true, Written: `{}`}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := st.Friend(ctx, 1, "U1")
	if got.ContactID != "101" || got.Dirty == 0 || !got.MayCreate {
		t.Fatalf("a newer change was lost: %+v", got)
	}
	err = st.SaveSyncResults(ctx, []SyncResult{{FriendID: f.ID, Version: got.Version, ContactID: "101", Synced: true, Written: `{}`}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = st.Friend(ctx, 1, "U1")
	if got.Dirty != 0 || got.MayCreate {
		t.Fatalf("sync with current version did not clear: %+v", got)
	}
}

// TestUpgradeKeepsData opens a database made by an older linehub (schema
// v1 only) with the current one: later migrations apply, data stays.
func TestUpgradeKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	all := migrations
	migrations = all[:1]
	old, err := Open(dir, Options{Synchronous: "NORMAL"})
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	c := &Connection{Name: "before upgrade"}
	if err := old.CreateConnection(ctx, c, "secret-kept-1234", "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := old.AppendInbox(ctx, inboxRows(c.ID, "ev1")); err != nil {
		t.Fatal(err)
	}
	old.Close()

	st := openTest(t, dir)
	// Versions may have gaps while issues are merged; the last one counts.
	if v, _ := st.SchemaVersion(ctx); v != all[len(all)-1].version {
		t.Fatalf("schema version after upgrade %d, want %d", v, all[len(all)-1].version)
	}
	var n int64
	st.r.Raw("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'idx_inbox_pending'").Scan(&n)
	if n != 0 {
		t.Fatal("migration 2 did not drop idx_inbox_pending")
	}
	got, err := st.Connection(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if secret, _, err := st.ConnectionSecrets(got); err != nil || secret != "secret-kept-1234" {
		t.Fatalf("secret after upgrade %q %v", secret, err)
	}
	if stats, _ := st.InboxStats(ctx, c.ID); stats.Total != 1 || stats.Pending != 1 {
		t.Fatalf("inbox after upgrade %+v", stats)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir).Close()
	all := migrations
	migrations = all[:1]
	defer func() { migrations = all }()
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer schema with an older linehub: %v", err)
	}
}

// TestOpenTightensModes: a data directory left 0755 with a database and
// lock 0644 (a copy made by hand, an old install) is made 0700/0600 at
// start, with a warning naming each path and its mode. (A key others can
// read is refused instead: TestKeyFileTooOpenIsRefused.)
func TestOpenTightensModes(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir).Close()
	if err := os.WriteFile(filepath.Join(dir, LockFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	loose := map[string]os.FileMode{dir: 0o755, filepath.Join(dir, DBFile): 0o644, filepath.Join(dir, LockFile): 0o644}
	for p, m := range loose {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	st, err := Open(dir, Options{Synchronous: "NORMAL", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open with loose modes: %v", err)
	}
	st.Close()
	for p, m := range loose {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s still has mode %v", p, fi.Mode().Perm())
		}
		if want := fmt.Sprintf("level=WARN msg=\"data file was open to other local users: mode fixed\" path=%s mode=%v", p, m); !strings.Contains(logs.String(), want) {
			t.Errorf("no warning %q in:\n%s", want, logs.String())
		}
	}

	// Modes already private: nothing to say.
	logs.Reset()
	st, err = Open(dir, Options{Synchronous: "NORMAL", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if strings.Contains(logs.String(), "other local users") {
		t.Errorf("warned about private files:\n%s", logs.String())
	}
}
