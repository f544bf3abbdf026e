package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
		name := asideName.ReplaceAllString(filepath.Base(p), "")
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

// asideName matches the suffix a restore gives the files it sets aside.
var asideName = regexp.MustCompile(`\.before-restore-[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[0-9a-f]{12}`)

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
	res, err := Restore(ctx, dst, file, "certmagic")
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
	if _, err := Restore(ctx, target, evil, "certmagic"); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("restore of a backup with ../ in a path: %v", err)
	}
	if after := listDir(t, target); after != before {
		t.Errorf("the refused restore changed the data dir")
	}
}

// TestBackupIsPrivateWhileWritten: the backup holds the secret key, so no
// one else may open it from its first byte, whatever the umask and however
// open the destination directory is.
func TestBackupIsPrivateWhileWritten(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	openTest(t, src).Close()
	destDir := t.TempDir()
	// Others may enter it, as they may /var/backups or a home directory.
	if err := os.Chmod(destDir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer syscall.Umask(syscall.Umask(0))
	seen := map[string]bool{}
	testHook = func(stage, p string) {
		seen[stage] = true
		dir := filepath.Dir(p)
		if dir == destDir {
			t.Errorf("%s: the backup is written straight into %s, which others can enter", stage, destDir)
		}
		for _, q := range []string{dir, p} {
			fi, err := os.Stat(q)
			if err != nil {
				t.Errorf("%s: %v", stage, err)
			} else if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %s has mode %v while the backup is written", stage, q, fi.Mode().Perm())
			}
		}
	}
	defer func() { testHook = nil }()
	dest := filepath.Join(destDir, "b.db")
	if _, err := Backup(ctx, src, dest); err != nil {
		t.Fatal(err)
	}
	if !seen["vacuum"] || !seen["written"] {
		t.Fatalf("stages seen %v: the test hook was not called", seen)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if got := listDir(t, destDir); !strings.HasPrefix(got, "b.db ") || strings.Count(got, "\n") != 1 {
		t.Errorf("destination directory holds more than the backup:\n%s", got)
	}
}

// TestRestoreAsRootFollowsNoLink: run as root into a data directory the
// service user owns, restore gives its new files to that user. A link the
// user puts where a new file was must not make restore give away (or
// write) the file it points to.
func TestRestoreAsRootFollowsNoLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: restore gives files away only when run as root")
	}
	ctx := context.Background()
	src := t.TempDir()
	openTest(t, src).Close()
	file := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, src, file); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	openTest(t, dir).Close()
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("root's own"), 0o600); err != nil {
		t.Fatal(err)
	}
	planted := 0
	testHook = func(stage, p string) {
		if stage != "staged" {
			return
		}
		es, _ := os.ReadDir(p)
		for _, e := range es {
			if strings.Contains(e.Name(), ".restore-") {
				full := filepath.Join(p, e.Name())
				if err := os.Remove(full); err != nil {
					t.Error(err)
				}
				if err := os.Symlink(victim, full); err != nil {
					t.Error(err)
				}
				planted++
			}
		}
	}
	defer func() { testHook = nil }()
	_, err := Restore(ctx, dir, file)
	if planted < 2 {
		t.Fatalf("planted %d links: the test hook did not find the staged files", planted)
	}
	fi, serr := os.Stat(victim)
	if serr != nil {
		t.Fatal(serr)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 0 {
		t.Errorf("restore gave %s (reached through a link) to uid %d", victim, uid)
	}
	if b, _ := os.ReadFile(victim); string(b) != "root's own" {
		t.Errorf("restore wrote through a link into %s: %q", victim, b)
	}
	if err == nil {
		t.Error("restore reported success though its staged files were swapped for links")
	} else {
		t.Logf("restore: %v", err)
	}
}

