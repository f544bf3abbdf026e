package store

import (
	"context"
	"database/sql"
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

// TestBackupCarriesCertificates: the named directories (the TLS
// certificates and ACME account) travel in the backup with their file
// modes; a restore puts them back, setting an existing directory aside,
// and a backup without such files (made before they were included) still
// restores.
func TestBackupCarriesCertificates(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	openTest(t, src).Close()
	certs := map[string]struct {
		data string
		mode os.FileMode
	}{
		"certmagic/certificates/acme/line.example.com/line.example.com.crt":                {"-----BEGIN CERTIFICATE-----\nMIIB\n", 0o644},
		"certmagic/certificates/acme/line.example.com/line.example.com.key":                {"-----BEGIN EC PRIVATE KEY-----\nMHc\n", 0o600},
		"certmagic/acme/acme-v02.api.letsencrypt.org-directory/users/a@example.com/a.json": {`{"status":"valid"}`, 0o600},
	}
	for p, f := range certs {
		full := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	// A link out of the directory is not followed into the backup.
	if err := os.Symlink("/etc/hostname", filepath.Join(src, "certmagic", "link")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "b.db")
	info, err := Backup(ctx, src, file, "certmagic", "not-there")
	if err != nil || info.Files != len(certs) {
		t.Fatalf("backup: %+v %v, want %d files", info, err, len(certs))
	}
	if v, err := VerifyBackup(ctx, file); err != nil || v.Files != len(certs) {
		t.Fatalf("verify: %+v %v", v, err)
	}

	// Onto a server that has certificates of its own: those are set aside.
	dst := t.TempDir()
	openTest(t, dst).Close()
	if err := os.MkdirAll(filepath.Join(dst, "certmagic", "stale"), 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := Restore(ctx, dst, file)
	if err != nil {
		t.Fatal(err)
	}
	setAside := false
	for _, a := range res.Aside {
		if strings.HasPrefix(filepath.Base(a), "certmagic.before-restore-") {
			setAside = true
			if _, err := os.Stat(filepath.Join(a, "stale")); err != nil {
				t.Errorf("the old certificate directory was not kept: %v", err)
			}
		}
	}
	if !setAside {
		t.Errorf("existing certmagic directory not set aside: %v", res.Aside)
	}
	for p, f := range certs {
		full := filepath.Join(dst, filepath.FromSlash(p))
		got, err := os.ReadFile(full)
		fi, _ := os.Stat(full)
		if err != nil || string(got) != f.data || fi.Mode().Perm() != f.mode {
			t.Errorf("%s after restore: %q %v (mode %v, want %v)", p, got, err, fi.Mode().Perm(), f.mode)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "certmagic", "link")); err == nil {
		t.Error("a symbolic link was restored")
	}
	if _, err := os.Stat(filepath.Join(dst, "certmagic", "stale")); err == nil {
		t.Error("the restored certificate directory holds files the backup did not")
	}
	st := openTest(t, dst)
	var n int
	if err := st.r.Raw("SELECT COUNT(*) FROM sqlite_master WHERE name = ?", backupFilesTable).Scan(&n).Error; err != nil || n != 0 {
		t.Errorf("the restored database still holds the backup's file table (%d, %v)", n, err)
	}
	st.Close()

	// An older backup, without the files table, restores as before.
	old := filepath.Join(t.TempDir(), "old.db")
	copyFile(file, old, 0o600)
	db, err := sql.Open("sqlite3", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DROP TABLE " + backupFilesTable); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Restore(ctx, t.TempDir(), old); err != nil {
		t.Fatalf("restore of a backup without files: %v", err)
	}

	// A crafted backup naming a file outside the data directory is refused
	// before anything changes.
	evil := filepath.Join(t.TempDir(), "evil.db")
	copyFile(file, evil, 0o600)
	db, _ = sql.Open("sqlite3", "file:"+evil)
	if _, err := db.Exec("INSERT INTO " + backupFilesTable + " (path, mode, data) VALUES ('../escape/x', 420, 'x')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	target := t.TempDir()
	before := listDir(t, target)
	if _, err := Restore(ctx, target, evil); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("restore of a backup with ../ in a path: %v", err)
	}
	if after := listDir(t, target); after != before {
		t.Errorf("the refused restore changed the data dir")
	}
}
