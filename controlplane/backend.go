package controlplane

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
)

// The states SetBackend puts a master's apiserver in.
const (
	// BackendDrain: no new connection goes to the apiserver, and haproxy's
	// health checks of it are off, so that its restart (it fails /readyz
	// from SIGTERM on) does not get it marked down, which cuts every
	// connection to it at once (on-marked-down shutdown-sessions): the
	// apiserver hands them over itself, with GOAWAY, once it stops.
	BackendDrain = "drain"
	// BackendReady: health checks on and new connections again.
	BackendReady = "ready"
)

// backendFanOut bounds the haproxy hosts SetBackend asks at once.
const backendFanOut = 16

// Balancers are the hosts whose haproxy balances the apiservers, the ones
// SetBackend changes and Backends reads: the VIP holders with
// keepalived+haproxy, every node with the local haproxy. nginx, an
// external load balancer and kube-vip have no such control: none. (kubeha
// status asks the nodes of nginx's local proxy whether they reach each
// apiserver instead: ReachBackends.)
func (c *Client) Balancers() []inventory.Host {
	s := c.cluster.Spec.LoadBalancer
	if s.Mode == inventory.ModeKeepalivedHAProxy || (s.Mode == inventory.ModeLocalProxy && s.Proxy == inventory.ProxyHAProxy) {
		return lb.Hosts(c.cluster)
	}
	return nil
}

// SetBackend puts master's apiserver in state (BackendDrain or
// BackendReady) on every haproxy in front of the apiservers, at once. It is
// how a planned restart costs clients nothing: drained first, a restarting
// apiserver's clients reconnect to the others when it sends them GOAWAY,
// and no new one arrives. The error names each host that could not do it.
//
// With a single master there is nothing to hand over to: draining it would
// only refuse new connections, so a drain does nothing. Handing it back
// still does: it clears a drain or maintenance set outside kubeha, as
// status advises.
func (c *Client) SetBackend(ctx context.Context, master, state string) error {
	if state == BackendDrain && len(c.cluster.Masters()) < 2 {
		return nil
	}
	// Every node with the local haproxy: a few SSH sessions at a time.
	sem := make(chan struct{}, backendFanOut)
	return c.onMasters(ctx, c.Balancers(), func(h inventory.Host, _ int) error {
		sem <- struct{}{}
		defer func() { <-sem }()
		body := scripts.Render("controlplane/lb-backend", struct {
			Server, State, Config string
			Port                  int
		}{master, state, lb.HAProxyConfigPath, lb.StatsPort})
		res, err := c.quiet(ctx, h.Name, "haproxy: "+state+" "+master, body)
		if err != nil {
			return fmt.Errorf("%s: %s the apiserver of %s in haproxy: %w", h.Name, state, master, err)
		}
		c.log.ForHost(h.Name).Info("haproxy backend " + strings.TrimSpace(res.Stdout))
		return nil
	})
}

// SetBackendOrWarn is SetBackend for a planned restart, where a load
// balancer that cannot do it is worth a warning and not a stop: its health
// checks still take a restarting apiserver out, at the cost of the
// connections cut then.
func (c *Client) SetBackendOrWarn(ctx context.Context, master, state string) {
	if err := c.SetBackend(ctx, master, state); err != nil {
		c.log.ForHost(master).Warn("the load balancers' health checks decide instead: " + err.Error())
	}
}