// TestRestoreRefusesFilesOutsideItsDirectories: a crafted backup can only
// bring files under the directories restore is given; a file that would
// replace the key (secret.key/x), a path that is not clean, or a file
// that is also a directory of other files is refused before anything
// changes.
func TestRestoreRefusesFilesOutsideItsDirectories(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	openTest(t, src).Close()
	if err := os.MkdirAll(filepath.Join(src, "certmagic", "acme"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "certmagic", "acme", "a.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, src, file, "certmagic"); err != nil {
		t.Fatal(err)
	}
	for name, paths := range map[string][]string{
		"into the key":        {"secret.key/x"},
		"into the database":   {"linehub.db/x"},
		"another directory":   {"other/x"},
		"dot segment":         {"certmagic/./x"},
		"empty segment":       {"certmagic//x"},
		"file and directory":  {"certmagic/a", "certmagic/a/b"},
		"key file as dir top": {"certmagic/acme/a.json/x"},
	} {
		crafted := filepath.Join(t.TempDir(), "crafted.db")
		if err := copyFile(file, crafted, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite3", "file:"+crafted)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if _, err := db.Exec("INSERT INTO "+backupFilesTable+" (path, mode, data) VALUES (?, 384, 'x')", p); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		dir := t.TempDir()
		openTest(t, dir).Close()
		key, _ := os.ReadFile(filepath.Join(dir, KeyFile))
		before := listDir(t, dir)
		if _, err := Restore(ctx, dir, crafted, "certmagic"); err == nil {
			t.Errorf("%s: restore accepted %v", name, paths)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if after := listDir(t, dir); after != before {
			t.Errorf("%s: the refused restore changed the data dir:\n%s\nwas\n%s", name, after, before)
		}
		if k, err := os.ReadFile(filepath.Join(dir, KeyFile)); err != nil || string(k) != string(key) {
			t.Errorf("%s: the key changed: %v", name, err)
		}
	}
}

// TestRestoresInOneSecondKeepEverything: each restore sets the previous
// files aside under names of its own, so a second restore within the same
// second does not overwrite what the first set aside.
func TestRestoresInOneSecondKeepEverything(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	openTest(t, src).Close()
	file := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, src, file); err != nil {
		t.Fatal(err)
	}
	// Two restores must start and end within one wall-clock second for
	// the test to mean anything; retry the pair if a second boundary fell
	// between them.
	for attempt := 0; ; attempt++ {
		dir := t.TempDir()
		openTest(t, dir).Close()
		first, _ := os.ReadFile(filepath.Join(dir, KeyFile))
		start := time.Now().Unix()
		var aside []string
		for range 2 {
			res, err := Restore(ctx, dir, file)
			if err != nil {
				t.Fatal(err)
			}
			aside = append(aside, res.Aside...)
		}
		if time.Now().Unix() != start && attempt < 5 {
			continue
		}
		names := map[string]bool{}
		keptFirst := false
		for _, a := range aside {
			if names[a] {
				t.Errorf("two restores set files aside under the same name %s", a)
			}
			names[a] = true
			if strings.HasPrefix(filepath.Base(a), KeyFile+".") {
				if k, _ := os.ReadFile(a); string(k) == string(first) {
					keptFirst = true
				}
			}
		}
		if !keptFirst {
			t.Errorf("the key the first restore set aside is gone: aside %v", aside)
		}
		return
	}
}

// TestLockDataDirFollowsNoLink: a link (or hard link) planted as the lock
// file, in a directory the service user owns, must not lead root (running
// restore or check) to truncate the file it points to.
func TestLockDataDirFollowsNoLink(t *testing.T) {
	for _, link := range []func(string, string) error{os.Symlink, os.Link} {
		dir := t.TempDir()
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := link(victim, filepath.Join(dir, LockFile)); err != nil {
			t.Fatal(err)
		}
		if unlock, err := LockDataDir(dir); err == nil {
			unlock()
			t.Error("locked through a link")
		} else {
			t.Log(err)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Errorf("the lock wrote through a link into %s: %q", victim, b)
		}
	}
}

// TestLockCreatedByRootBelongsToTheService: restore or check run as root
// on a data directory without a lock file leave the lock they create to
// the directory's owner, so the service can still start.
func TestLockCreatedByRootBelongsToTheService(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	unlock, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	fi, err := os.Stat(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != nobody {
		t.Errorf("lock belongs to uid %d, want the data directory's owner %d", uid, nobody)
	}
}
