package phases

import (
	"context"

	"github.com/kubeha/kubeha/inventory"
)

var _ JoinHooker = PrepareHosts{}

// joinThroughFirst reports whether a joining master must reach the
// endpoint through the first master: where host-prep points a master's
// endpoint name at the master itself (external SLB's hairpin rule, local
// proxy on 6443), its own apiserver does not exist until the join is done.
func joinThroughFirst(c *inventory.Cluster) bool {
	m := c.Masters()[0]
	return EndpointAddress(c, m) == m.InternalAddress || EndpointAddress(c, m) == "127.0.0.1"
}

// BeforeJoin points a joining master's endpoint name at the first master
// where the master's own would not answer yet (joinThroughFirst).
func (PrepareHosts) BeforeJoin(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) error {
	c := env.Cluster
	if !controlPlane || !joinThroughFirst(c) {
		return nil
	}
	_, err := env.run(ctx, h.Name, "point the endpoint at the first master for the join",
		setHostsBlock(hostsBlock(c, c.Masters()[0].InternalAddress)))
	return err
}

// AfterJoin points the endpoint name back where host-prep wants it, once
// the master's own apiserver answers.
func (PrepareHosts) AfterJoin(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) error {
	c := env.Cluster
	if !controlPlane || !joinThroughFirst(c) || h.Name == c.Masters()[0].Name {
		return nil
	}
	_, err := env.run(ctx, h.Name, "set /etc/hosts block", setHostsBlock(hostsBlock(c, EndpointAddress(c, h))))
	return err
}
