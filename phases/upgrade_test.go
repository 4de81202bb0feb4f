package phases

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
)

// upgradeCluster is three masters and two workers wanting version.
func upgradeCluster(version string) *inventory.Cluster {
	c := &inventory.Cluster{Spec: inventory.Spec{KubernetesVersion: version}}
	for _, n := range []string{"m1", "m2", "m3"} {
		c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: n, Role: inventory.RoleMaster})
	}
	for _, n := range []string{"w1", "w2"} {
		c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: n, Role: inventory.RoleWorker})
	}
	return c
}

// clusterAt is a cluster state: stored version, kube-proxy's tag and
// "name=kubelet[,cordoned-for]" per node.
func clusterAt(version, proxy string, nodes ...string) controlplane.ClusterState {
	s := controlplane.ClusterState{Version: version, ProxyImage: "registry.k8s.io/kube-proxy:" + proxy}
	for _, n := range nodes {
		name, rest, _ := strings.Cut(n, "=")
		kubelet, upgrading, _ := strings.Cut(rest, ",")
		s.Nodes = append(s.Nodes, controlplane.NodeState{Name: name, KubeletVersion: kubelet, Ready: true, Upgrading: upgrading, Unschedulable: upgrading != ""})
	}
	return s
}

func tags(m1, m2, m3 string) map[string]string {
	return map[string]string{"m1": m1, "m2": m2, "m3": m3}
}

// planString is a plan as "host:mode" words, "-" for no kubeadm step.
func planString(p []nodeUpgrade) string {
	var w []string
	for _, u := range p {
		mode := u.Mode
		if mode == "" {
			mode = "-"
		}
		w = append(w, u.Host+":"+mode)
	}
	return strings.Join(w, " ")
}

