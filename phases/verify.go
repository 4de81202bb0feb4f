package phases

import (
	"context"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// Verify checks the cluster as an operator would: every node Ready, one
// etcd member per master, every apiserver ready directly and through the
// endpoint from every host, and kube-system pods running. It changes
// nothing and always runs.
type Verify struct{}

var _ Phase = (*Verify)(nil)

func (Verify) ID() string    { return "verify" }
func (Verify) Title() string { return "Verify the cluster" }

func (Verify) Probe(ctx context.Context, env *Env) (Work, error) {
	// Every host that uses the endpoint: etcd hosts are no clients of
	// the apiservers (and, with a local proxy, have none).
	var names []string
	for _, h := range env.Cluster.Spec.Hosts {
		if h.Role != inventory.RoleEtcd {
			names = append(names, h.Name)
		}
	}
	w := Work{Targets: names, Pending: names, Reasons: map[string]string{}}
	for _, h := range names {
		w.Reasons[h] = "verify"
	}
	return w, nil
}

func (Verify) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	cp, err := controlHost(ctx, env)
	if err != nil {
		return err
	}
	if _, err := env.ControlPlane.Kubectl(ctx, controlplane.Endpoint, "verify cluster", verifyScript(c, cp)); err != nil {
		return &HostError{Host: cp.Name, Err: err}
	}
	// The endpoint, as each host resolves it.
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		return env.ControlPlane.WaitEndpoint(ctx, host, 30)
	})
}

// verifyScript is the verify phase's check of the cluster from control
// host cp (phases/verify).
func verifyScript(c *inventory.Cluster, cp inventory.Host) scripts.Script {
	type master struct{ Readyz, NotReady string }
	data := struct {
		EtcdPod string
		Members int
		Masters []master
	}{Members: len(c.Masters())}
	if c.Spec.Etcd.Topology != inventory.EtcdExternal {
		data.EtcdPod = "etcd-" + cp.Name
	}
	for _, m := range c.Masters() {
		data.Masters = append(data.Masters, master{controlplane.OwnServer(m) + "/readyz", "apiserver on " + m.Name + " not ready"})
	}
	return scripts.Render("phases/verify", data)
}
