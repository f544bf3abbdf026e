package store

import (
	"errors"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

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