func TestPlanUpgrade(t *testing.T) {
	const old, new = "v1.36.3", "v1.37.2"
	all := func(v string) []string {
		return []string{"m1=" + v, "m2=" + v, "m3=" + v, "w1=" + v, "w2=" + v}
	}
	for _, tc := range []struct {
		name    string
		want    string // the inventory's version
		state   controlplane.ClusterState
		tags    map[string]string
		plan    string
		failure string // a substring of the error; "" for none
	}{
		{name: "nothing to do", want: new, state: clusterAt(new, new, all(new)...), tags: tags(new, new, new), plan: ""},
		{name: "a minor up: first master applies, the rest follow in order", want: new,
			state: clusterAt(old, old, all(old)...), tags: tags(old, old, old),
			plan: "m1:apply m2:node m3:node w1:node w2:node"},
		{name: "a patch up", want: "v1.36.9", state: clusterAt(old, old, all(old)...), tags: tags(old, old, old),
			plan: "m1:apply m2:node m3:node w1:node w2:node"},
		{name: "cut short after m1's control plane, before its kubelet", want: new,
			state: clusterAt(new, old, "m1="+old+","+new, "m2="+old, "m3="+old, "w1="+old, "w2="+old), tags: tags(new, old, old),
			plan: "m1:node m2:node m3:node w1:node w2:node"},
		{name: "cut short in apply's control plane: the stored version still old", want: new,
			state: clusterAt(old, old, "m1="+old+","+new, "m2="+old, "m3="+old, "w1="+old, "w2="+old), tags: tags(new, old, old),
			plan: "m1:apply m2:node m3:node w1:node w2:node"},
		{name: "masters done but the addons, which the last master's upgrade node does", want: new,
			state: clusterAt(new, old, "m1="+new, "m2="+new, "m3="+new, "w1="+old, "w2="+old), tags: tags(new, new, new),
			plan: "m3:node w1:node w2:node"},
		{name: "cut short during m2: m1 done and given back", want: new,
			state: clusterAt(new, old, "m1="+new, "m2="+old+","+new, "m3="+old, "w1="+old, "w2="+old), tags: tags(new, old, old),
			plan: "m2:node m3:node w1:node w2:node"},
		{name: "cut short after m2's kubelet, before its uncordon", want: new,
			state: clusterAt(new, old, "m1="+new, "m2="+new+","+new, "m3="+old, "w1="+old, "w2="+old), tags: tags(new, new, old),
			plan: "m2:node m3:node w1:node w2:node"},
		{name: "an interrupted apply on m2 (m1 untouched) finishes there", want: new,
			state: clusterAt(old, old, all(old)...), tags: tags(old, new, old),
			plan: "m2:apply m1:node m3:node w1:node w2:node"},
		{name: "a worker left cordoned", want: new,
			state: clusterAt(new, new, "m1="+new, "m2="+new, "m3="+new, "w1="+new+","+new, "w2="+new), tags: tags(new, new, new),
			plan: "w1:-"},
		{name: "a node not in the cluster yet joins later", want: new,
			state: clusterAt(old, old, "m1="+old, "m2="+old, "w1="+old), tags: map[string]string{"m1": old, "m2": old},
			plan: "m1:apply m2:node w1:node"},
		{name: "downgrade", want: "v1.35.1", state: clusterAt(old, old, all(old)...), tags: tags(old, old, old),
			failure: "kubeadm does not downgrade; set spec.kubernetesVersion: v1.36.3"},
		{name: "two minors at once", want: "v1.38.0", state: clusterAt(old, old, all(old)...), tags: tags(old, old, old),
			failure: "one minor at a time; set spec.kubernetesVersion to the newest v1.37 patch, apply, then v1.38.0"},
		{name: "a kubelet newer than the inventory", want: "v1.36.4", state: clusterAt("v1.36.4", "v1.36.4", "m1=v1.37.0"), tags: map[string]string{"m1": "v1.36.4"},
			failure: "node m1 runs kubelet v1.37.0, newer than the inventory's v1.36.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planUpgrade(upgradeCluster(tc.want), tc.state, tc.tags)
			if tc.failure != "" {
				if err == nil || !strings.Contains(err.Error(), tc.failure) {
					t.Fatalf("error %v, want one saying %q", err, tc.failure)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := planString(p); got != tc.plan {
				t.Errorf("plan %q, want %q", got, tc.plan)
			}
			for _, u := range p {
				if u.Reason == "" {
					t.Errorf("%s: no reason", u.Host)
				}
			}
		})
	}
}

// TestUpgradePlanSaysExternalEtcdStays: with external etcd, the line of
// the master that runs kubeadm upgrade apply says the etcd members keep
// their version (kubeadm upgrades no external etcd); with stacked etcd,
// which kubeadm upgrades with each master, it says nothing of etcd.
func TestUpgradePlanSaysExternalEtcdStays(t *testing.T) {
	const old, new = "v1.36.3", "v1.37.2"
	state := clusterAt(old, old, "m1="+old, "m2="+old, "m3="+old, "w1="+old, "w2="+old)
	for _, tc := range []struct {
		name string
		etcd func(c *inventory.Cluster)
		want string // in m1's reason; "" for no word of etcd
	}{
		{"stacked", func(*inventory.Cluster) {}, ""},
		{"kubeha's etcd", func(c *inventory.Cluster) {
			c.Spec.Etcd.Topology = inventory.EtcdExternal
			for _, n := range []string{"e1", "e2", "e3"} {
				c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: n, Role: inventory.RoleEtcd})
			}
		}, "control plane v1.36.3 → v1.37.2, kubelet v1.36.3 → v1.37.2, the etcd members on e1, e2, e3 keep their version (kubeadm upgrades no external etcd)"},
		{"the operator's etcd", func(c *inventory.Cluster) {
			c.Spec.Etcd = inventory.Etcd{Topology: inventory.EtcdExternal, External: &inventory.ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379"}}}
		}, "your etcd keeps its version (kubeadm upgrades no external etcd)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := upgradeCluster(new)
			tc.etcd(c)
			p, err := planUpgrade(c, state, tags(old, old, old))
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range p {
				says := strings.Contains(u.Reason, "etcd")
				switch {
				case u.Mode == "apply" && tc.want == "" && says, u.Mode != "apply" && says:
					t.Errorf("%s (%s): %q speaks of etcd", u.Host, u.Mode, u.Reason)
				case u.Mode == "apply" && !strings.Contains(u.Reason, tc.want):
					t.Errorf("%s: %q lacks %q", u.Host, u.Reason, tc.want)
				}
			}
		})
	}
}

