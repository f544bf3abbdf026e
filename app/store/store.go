// Package store keeps linehub's state: connections, friends, the webhook
// inbox, settings and API tokens. Every query lives here, so that a second
// database backend can be added without touching other packages.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
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
	base := fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=1&_synchronous=%s", path, opts.Synchronous)
	gcfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, PrepareStmt: true}

	w, err := gorm.Open(sqlite.Open(base+"&_txlock=immediate"), gcfg)
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
	r, err := gorm.Open(sqlite.Open(base+"&_query_only=1"), gcfg)
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
