//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is held (flock) by a serving linehub for its lifetime.
const LockFile = "linehub.lock"

// LockDataDir takes the data directory's lock without waiting, so that two
// servers never share a database and restore never runs under a server.
// The lock goes with the process, even on SIGKILL. The file records the
// holder's pid for the error message.
func LockDataDir(dataDir string) (unlock func(), err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, LockFile)
	// restore and check run as root in a directory the service user owns:
	// the lock must not lead them through a link (or a hard link) to
	// truncate some other file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		f.Close()
		return nil, fmt.Errorf("lock %s is not a plain file of its own (a link?): remove it and try again", path)
	}
	// Root (restore, check) creating the lock must leave it to the data
	// directory's owner, or the service could not start afterwards.
	if os.Geteuid() == 0 {
		if di, err := os.Stat(dataDir); err == nil {
			if st, ok := di.Sys().(*syscall.Stat_t); ok {
				if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
					f.Close()
					return nil, fmt.Errorf("give lock %s to the data directory's owner: %w", path, err)
				}
			}
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		raw, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(raw))); perr == nil {
				return nil, fmt.Errorf("%w (pid %d, %s)", ErrLocked, pid, dataDir)
			}
			return nil, fmt.Errorf("%w (%s)", ErrLocked, dataDir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
