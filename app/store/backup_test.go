package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBackupWhileWritingRestores backs up a database that is taking inbox
// writes, restores the copy elsewhere and finds a consistent snapshot: a
// prefix of the writes, sealed secrets readable with the restored key.
func TestBackupWhileWritingRestores(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	st := openTest(t, src)
	c := &Connection{Name: "Shop"}
	if err := st.CreateConnection(ctx, c, "secret-0123456789", "token-abcdef", 0); err != nil {
		t.Fatal(err)
	}

	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := st.AppendInbox(ctx, inboxRows(c.ID, fmt.Sprintf("w%d", i))); err != nil {
				t.Errorf("append during backup: %v", err)
				return
			}
			written.Add(1)
		}
	}()
	for written.Load() < 50 {
		// let the writer get going
	}
	file := filepath.Join(t.TempDir(), "linehub-backup.db")
	info, err := Backup(ctx, src, file)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode: %v %v", fi.Mode().Perm(), err)
	}
	if info.SchemaVersion != len(migrations) {
		t.Errorf("schema version %d", info.SchemaVersion)
	}
	if _, err := VerifyBackup(ctx, file); err != nil {
		t.Fatalf("verify: %v", err)
	}

	dst := t.TempDir()
	res, err := Restore(ctx, dst, file)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if len(res.Aside) != 0 {
		t.Errorf("restore into an empty dir set aside %v", res.Aside)
	}
	got := openTest(t, dst)
	conn, err := got.Connection(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s, tk, err := got.ConnectionSecrets(conn); err != nil || s != "secret-0123456789" || tk != "token-abcdef" {
		t.Fatalf("secrets after restore: %q %q %v", s, tk, err)
	}
	stats, _ := got.InboxStats(ctx, 0)
	if stats.Total < 50 || stats.Total > written.Load() {
		t.Errorf("restored inbox holds %d events; %d were written, at least 50 before the backup", stats.Total, written.Load())
	}
	// A snapshot holds a prefix: events w0..w(n-1), no gaps.
	rows, _ := got.PendingInbox(ctx, int(stats.Total)+1)
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.WebhookEventID] = true
	}
	for i := range int(stats.Total) {
		if !seen[fmt.Sprintf("w%d", i)] {
			t.Fatalf("restored inbox lacks w%d of %d: not a consistent snapshot", i, stats.Total)
		}
	}
	var tables int
	got.r.Raw("SELECT count(*) FROM sqlite_master WHERE name = ?", backupTable).Scan(&tables)
	if tables != 0 {
		t.Error("restored database still holds the backup metadata table")
	}
}

func TestRestoreSetsAsideAndRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openTest(t, dir)
	a := &Connection{Name: "Before"}
	if err := st.CreateConnection(ctx, a, "secret-a-0123456789", "", 0); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, dir, file); err != nil {
		t.Fatal(err)
	}
	b := &Connection{Name: "After"}
	if err := st.CreateConnection(ctx, b, "secret-b-0123456789", "", 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	keyBefore, _ := os.ReadFile(filepath.Join(dir, KeyFile))

	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database at all, just text"), 0o600)
	truncated := filepath.Join(t.TempDir(), "truncated.db")
	raw, _ := os.ReadFile(file)
	os.WriteFile(truncated, raw[:len(raw)/2], 0o600)
	plain := filepath.Join(t.TempDir(), "plain.db")
	copyFile(filepath.Join(dir, DBFile), plain, 0o600) // a database, not a backup (and WAL may hold its rows)
	for name, bad := range map[string]string{"missing": filepath.Join(dir, "nope.db"), "junk": junk, "truncated": truncated, "plain database": plain} {
		before := listDir(t, dir)
		if _, err := Restore(ctx, dir, bad); err == nil {
			t.Errorf("%s: restore accepted %s", name, bad)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if after := listDir(t, dir); after != before {
			t.Errorf("%s: failed restore changed the data dir:\n%s\nwas\n%s", name, after, before)
		}
	}

	res, err := Restore(ctx, dir, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Aside) < 2 {
		t.Fatalf("set aside %v, want the database and the key at least", res.Aside)
	}
	for _, p := range res.Aside {
		if !strings.Contains(p, ".before-restore-") {
			t.Errorf("aside name %s", p)
		}
	}
	st2 := openTest(t, dir)
	conns, _ := st2.Connections(ctx)
	if len(conns) != 1 || conns[0].Name != "Before" {
		t.Fatalf("after restore: %+v", conns)
	}
	// The old database, opened with the old key, still has both.
	old := t.TempDir()
	for _, p := range res.Aside {
		base := filepath.Base(p)
		i := strings.Index(base, ".before-restore-")
		name := base[:i]
		if rest := base[i+len(".before-restore-"):]; strings.Contains(rest, "-") {
			name += rest[strings.Index(rest, "-"):]
		}
		if err := os.Rename(p, filepath.Join(old, name)); err != nil {
			t.Fatal(err)
		}
	}
	if k, _ := os.ReadFile(filepath.Join(old, KeyFile)); string(k) != string(keyBefore) {
		t.Fatal("old key not kept")
	}
	prev := openTest(t, old)
	if conns, _ := prev.Connections(ctx); len(conns) != 2 {
		t.Errorf("set-aside database has %d connections, want 2", len(conns))
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		fi, _ := e.Info()
		fmt.Fprintf(&b, "%s %d\n", e.Name(), fi.Size())
	}
	return b.String()
}

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockDataDir(dir); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := LockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
