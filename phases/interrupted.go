package phases

import (
	"context"
	"fmt"
	"net"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// kubeadm runs cut short (kubeha SIGKILLed, the SSH connection lost, the
// host powered off) leave files that make the next kubeadm run refuse
// ("already exists", "port in use"), and for a master possibly an etcd
// member that was added but never started ("Peer URLs already exists").
// kubeha's marks (NodeMark, ControlPlaneMark) tell a finished run from one
// cut short; these helpers take a host from the second state back to a
// clean one, or record it as finished when kubeadm had in fact got there.

// markScript records that kubeadm init or join finished on this host.
func markScript(controlPlane bool) string {
	s := "mkdir -p /etc/kubeha && touch " + NodeMark
	if controlPlane {
		s += " " + ControlPlaneMark
	}
	return s
}

// finishedScript exits 0 when an unmarked host is in fact a working node:
// its kubelet is healthy with its own kubeconfig, and for a master the
// local apiserver is ready (which includes etcd) and the node carries the
// control-plane label, the last thing kubeadm join does.
func finishedScript(h inventory.Host, controlPlane bool) string {
	s := `[ -f /etc/kubernetes/kubelet.conf ] && curl -sf --max-time 3 http://127.0.0.1:10248/healthz >/dev/null`
	if controlPlane {
		s += ` && [ -f /etc/kubernetes/admin.conf ] && curl -sfk --max-time 3 https://127.0.0.1:6443/readyz >/dev/null &&
kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout 5s get node ` + ssh.Quote(h.Name) +
			` -l node-role.kubernetes.io/control-plane --no-headers 2>/dev/null | grep -q .`
	}
	return s
}

// recoverInterrupted deals with a host whose earlier kubeadm run was cut
// short. It returns done when the host turned out to be a finished node
// (now marked); otherwise the host is left clean for a fresh kubeadm run:
// kubeadm reset on it, and for a master its etcd member removed through
// another control-plane node.
func recoverInterrupted(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) (done bool, err error) {
	log := env.Log.ForHost(h.Name)
	if err := stopOrphanKubeadm(ctx, env, h.Name); err != nil {
		return false, err
	}
	if _, err := env.quiet(ctx, h.Name, "check an interrupted join", scripts.Legacy(finishedScript(h, controlPlane))); err == nil {
		if _, err := env.run(ctx, h.Name, "record the join", scripts.Legacy(markScript(controlPlane))); err != nil {
			return false, err
		}
		log.Info("an earlier run was cut short after kubeadm had finished here: recorded as joined")
		return true, nil
	}
	log.Warn("an earlier kubeadm run was cut short here: kubeadm reset, then join again")
	if controlPlane && env.Cluster.Spec.Etcd.Topology != inventory.EtcdExternal {
		cp, err := controlHost(ctx, env)
		if err != nil {
			return false, err
		}
		if _, err := env.run(ctx, cp.Name, "remove the etcd member of "+h.Name, scripts.Legacy(removeEtcdMemberScript(cp.Name, h))); err != nil {
			return false, err
		}
	}
	_, err = env.run(ctx, h.Name, "kubeadm reset", scripts.Legacy(resetKeepingLB+"\nrm -f "+NodeMark+" "+ControlPlaneMark))
	return false, err
}

// stopOrphanKubeadm stops a kubeadm still running from a run whose SSH
// connection was lost: nothing stops it on the host (it dies only when it
// next writes to its closed output), and it would race the recovery. kubeha
// runs one apply per cluster at a time (the journal lock), so no kubeadm on
// the host is this run's own.
func stopOrphanKubeadm(ctx context.Context, env *Env, host string) error {
	_, err := env.run(ctx, host, "stop a leftover kubeadm", scripts.Legacy(`if pkill -x kubeadm; then
  echo "stopped a kubeadm left running by an interrupted run"
  i=0; while pgrep -x kubeadm >/dev/null && [ $i -lt 20 ]; do sleep 0.5; i=$((i+1)); done
fi`))
	return err
}

// removeEtcdMemberScript removes, through the etcd of control-plane node
// cp, the member whose peer URL is h's: one added by a join that never
// finished blocks every later join of h. The names are quoted assignments,
// used only as "$pod" and "$node"; e is a function, not a string split at
// its spaces, so no value is split or globbed.
func removeEtcdMemberScript(cp string, h inventory.Host) string {
	return fmt.Sprintf(`pod=%s node=%s
e() { kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout 20s -n kube-system exec "$pod" -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key "$@"; }
id=$(e member list | awk -F', ' -v u=%s '$4 == u {print $1}')
if [ -n "$id" ]; then e member remove "$id" >/dev/null; echo "removed etcd member $id, left by the interrupted join of $node"; fi`,
		ssh.Quote("etcd-"+cp), ssh.Quote(h.Name), ssh.Quote("https://"+net.JoinHostPort(h.InternalAddress, "2380")))
}

// resetInterruptedInitScript undoes a kubeadm init that was cut short on
// the first master, unless the apiserver there knows other nodes: that is a
// cluster kubeha did not finish making, and it is not kubeha's to reset.
func resetInterruptedInitScript() string {
	return `n=$(kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout 5s get nodes --no-headers 2>/dev/null | wc -l)
if [ "$n" -gt 1 ]; then
  echo "this host runs a cluster of $n nodes without kubeha's mark; kubeha will not reset it. If kubeha should take it over, run on this host: mkdir -p /etc/kubeha && touch ` + NodeMark + ` ` + ControlPlaneMark + `" >&2
  exit 1
fi
` + resetKeepingLB
}

// resetKeepingLB is kubeadm reset that keeps kubeha's load-balancer static
// pods: reset empties the manifests directory, and without them the
// endpoint of the next init or join would never answer.
const resetKeepingLB = `keep=$(mktemp -d)
cp -p /etc/kubernetes/manifests/kubeha-*.yaml "$keep"/ 2>/dev/null || true
kubeadm reset -f >/dev/null 2>&1 || true
mkdir -p /etc/kubernetes/manifests
cp -p "$keep"/* /etc/kubernetes/manifests/ 2>/dev/null || true
rm -rf "$keep"`
