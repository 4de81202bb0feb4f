package phases

import (
	"context"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// kubeadm runs cut short (kubeha SIGKILLed, the SSH connection lost, the
// host powered off) leave files that make the next kubeadm run refuse
// ("already exists", "port in use"), and for a master possibly an etcd
// member that was added but never started ("Peer URLs already exists").
// kubeha's marks (NodeMark, ControlPlaneMark) tell a finished run from one
// cut short; these helpers take a host from the second state back to a
// clean one, or record it as finished when kubeadm had in fact got there.

// recoverInterrupted deals with a host whose earlier kubeadm run was cut
// short. It returns done when the host turned out to be a finished node
// (now marked); otherwise the host is left clean for a fresh kubeadm run:
// kubeadm reset on it, and for a master its etcd member removed through
// the control host.
func recoverInterrupted(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) (done bool, err error) {
	log := env.Log.ForHost(h.Name)
	if err := stopOrphanKubeadm(ctx, env, h.Name); err != nil {
		return false, err
	}
	if env.ControlPlane.Finished(ctx, h, controlPlane) {
		if _, err := env.run(ctx, h.Name, "record the join", scripts.Render("phases/mark", marks(controlPlane))); err != nil {
			return false, err
		}
		log.Info("an earlier run was cut short after kubeadm had finished here: recorded as joined")
		return true, nil
	}
	log.Warn("an earlier kubeadm run was cut short here: kubeadm reset, then join again")
	if controlPlane && env.Cluster.Spec.Etcd.Topology != inventory.EtcdExternal {
		if err := env.ControlPlane.RemoveEtcdMember(ctx, h); err != nil {
			return false, err
		}
	}
	_, err = env.run(ctx, h.Name, "kubeadm reset", resetInterruptedScript(false))
	return false, err
}

// stopOrphanKubeadm stops a kubeadm still running from a run whose SSH
// connection was lost (phases/stop-orphan-kubeadm).
func stopOrphanKubeadm(ctx context.Context, env *Env, host string) error {
	_, err := env.run(ctx, host, "stop a leftover kubeadm", scripts.Render("phases/stop-orphan-kubeadm", nil))
	return err
}

// resetInterruptedScript undoes a kubeadm run cut short: kubeadm reset,
// keeping kubeha's load-balancer static pods, and kubeha's marks removed.
// For the first master's init (init), it runs in the kubectl frame
// (controlplane.Endpoint) and refuses when the apiserver there knows other
// nodes.
func resetInterruptedScript(init bool) scripts.Script {
	return scripts.Render("phases/reset-interrupted", struct {
		markData
		Init bool
	}{marks(true), init})
}
