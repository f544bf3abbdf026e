// Package store keeps linehub's state in SQLite through gorm. Every query
// lives here, so that a second database backend can be added without
// touching other packages. Files: store.go opens and closes the database
// (Store, Open); models.go holds the connection, friend, inbox, setting and
// token rows; migrations.go is the schema history (every step, append-only)
// and sqlite.go everything only SQLite understands (pragmas, error codes,
// the statements behind backup and restore). One file per aggregate:
// connections.go, friends.go (the applier's transaction, sync results and
// the friend pages and searches), inbox.go (group commit, pending events,
// per-day counts, pruning), fairness.go (batches shared between
// connections), jobs.go (job runs, cursors, friend imports),
// deadletters.go, admins.go (admins, sessions, icons), settings.go,
// tokens.go, hooks.go (workflow keys), templates.go, sends.go, chat.go,
// notes.go (timeline notes), broadcasts.go; crypto.go seals secrets,
// backup.go makes and restores backups, lock_unix.go locks the data
// directory.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"gorm.io/gorm"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the database. SQLite allows one writer at a time, so writes go
// through a single-connection pool (no SQLITE_BUSY inside the process) and
// reads through a separate pool that WAL lets run alongside the writer.
type Store struct {
	w      *gorm.DB
	r      *gorm.DB
	sealer *Sealer
	log    *slog.Logger
	path   string

	appendCh   chan appendReq
	committing atomic.Bool // the committer is writing (or waiting to)
	stop       chan struct{}
	stopped    chan struct{}
}

// Options tunes Open.
type Options struct {
	Logger *slog.Logger
	// Synchronous is SQLite's synchronous pragma. FULL (default) makes every
	// acknowledged webhook survive a power cut, not only a process crash.
	Synchronous string
}

// DBFile is the database file name inside the data directory.
const DBFile = "linehub.db"

// Open opens (creating if needed) the database in dataDir, creates the
// secret key on first start and runs pending migrations.
func Open(dataDir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dataDir, err)
	}
	tightenModes(dataDir, opts.Logger)
	sealer, err := LoadOrCreateKey(filepath.Join(dataDir, KeyFile))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, DBFile)
	// SQLite gives the -wal and -shm files the database file's mode, so
	// creating it 0600 keeps every copy of the data private.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("create database %s: %w", path, err)
	}
	w, err := openSQLite(path, opts.Synchronous, false)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	wdb, err := w.DB()
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)

	s := &Store{w: w, sealer: sealer, log: opts.Logger, path: path,
		appendCh: make(chan appendReq, 256), stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.migrate(context.Background()); err != nil {
		_ = wdb.Close()
		return nil, err
	}
	// The readers open after the migrations: a reader opened before read
	// the old schema and answered its first query from it (a column a
	// migration added or filled read as empty).
	r, err := openSQLite(path, opts.Synchronous, true)
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rdb, _ := r.DB()
	rdb.SetMaxOpenConns(4)
	s.r = r
	go s.committer()
	return s, nil
}

// tightenModes makes the data directory 0700 and the database, its
// journal and the lock 0600 where this process owns them, and warns about
// each that other local users could read: a copy made by hand, a restore
// from a careless archive or an old install may have left them so. Files
// it does not own it only warns about. The key is not among them: a key
// others could read may have leaked, and LoadOrCreateKey refuses to start
// with it so that the operator decides.
func tightenModes(dataDir string, log *slog.Logger) {
	euid := os.Geteuid()
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{".", 0o700}, {DBFile, 0o600}, {DBFile + "-wal", 0o600}, {DBFile + "-shm", 0o600}, {LockFile, 0o600}} {
		p := filepath.Join(dataDir, f.name)
		stat := os.Lstat
		if f.name == "." {
			stat = os.Stat // the data directory may well be a link
		}
		fi, err := stat(p)
		if err != nil || fi.Mode()&os.ModeSymlink != 0 || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != euid {
			log.Warn("data file is open to other local users and not ours to fix: chmod it", "path", p, "mode", fi.Mode().Perm().String(), "want", f.mode.String())
			continue
		}
		if err := os.Chmod(p, f.mode); err != nil {
			log.Warn("data file is open to other local users and could not be fixed", "path", p, "mode", fi.Mode().Perm().String(), "err", err)
			continue
		}
		log.Warn("data file was open to other local users: mode fixed", "path", p, "mode", fi.Mode().Perm().String(), "now", f.mode.String())
	}
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close stops the inbox committer (after it has written what it holds) and
// closes the database.
func (s *Store) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		<-s.stopped
	}
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	var errs []error
	for _, db := range []*gorm.DB{s.r, s.w} {
		if sqlDB, err := db.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
	}
	return errors.Join(errs...)
}

func now() time.Time { return time.Now().UTC() }

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// IDString formats a row id for keys.
func IDString(id int64) string { return strconv.FormatInt(id, 10) }
