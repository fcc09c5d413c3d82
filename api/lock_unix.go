//go:build unix

package api

import (
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on the file path (created if missing)
// that other processes taking it wait for, and returns its release: the
// compare-and-swap of a file several processes may update.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
