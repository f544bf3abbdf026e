package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A backup is one SQLite file: a consistent copy of the database made with
// VACUUM INTO (a snapshot inside one read transaction, so it works while
// linehub writes), plus a table holding the secret key and facts about the
// copy. One file is easy to move and to check, and without the key the
// sealed channel secrets and tokens in it would be useless.
const backupTable = "linehub_backup"

// backupFilesTable holds the files of the directories a backup was asked to
// include (the TLS certificates and ACME account): a restore on a new
// server then serves HTTPS at once, without asking the CA again.
const backupFilesTable = "linehub_backup_files"

// BackupInfo describes a backup file.
type BackupInfo struct {
	CreatedAt     time.Time
	SchemaVersion int
	Bytes         int64
	Files         int // files of the included directories
}

// CheckWritable commits a small write, proving the database (and the disk
// under it) accepts writes.
func (s *Store) CheckWritable(ctx context.Context) error {
	return s.SetSetting(ctx, "ops.write_check_at", now().Format(time.RFC3339Nano))
}

// Backup writes a consistent copy of the database in dataDir, with its
// secret key and the files under the named subdirectories of dataDir
// (those that exist), to dest (replaced atomically if it exists). It opens
// the database on its own connection, so it can run in another process
// while linehub serves.
func Backup(ctx context.Context, dataDir, dest string, dirs ...string) (BackupInfo, error) {
	src := filepath.Join(dataDir, DBFile)
	if _, err := os.Stat(src); err != nil {
		return BackupInfo{}, fmt.Errorf("no database to back up: %w", err)
	}
	key, err := os.ReadFile(filepath.Join(dataDir, KeyFile))
	if err != nil {
		return BackupInfo{}, fmt.Errorf("read the secret key (backups must include it): %w", err)
	}
	dest, err = filepath.Abs(dest)
	if err != nil {
		return BackupInfo{}, err
	}
	// The copy holds the secret key. SQLite would create it with the
	// process umask (often 0644), readable by anyone while it is written:
	// a private directory next to dest and a file created 0600 before any
	// data goes in keep it out of reach from the first byte; the rename
	// into place stays on one file system.
	priv, err := os.MkdirTemp(filepath.Dir(dest), ".linehub-backup-")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("create a private directory next to %s: %w", dest, err)
	}
	defer os.RemoveAll(priv)
	tmp := filepath.Join(priv, "backup.db")
	// VACUUM INTO accepts an existing empty file and keeps its mode.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("create the backup file: %w", err)
	}
	f.Close()
	stageHook("vacuum", tmp)

	db, err := openSQLiteFile(src, false)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := vacuumInto(ctx, db, tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("copy database: %w", err)
	}
	info := BackupInfo{CreatedAt: now()}
	files, err := readDirs(dataDir, dirs)
	if err != nil {
		return BackupInfo{}, err
	}
	info.Files = len(files)
	if err := writeBackupMeta(ctx, tmp, strings.TrimSpace(string(key)), files, &info); err != nil {
		return BackupInfo{}, err
	}
	stageHook("written", tmp)
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return BackupInfo{}, fmt.Errorf("write backup: %w", err)
	}
	syncDir(filepath.Dir(dest))
	if fi, err := os.Stat(dest); err == nil {
		info.Bytes = fi.Size()
	}
	return info, nil
}

// backupFile is one file of an included directory, by its slash path
// relative to the data directory.
type backupFile struct {
	path string
	mode os.FileMode
	data []byte
}

// readDirs reads the regular files under dataDir/dir for each dir that
// exists; symbolic links and other special files are left out.
func readDirs(dataDir string, dirs []string) ([]backupFile, error) {
	var out []backupFile
	for _, dir := range dirs {
		root := filepath.Join(dataDir, dir)
		if _, err := os.Lstat(root); errors.Is(err, os.ErrNotExist) {
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			data, fi, err := readRegular(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dataDir, p)
			if err != nil {
				return err
			}
			out = append(out, backupFile{path: filepath.ToSlash(rel), mode: fi.Mode().Perm(), data: data})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s for the backup: %w", root, err)
		}
	}
	return out, nil
}

