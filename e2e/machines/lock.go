package machines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPath is outside RunDir, which Clean removes.
const lockPath = "/run/kh-e2e.lock"

// Lock takes the harness for this process until the returned release is
// called: one harness (namespace, bridge, dockerd) serves one user at a
// time, and a second `go test` or kh-machines run waits here instead of
// cleaning away the first one's machines. It gives up when ctx ends.
func Lock(ctx context.Context, log Logf) (release func(), err error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
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
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		if !waited {
			log("the e2e harness is in use by another process: waiting for it")
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the e2e harness: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
	return func() { f.Close() }, nil
}