// TestHostArtifactsStagesForAnUpgrade: a node at another version gets the
// bundle's binaries in the upgrade stage, everything else where it goes; a
// node not joined yet, or at the bundle's version, gets them installed.
func TestHostArtifactsStagesForAnUpgrade(t *testing.T) {
	m := &bundle.Manifest{KubernetesVersion: "v1.37.2", Files: []bundle.File{
		{Path: "bin/kubelet", Kind: bundle.KindBinary, Target: "/usr/bin/kubelet"},
		{Path: "units/kubelet.service", Kind: bundle.KindUnit, Target: "/usr/lib/systemd/system/kubelet.service"},
		{Path: "images/k.tar", Kind: bundle.KindImage},
	}}
	for _, tc := range []struct {
		facts Facts
		want  string
	}{
		{Facts{NodeDone: true, Kubelet: "v1.36.3"}, "/var/lib/kubeha/upgrade/v1.37.2/kubelet /usr/lib/systemd/system/kubelet.service "},
		{Facts{NodeDone: true, Kubelet: "v1.37.2"}, "/usr/bin/kubelet /usr/lib/systemd/system/kubelet.service "},
		{Facts{NodeDone: false, Kubelet: "v1.36.3"}, "/usr/bin/kubelet /usr/lib/systemd/system/kubelet.service "},
		{Facts{NodeDone: true}, "/usr/bin/kubelet /usr/lib/systemd/system/kubelet.service "},
	} {
		var got []string
		for _, f := range hostArtifacts(&tc.facts, m) {
			got = append(got, f.Target)
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("%+v: targets %q, want %q", tc.facts, s, tc.want)
		}
	}
	if m.Files[0].Target != "/usr/bin/kubelet" {
		t.Error("hostArtifacts changed the manifest")
	}
}

// TestUpgradeRestartsKubeVIP upgrades m2: with kube-vip, its kube-vip is
// restarted once its control plane is back (kubeadm upgrade renewed
// admin.conf, which kube-vip reads only at start) and before the node is
// given back; not where kubeadm did not run (the kubelet alone), not on a
// worker, not in another mode.
func TestUpgradeRestartsKubeVIP(t *testing.T) {
	master := []string{"m1: drain m2", "m2: upgrade the node", "m2: gather facts", "m2: wait for the apiserver", "m2: wait for etcd"}
	given := []string{"m1: wait for m2", "m1: uncordon m2"}
	for _, tt := range []struct {
		name string
		mode string // spec.loadBalancer.mode
		u    nodeUpgrade
		want []string
	}{
		{"kube-vip, kubeadm upgrade node", inventory.ModeKubeVIP, nodeUpgrade{Host: "m2", Master: true, Mode: "node"},
			slices.Concat(master, []string{"m2: restart kube-vip"}, given)},
		{"kube-vip, kubeadm upgrade apply", inventory.ModeKubeVIP, nodeUpgrade{Host: "m2", Master: true, Mode: "apply"},
			slices.Concat([]string{"m2: kubeadm upgrade plan"}, master, []string{"m2: restart kube-vip"}, given)},
		{"kube-vip, the kubelet alone", inventory.ModeKubeVIP, nodeUpgrade{Host: "m2", Master: true},
			slices.Concat(master, given)},
		{"kube-vip, a worker", inventory.ModeKubeVIP, nodeUpgrade{Host: "w1", Mode: "node"},
			[]string{"m1: drain w1", "w1: upgrade the node", "w1: gather facts", "m1: wait for w1", "m1: uncordon w1"}},
		{"external", inventory.ModeExternal, nodeUpgrade{Host: "m2", Master: true, Mode: "node"},
			slices.Concat(master, given)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := upgradeCluster("v1.37.2")
			c.Spec.LoadBalancer = inventory.LoadBalancer{Mode: tt.mode, VIP: "10.0.0.100"}
			// External etcd: the members' health is the operator's.
			c.Spec.Etcd.Topology = inventory.EtcdExternal
			hosts := &orderedHosts{}
			log := events.Emitter{Sink: events.Discard}
			env := &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Secrets: &events.Secrets{}, Log: log, Concurrency: 4, results: &hostResults{},
				ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, t.TempDir()).For(log)}
			if err := upgradeNode(context.Background(), env, tt.u); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(hosts.ran, tt.want) {
				t.Errorf("ran:\n%s\nwant:\n%s", strings.Join(hosts.ran, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