// readRegular reads p if it is a regular file, without following a
// symbolic link put there since the directory was listed: backups run as
// root, and the data directory belongs to the service user.
func readRegular(p string) ([]byte, os.FileInfo, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", p)
	}
	data, err := io.ReadAll(f)
	return data, fi, err
}

func writeBackupMeta(ctx context.Context, path, key string, files []backupFile, info *BackupInfo) error {
	db, err := openSQLiteFile(path, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&info.SchemaVersion); err != nil {
		return fmt.Errorf("read schema version of the copy: %w", err)
	}
	stmts := []struct {
		q    string
		args []any
	}{
		{"CREATE TABLE " + backupTable + " (key TEXT PRIMARY KEY, value TEXT NOT NULL)", nil},
		{"INSERT INTO " + backupTable + " (key, value) VALUES ('secret_key', ?), ('created_at', ?), ('schema_version', ?)",
			[]any{key, info.CreatedAt.Format(time.RFC3339Nano), strconv.Itoa(info.SchemaVersion)}},
		{"CREATE TABLE " + backupFilesTable + " (path TEXT PRIMARY KEY, mode INTEGER NOT NULL, data BLOB NOT NULL)", nil},
	}
	for _, f := range files {
		stmts = append(stmts, struct {
			q    string
			args []any
		}{"INSERT INTO " + backupFilesTable + " (path, mode, data) VALUES (?, ?, ?)", []any{f.path, int64(f.mode), f.data}})
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("write backup metadata: %w", err)
		}
	}
	return db.Close()
}

// VerifyBackup checks that file is an intact linehub backup and reads its
// metadata.
func VerifyBackup(ctx context.Context, file string) (BackupInfo, error) {
	info, _, _, err := readBackup(ctx, file)
	return info, err
}

func readBackup(ctx context.Context, file string) (BackupInfo, string, []backupFile, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return BackupInfo{}, "", nil, fmt.Errorf("backup file: %w", err)
	}
	if err := checkSQLiteHeader(file); err != nil {
		return BackupInfo{}, "", nil, err
	}
	// mode=ro and immutable: verifying must not change the file (no
	// journal, no -wal next to it).
	db, err := openSQLiteFile(file, true)
	if err != nil {
		return BackupInfo{}, "", nil, fmt.Errorf("open backup: %w", err)
	}
	defer db.Close()
	result, err := integrityCheck(ctx, db)
	if err != nil {
		return BackupInfo{}, "", nil, fmt.Errorf("%s is damaged: %w", file, err)
	}
	if result != "ok" {
		return BackupInfo{}, "", nil, fmt.Errorf("%s is damaged: integrity check says %q", file, result)
	}
	meta := map[string]string{}
	rows, err := db.QueryContext(ctx, "SELECT key, value FROM "+backupTable)
	if err != nil {
		return BackupInfo{}, "", nil, fmt.Errorf("%s is an SQLite file but not a linehub backup (made with `linehub backup`): %w", file, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return BackupInfo{}, "", nil, err
		}
		meta[k] = v
	}
	if err := rows.Err(); err != nil {
		return BackupInfo{}, "", nil, err
	}
	info := BackupInfo{Bytes: fi.Size()}
	files, err := readBackupFiles(ctx, db)
	if err != nil {
		return BackupInfo{}, "", nil, fmt.Errorf("%s: %w", file, err)
	}
	info.Files = len(files)
	info.CreatedAt, _ = time.Parse(time.RFC3339Nano, meta["created_at"])
	info.SchemaVersion, _ = strconv.Atoi(meta["schema_version"])
	key := meta["secret_key"]
	if _, err := newSealerFromText(key); err != nil {
		return BackupInfo{}, "", nil, fmt.Errorf("%s holds no usable secret key: %w", file, err)
	}
	if latest := migrations[len(migrations)-1].version; info.SchemaVersion > latest {
		return BackupInfo{}, "", nil, fmt.Errorf("backup has schema version %d, newer than this linehub (knows up to %d): restore it with the linehub that made it", info.SchemaVersion, latest)
	}
	return info, key, files, nil
}

