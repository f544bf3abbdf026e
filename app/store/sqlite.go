package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// This file holds what only SQLite understands: the connection settings
// (pragmas), the error codes, the statements behind backup and restore
// (VACUUM INTO, integrity_check, the WAL checkpoint) and the file header.
// The queries elsewhere are written so that PostgreSQL accepts them too;
// a second backend replaces this file and brings its own migration list.

// openSQLite opens the store's database at path through gorm: the writer
// (IMMEDIATE transactions, so a write never fails half way for a lock
// another writer took) or a reader (query_only).
func openSQLite(path, synchronous string, reader bool) (*gorm.DB, error) {
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=1&_synchronous=%s", path, synchronous)
	if reader {
		dsn += "&_query_only=1"
	} else {
		dsn += "&_txlock=immediate"
	}
	// TranslateError lets the dialector turn SQLite's constraint codes
	// into gorm.ErrDuplicatedKey (see isUnique) instead of matching error
	// text.
	return gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, PrepareStmt: true, TranslateError: true})
}

// isUnique says whether err is a unique constraint (or primary key)
// violation. gorm's SQLite dialector maps SQLITE_CONSTRAINT_UNIQUE and
// SQLITE_CONSTRAINT_PRIMARYKEY to gorm.ErrDuplicatedKey.
func isUnique(err error) bool {
	return errors.Is(err, gorm.ErrDuplicatedKey)
}

// IsFull says whether err means the disk holding the data directory has no
// room left: SQLite's SQLITE_FULL ("database or disk is full") or ENOSPC
// from a file the store writes itself. Callers use it to tell the admin
// what to fix instead of a bare database error.
func IsFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrFull {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}

// openSQLiteFile opens a database file outside the store (the source of a
// backup, a backup, a restored copy) on its own database/sql pool.
// readOnly opens it immutable: no journal, no -wal next to it, nothing
// written.
func openSQLiteFile(path string, readOnly bool) (*sql.DB, error) {
	if readOnly {
		return sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1")
	}
	return sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
}

// vacuumInto writes a consistent copy of db to dest, inside one read
// transaction.
func vacuumInto(ctx context.Context, db *sql.DB, dest string) error {
	_, err := db.ExecContext(ctx, "VACUUM INTO ?", dest)
	return err
}

// integrityCheck returns SQLite's verdict on db's file: "ok" or what is
// damaged.
func integrityCheck(ctx context.Context, db *sql.DB) (string, error) {
	var result string
	err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result)
	return result, err
}

// hasTable says whether db has a table called name.
func hasTable(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&n)
	return n > 0, err
}

// compactToWAL rewrites a restored copy without the space its dropped
// tables held and puts it back into WAL mode.
var compactToWAL = []string{"VACUUM", "PRAGMA journal_mode=WAL"}

// checkpointTruncate moves everything in the WAL into the database file and
// empties the WAL.
func checkpointTruncate(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

func checkSQLiteHeader(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "SQLite format 3\x00" {
		return fmt.Errorf("%s is not an SQLite database, so not a linehub backup", file)
	}
	return nil
}
