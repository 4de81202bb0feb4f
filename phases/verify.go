package phases

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
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
	names := env.Cluster.HostNames()
	w := Work{Targets: names, Pending: names, Reasons: map[string]string{}}
	for _, h := range names {
		w.Reasons[h] = "verify"
	}
	return w, nil
}

// etcdCheck counts stacked etcd's members; an external etcd is not
// kubeha's to count.
func etcdCheck(topology, host string, masters int) string {
	if topology == inventory.EtcdExternal {
		return ""
	}
	return fmt.Sprintf(`members=$($k -n kube-system exec %s -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key member list | wc -l)
[ "$members" = %d ] || { echo "etcd has $members members, want %d (one per master)" >&2; exit 1; }
echo "etcd: $members members"
`, ssh.Quote("etcd-"+host), masters, masters)
}

func (Verify) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	cp, err := controlHost(ctx, env)
	if err != nil {
		return err
	}
	if _, err := env.run(ctx, cp.Name, "verify cluster", scripts.Legacy(verifyScript(c.Spec.Etcd.Topology, cp.Name, c.Masters()))); err != nil {
		return &HostError{Host: cp.Name, Err: err}
	}
	// The endpoint, as each host resolves it.
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		_, err := env.quiet(ctx, host, "apiserver through the endpoint", scripts.Legacy(endpointReadyScript(kubeadm.Endpoint(c))))
		return err
	})
}

// verifyScript waits, on control-plane node cp, for every node Ready and
// every kube-system pod running, counts stacked etcd's members, and asks
// each master's apiserver directly whether it is ready.
func verifyScript(topology, cp string, masters []inventory.Host) string {
	var direct strings.Builder
	for _, m := range masters {
		url := "https://" + net.JoinHostPort(m.InternalAddress, strconv.Itoa(inventory.APIServerPort)) + "/readyz"
		fmt.Fprintf(&direct, "curl -sfk --max-time 3 %s >/dev/null || { echo %s >&2; exit 1; }\n", ssh.Quote(url), ssh.Quote("apiserver on "+m.Name+" not ready"))
	}
	return fmt.Sprintf(`set -e
k="kubectl --kubeconfig /etc/kubernetes/admin.conf"
i=0; while :; do
  notready=$($k get nodes --no-headers | awk '$2 != "Ready" {print $1}')
  pending=$($k -n kube-system get pods --no-headers | awk '$3 != "Running" && $3 != "Completed" {print $1}')
  [ -z "$notready$pending" ] && break
  i=$((i+1)); if [ $i -ge 180 ]; then echo "not Ready after 180s: nodes [$notready] kube-system pods [$pending]" >&2; exit 1; fi
  sleep 1
done
echo "nodes: $($k get nodes --no-headers | wc -l) Ready"
%s%s`, etcdCheck(topology, cp, len(masters)), direct.String())
}

// endpointReadyScript waits up to 30 s for a ready apiserver through
// endpoint (host:port), as the host running it resolves the name.
func endpointReadyScript(endpoint string) string {
	return fmt.Sprintf(
		"i=0; until curl -sfk --max-time 3 %s >/dev/null; do i=$((i+1)); [ $i -ge 30 ] && { echo %s >&2; exit 1; }; sleep 1; done",
		ssh.Quote("https://"+endpoint+"/readyz"), ssh.Quote("no ready apiserver through https://"+endpoint))
}