// readBackupFiles reads the included files of a backup (none in one made
// before backups held files), refusing any path that would land outside
// the data directory.
func readBackupFiles(ctx context.Context, db *sql.DB) ([]backupFile, error) {
	if ok, err := hasTable(ctx, db, backupFilesTable); err != nil || !ok {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SELECT path, mode, data FROM "+backupFilesTable+" ORDER BY path")
	if err != nil {
		return nil, fmt.Errorf("read the files in the backup: %w", err)
	}
	defer rows.Close()
	var out []backupFile
	for rows.Next() {
		var f backupFile
		var mode int64
		if err := rows.Scan(&f.path, &mode, &f.data); err != nil {
			return nil, fmt.Errorf("read the files in the backup: %w", err)
		}
		if !filepath.IsLocal(filepath.FromSlash(f.path)) || !strings.Contains(f.path, "/") || path.Clean(f.path) != f.path {
			return nil, fmt.Errorf("the backup holds a file %q outside a directory of the data directory", f.path)
		}
		f.mode = os.FileMode(mode).Perm()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the files in the backup: %w", err)
	}
	held := make(map[string]bool, len(out))
	for _, f := range out {
		held[f.path] = true
	}
	for _, f := range out {
		for dir := path.Dir(f.path); dir != "."; dir = path.Dir(dir) {
			if held[dir] {
				return nil, fmt.Errorf("the backup holds both a file %q and files inside it", dir)
			}
		}
	}
	return out, nil
}

// checkRestorable refuses files outside the directories a backup may
// carry (dirs): anything else, such as secret.key/x, would replace the
// database, the key or their kin in the data directory.
func checkRestorable(files []backupFile, dirs []string) error {
	for _, f := range files {
		top, _, _ := strings.Cut(f.path, "/")
		if !slices.Contains(dirs, top) {
			return fmt.Errorf("the backup holds a file %q outside the directories a backup carries (%s)", f.path, strings.Join(dirs, ", "))
		}
	}
	return nil
}

// RestoreResult says where the replaced files went.
type RestoreResult struct {
	Info BackupInfo
	// Aside lists the previous database, key and directories, renamed
	// with a .before-restore-<time>-<random> suffix; nothing is deleted.
	Aside []string
}

// Restore replaces the database and key in dataDir with those of a
// backup, and each of dirs with the backup's files under it; a backup
// holding any other file is refused. linehub must not be running (the
// caller holds the data directory lock). The backup is verified and
// prepared first, so a bad file changes nothing; then the current files
// are renamed aside.
//
// Run as root, Restore works in a directory that belongs to the service
// user, who may swap any name in it for a link at any moment. So SQLite
// (which follows links) only opens a private copy outside it; every file
// created in it is created with O_EXCL, never through a link, and given
// to the owner through its descriptor; and every path goes through an
// os.Root, which does not leave the directory.
func Restore(ctx context.Context, dataDir, file string, dirs ...string) (RestoreResult, error) {
	info, key, files, err := readBackup(ctx, file)
	if err != nil {
		return RestoreResult{}, err
	}
	if err := checkRestorable(files, dirs); err != nil {
		return RestoreResult{}, fmt.Errorf("%s: %w", file, err)
	}
	priv, err := os.MkdirTemp("", "linehub-restore-")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("create a private directory: %w", err)
	}
	defer os.RemoveAll(priv)
	prepared := filepath.Join(priv, DBFile)
	if err := copyFile(file, prepared, 0o600); err != nil {
		return RestoreResult{}, fmt.Errorf("copy backup: %w", err)
	}
	if err := stripBackupMeta(ctx, prepared); err != nil {
		return RestoreResult{}, err
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return RestoreResult{}, fmt.Errorf("create data dir: %w", err)
	}
	root, err := os.OpenRoot(dataDir)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("open data dir: %w", err)
	}
	defer root.Close()
	own, err := dataDirOwner(root)
	if err != nil {
		return RestoreResult{}, err
	}
	dbTmp := DBFile + ".restore-" + randomSuffix()
	defer root.Remove(dbTmp)
	dbStaged, err := stage(root, dbTmp, 0o600, own, func(w io.Writer) error {
		in, err := os.Open(prepared)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	})
	if err != nil {
		return RestoreResult{}, fmt.Errorf("copy the restored database into %s: %w", dataDir, err)
	}
	defer dbStaged.Close()
	keyTmp := KeyFile + ".restore-" + randomSuffix()
	defer root.Remove(keyTmp)
	keyStaged, err := stage(root, keyTmp, 0o600, own, func(w io.Writer) error {
		_, err := io.WriteString(w, key+"\n")
		return err
	})
	if err != nil {
		return RestoreResult{}, fmt.Errorf("write secret key: %w", err)
	}
	defer keyStaged.Close()
	stageHook("staged", dataDir)
	// Nothing has changed yet: a staged file swapped meanwhile stops the
	// restore here.
	for _, s := range []struct {
		name string
		f    *os.File
	}{{dbTmp, dbStaged}, {keyTmp, keyStaged}} {
		if err := checkStaged(root, s.name, s.f); err != nil {
			return RestoreResult{}, err
		}
	}

	res := RestoreResult{Info: info}
	suffix := asideSuffix()
	for _, name := range []string{DBFile, DBFile + "-wal", DBFile + "-shm", KeyFile} {
		if _, err := root.Lstat(name); err != nil {
			continue
		}
		// The -wal and -shm files keep their suffix after the new name, so
		// the set aside copy still opens as a database with its journal.
		aside := name + suffix
		if strings.HasPrefix(name, DBFile+"-") {
			aside = DBFile + suffix + strings.TrimPrefix(name, DBFile)
		}
		if err := setAside(root, name, aside); err != nil {
			return res, err
		}
		res.Aside = append(res.Aside, filepath.Join(dataDir, aside))
	}
	if err := placeStaged(root, dbTmp, DBFile, dbStaged); err != nil {
		return res, fmt.Errorf("put the restored database in place: %w", err)
	}
	if err := placeStaged(root, keyTmp, KeyFile, keyStaged); err != nil {
		return res, fmt.Errorf("put the restored secret key in place: %w", err)
	}
	aside, err := restoreFiles(root, files, suffix, own)
	for _, a := range aside {
		res.Aside = append(res.Aside, filepath.Join(dataDir, a))
	}
	if err != nil {
		return res, err
	}
	syncDir(dataDir)
	return res, nil
}

