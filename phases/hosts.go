package phases

import (
	"context"

	"github.com/kubeha/kubeha/ssh"
)

// Hosts reaches the machines of the cluster by inventory host name. The ssh
// package's Pool implements it; it must be safe for concurrent use, one
// goroutine per host.
type Hosts interface {
	Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error)
	Upload(ctx context.Context, host string, f ssh.File) error
	Download(ctx context.Context, host, path string) ([]byte, error)
}
