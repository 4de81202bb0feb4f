package phases

import (
	"context"

	"github.com/kubeha/kubeha/inventory"
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

// nodes are the hosts that become Kubernetes nodes: the masters and the
// workers, not the dedicated load-balancer hosts nor the etcd hosts.
func nodes(c *inventory.Cluster) []inventory.Host {
	var out []inventory.Host
	for _, h := range c.Spec.Hosts {
		if isNode(h) {
			out = append(out, h)
		}
	}
	return out
}

// isNode reports whether h becomes a Kubernetes node.
func isNode(h inventory.Host) bool {
	return h.Role == inventory.RoleMaster || h.Role == inventory.RoleWorker
}

// runsKubelet reports whether h runs a kubelet: every node, and every
// etcd host, whose standalone kubelet runs its etcd member. Such hosts need
// containerd, kubeadm, the kubelet and the images.
func runsKubelet(h inventory.Host) bool { return isNode(h) || h.Role == inventory.RoleEtcd }

// kubeletHostNames are the names of the hosts that run a kubelet, in
// inventory order.
func kubeletHostNames(c *inventory.Cluster) []string {
	var out []string
	for _, h := range c.Spec.Hosts {
		if runsKubelet(h) {
			out = append(out, h.Name)
		}
	}
	return out
}

func nodeNames(c *inventory.Cluster) []string {
	var out []string
	for _, h := range nodes(c) {
		out = append(out, h.Name)
	}
	return out
}

// reverse returns hs in reverse order.
func reverse(hs []inventory.Host) []inventory.Host {
	out := make([]inventory.Host, len(hs))
	for i, h := range hs {
		out[len(hs)-1-i] = h
	}
	return out
}

// controlHost is the run's control host (controlplane.Client.Control).
func controlHost(ctx context.Context, env *Env) (inventory.Host, error) {
	return env.ControlPlane.Control(ctx)
}
