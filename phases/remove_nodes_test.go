package phases

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
)

// TestLeavingHosts: the cluster's nodes the inventory does not list are
// taken out, reachable when the journal remembers them; a remembered
// dedicated load-balancer host too, and a remembered host that is no node
// of the cluster (reset and forgotten); nodes the inventory lists are not.
func TestLeavingHosts(t *testing.T) {
	env := &Env{Cluster: upgradeCluster("v1.37.2"), Former: []inventory.Host{
		{Name: "m4", Address: "192.0.2.4", Role: inventory.RoleMaster},
		{Name: "lb9", Address: "192.0.2.9", Role: inventory.RoleLoadBalancer},
		{Name: "w5", Address: "192.0.2.5", InternalAddress: "192.0.2.5", Role: inventory.RoleWorker},
	}}
	s := controlplane.ClusterState{Nodes: []controlplane.NodeState{
		{Name: "m1", Ready: true, ControlPlane: true},
		{Name: "m4", Ready: false, ControlPlane: true, InternalIP: "10.0.0.4"},
		{Name: "w9", Ready: true, InternalIP: "10.0.0.99"},
	}}
	var got []string
	for _, l := range leavingHosts(env, s) {
		got = append(got, fmt.Sprintf("%s %s %s known=%v in=%v: %s", l.Host.Name, l.Host.Role, l.Host.InternalAddress, l.Known, l.InCluster, removeReason(l)))
	}
	want := []string{
		"m4 master 10.0.0.4 known=true in=true: a node the inventory no longer lists: drain, stop kubeha's load balancer there, remove its etcd member, kubeadm reset, delete the node",
		"w9 worker 10.0.0.99 known=false in=true: a node the inventory no longer lists: drain, delete the node",
		"lb9 loadbalancer  known=true in=false: a load-balancer host the inventory no longer lists: stop kubeha's load balancer there",
		"w5 worker 192.0.2.5 known=true in=false: a host an earlier run was given, no longer in the inventory nor a node of the cluster: stop kubeha's load balancer there, kubeadm reset",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
