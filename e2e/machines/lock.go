package machines

import (
	"context"

	"github.com/kubeha/kubeha/e2e/harnesslock"
)

// lockPath is outside RunDir, which Clean removes.
const lockPath = "/run/kh-e2e.lock"

// Lock takes the machines harness for this process until the returned
// release is called; a second `go test` or kh-machines run waits here
// instead of cleaning away the first one's machines. It gives up when ctx
// ends.
func Lock(ctx context.Context, log Logf) (release func(), err error) {
	return harnesslock.Take(ctx, lockPath, log)
}