// asideSuffix names the set aside copies of one restore; nanoseconds and
// a random part keep two restores from taking the same names.
func asideSuffix() string {
	return ".before-restore-" + now().Format("20060102T150405.000000000Z") + "-" + randomSuffix()
}

// setAside renames name to aside inside root, never over an existing file.
func setAside(root *os.Root, name, aside string) error {
	if _, err := root.Lstat(aside); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("set %s aside: %s exists already", name, aside)
	}
	if err := root.Rename(name, aside); err != nil {
		return fmt.Errorf("set %s aside: %w", name, err)
	}
	return nil
}

// stage creates name in root (failing if anything, a link included, is
// there), gives it to the data directory's owner and the exact mode, and
// fills it with write. The file stays open for placeStaged: while it is,
// no other file can take its inode number.
func stage(root *os.Root, name string, mode os.FileMode, own func(*os.File) error, write func(io.Writer) error) (*os.File, error) {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	err = own(f)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// placeStaged renames a staged file into place, if it is still the file
// stage made.
func placeStaged(root *os.Root, name, final string, staged *os.File) error {
	if err := checkStaged(root, name, staged); err != nil {
		return err
	}
	return root.Rename(name, final)
}

// checkStaged says whether name in root is still the file staged.
func checkStaged(root *os.Root, name string, staged *os.File) error {
	want, err := staged.Stat()
	if err != nil {
		return err
	}
	got, err := root.Lstat(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !os.SameFile(got, want) {
		return fmt.Errorf("%s was replaced during the restore: someone else writes in the data directory", name)
	}
	return nil
}

// restoreFiles writes the backup's files into root. A directory they
// belong to that exists already is renamed aside with suffix first, so
// the restored one holds exactly what was backed up. It returns the set
// aside names, relative to root.
func restoreFiles(root *os.Root, files []backupFile, suffix string, own func(*os.File) error) (aside []string, err error) {
	made := map[string]bool{}
	for _, f := range files {
		top, _, _ := strings.Cut(f.path, "/")
		if !made[top] {
			if _, err := root.Lstat(top); err == nil {
				if err := setAside(root, top, top+suffix); err != nil {
					return aside, err
				}
				aside = append(aside, top+suffix)
			}
		}
		name := filepath.FromSlash(f.path)
		if err := makeDirs(root, filepath.Dir(name), own, made); err != nil {
			return aside, fmt.Errorf("restore %s: %w", f.path, err)
		}
		staged, err := stage(root, name, f.mode, own, func(w io.Writer) error {
			_, err := w.Write(f.data)
			return err
		})
		if err != nil {
			return aside, fmt.Errorf("restore %s: %w", f.path, err)
		}
		if err := staged.Close(); err != nil {
			return aside, fmt.Errorf("restore %s: %w", f.path, err)
		}
	}
	return aside, nil
}

// makeDirs creates dir and its parents inside root, each given to the
// data directory's owner; made remembers those already created.
func makeDirs(root *os.Root, dir string, own func(*os.File) error, made map[string]bool) error {
	if dir == "." || made[dir] {
		return nil
	}
	if err := makeDirs(root, filepath.Dir(dir), own, made); err != nil {
		return err
	}
	if err := root.Mkdir(dir, 0o700); err != nil {
		return err
	}
	d, err := root.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := own(d); err != nil {
		return err
	}
	made[dir] = true
	return nil
}

// dataDirOwner returns what gives a file Restore creates the data
// directory's owner. Run as root (sudo linehub restore), new files would
// belong to root and the service user could not open them; otherwise it
// does nothing. It takes a descriptor, never a path, which could be a link
// by the time it is used.
func dataDirOwner(root *os.Root) (func(*os.File) error, error) {
	none := func(*os.File) error { return nil }
	if os.Geteuid() != 0 {
		return none, nil
	}
	fi, err := root.Stat(".")
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return none, nil
	}
	return func(f *os.File) error {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("give %s to the data directory's owner: %w", f.Name(), err)
		}
		return nil
	}, nil
}

