package phases

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/kubeha/kubeha/inventory"
)

// TestEtcdHostsAreNotNodes: etcd hosts run a kubelet (containerd, kubeadm,
// the kubelet and the images are required and uploaded there) but are no
// node of the cluster: no kubeadm join or reset, no kube-proxy, CNI or
// routes, no bridge or ipvs modules, no ip_vs check; firewalld opens
// etcd's ports there and nothing else.
func TestEtcdHostsAreNotNodes(t *testing.T) {
	c, _, err := inventory.Load("../examples/external-etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := c.Host("etcd-2")
	w, _ := c.Host("k4")
	if got := nodeNames(c); slices.Contains(got, "etcd-2") || !slices.Contains(got, "k4") {
		t.Errorf("nodes %v", got)
	}
	if got := kubeletHostNames(c); !slices.Contains(got, "etcd-2") || !slices.Contains(got, "k4") {
		t.Errorf("kubelet hosts %v", got)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"modules", Modules(e, inventory.ProxyModeIPVS), []string{"overlay"}},
		{"sysctl", string(sysctlFile(c, e)), "# Managed by kubeha.\n"},
		{"firewalld", firewalldRules(c, e), []firewalldRule{{Kind: "port", Value: "2379-2380/tcp"}}},
		{"ipvs check", func() string { m, _ := ipvsCheck(c, e, &Facts{}); return m }(), ""},
		{"a worker's ipvs check", func() bool { _, fatal := ipvsCheck(c, w, &Facts{}); return fatal }(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := json.Marshal(tt.got)
			wa, _ := json.Marshal(tt.want)
			if string(g) != string(wa) {
				t.Errorf("got %s, want %s", g, wa)
			}
		})
	}
}
