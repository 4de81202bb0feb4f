package phases

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
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
		"m4 master 10.0.0.4 known=true in=true: a node the inventory no longer lists: drain, hand its apiserver's clients to the others, stop kubeha's load balancer there, stop its apiserver, remove its etcd member, kubeadm reset, delete the node",
		"w9 worker 10.0.0.99 known=false in=true: a node the inventory no longer lists: drain, delete the node",
		"lb9 loadbalancer  known=true in=false: a load-balancer host the inventory no longer lists: stop kubeha's load balancer there",
		"w5 worker 192.0.2.5 known=true in=false: a host an earlier run was given, no longer in the inventory nor a node of the cluster: stop kubeha's load balancer there, kubeadm reset",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// orderedHosts records every command but the control-plane probe as
// "host: name", in the order they came (ran), and answers that probe
// "ready"; everything else succeeds with no output.
type orderedHosts struct {
	mu  sync.Mutex
	ran []string
}

func (o *orderedHosts) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cmd.Name == "is it a control-plane node" {
		return ssh.Result{Stdout: "ready\n"}, nil
	}
	o.ran = append(o.ran, host+": "+cmd.Name)
	return ssh.Result{}, nil
}
func (o *orderedHosts) Upload(context.Context, string, ssh.File) error { return nil }
func (o *orderedHosts) Download(context.Context, string, string) ([]byte, error) {
	return nil, nil
}

// TestRemoveMasterOrder: a master that answers leaves without a failed
// request: drained, its apiserver put in drain on every remaining
// haproxy before its own load balancer stops (a VIP it held moves to
// haproxies that send nothing to it), then its apiserver stopped
// gracefully, and only then its etcd member removed (its apiserver would
// answer with errors) and kubeadm reset run (which kills what still runs).
// A worker has no apiserver to hand over.
func TestRemoveMasterOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		host inventory.Host
		want []string
	}{
		{"master", inventory.Host{Name: "k9", Address: "192.168.8.199", InternalAddress: "192.168.8.199", Role: inventory.RoleMaster}, []string{
			"k9: is the host there",
			"k1: drain k9",
			"k1: haproxy: drain k9", "k2: haproxy: drain k9", "k3: haproxy: drain k9",
			"k9: stop the load balancer",
			"k9: stop the apiserver",
			"k1: remove the etcd member of k9",
			"k9: kubeadm reset",
			"k9: remove kubeha's copies of admin.conf",
			"k1: delete node k9",
		}},
		{"worker", inventory.Host{Name: "k9", Address: "192.168.8.199", InternalAddress: "192.168.8.199", Role: inventory.RoleWorker}, []string{
			"k9: is the host there",
			"k1: drain k9",
			"k9: stop the load balancer",
			"k9: kubeadm reset",
			"k1: delete node k9",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := inventory.Load("../examples/keepalived-haproxy.yaml")
			if err != nil {
				t.Fatal(err)
			}
			hosts := &orderedHosts{}
			env := &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Secrets: &events.Secrets{}, Log: events.Emitter{Sink: events.Discard},
				Concurrency: 4, RemoveNodes: true, ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, t.TempDir())}
			control, err := env.ControlPlane.Control(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := removeHost(context.Background(), env, control, leaving{Host: tc.host, Known: true, InCluster: true, Ready: true}); err != nil {
				t.Fatal(err)
			}
			// The haproxy hosts are asked at once: their order among
			// themselves is not the contract.
			got := slices.Clone(hosts.ran)
			if i := slices.IndexFunc(got, func(s string) bool { return strings.Contains(s, ": haproxy: drain") }); i >= 0 {
				j := i
				for j < len(got) && strings.Contains(got[j], ": haproxy: drain") {
					j++
				}
				slices.Sort(got[i:j])
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