// stripBackupMeta removes the key table from the restored copy (the key
// lives in its own file) and puts the copy back into WAL mode.
func stripBackupMeta(ctx context.Context, path string) error {
	db, err := openSQLiteFile(path, false)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range append([]string{"DROP TABLE " + backupTable, "DROP TABLE IF EXISTS " + backupFilesTable}, compactToWAL...) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("prepare restored database (%s): %w", q, err)
		}
	}
	if err := checkpointTruncate(ctx, db); err != nil {
		return fmt.Errorf("prepare restored database: %w", err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	for _, ext := range []string{"-wal", "-shm"} {
		_ = os.Remove(path + ext)
	}
	return syncFile(path)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes renames in dir durable; best effort, as not every file
// system supports it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// testHook, set by tests, sees the stages of Backup and Restore with the
// path each works on.
var testHook func(stage, path string)

func stageHook(stage, path string) {
	if testHook != nil {
		testHook(stage, path)
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrLocked means another linehub process holds the data directory.
var ErrLocked = errors.New("data directory is in use by a running linehub")

// newSealerFromText checks a key in its file format (base64 of 32 bytes).
func newSealerFromText(text string) (*Sealer, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(key) != 32 {
		return nil, errors.New("not 32 base64-encoded bytes")
	}
	return newSealer(key)
}
