// Package harnesslock serialises users of a shared test harness across
// processes with flock(2): one harness (namespaces, bridges, dockerd) serves
// one user at a time, and a second `go test` or benchmark waits instead of
// tearing down the first one's hosts.
package harnesslock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Take holds the lock file at path for this process until release is
// called (or the process exits). It waits, saying so once through log, and
// gives up when ctx ends.
func Take(ctx context.Context, path string, log func(format string, args ...any)) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			log("the harness behind %s is in use by another process: waiting for it", path)
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the harness behind %s: %w", path, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	return func() { f.Close() }, nil
}
