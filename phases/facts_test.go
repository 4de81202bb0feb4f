package phases

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
)

func TestParseFacts(t *testing.T) {
	out := "os=debian\nosversion=12\ninit=systemd\nselinux=\nswap=1\niface=eth0\nkubeadm=v1.37.2\nkubelet=v1.37.2\ncontainerd=1\nadminconf=0\nkubeletconf=1\nresolvers=127.0.0.53 \nfirewalld=0\ncniunlinked=1\n"
	got := parseFacts(out)
	want := &Facts{OSID: "debian", OSVersion: "12", Init: "systemd", SwapOn: true, Interface: "eth0", HasAddress: true,
		Kubeadm: "v1.37.2", Kubelet: "v1.37.2", Containerd: true, KubeletConf: true, Resolvers: []string{"127.0.0.53"}, CNIUnlinked: true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !got.LoopbackResolversOnly() {
		t.Error("127.0.0.53 alone is loopback-only")
	}
	got.Resolvers = append(got.Resolvers, "10.0.0.2")
	if got.LoopbackResolversOnly() {
		t.Error("a real upstream is not loopback-only")
	}
}

func TestIPVSCheck(t *testing.T) {
	master := inventory.Host{Name: "m1", Role: inventory.RoleMaster}
	lbHost := inventory.Host{Name: "lb1", Role: inventory.RoleLoadBalancer}
	tests := []struct {
		name      string
		mode, fb  string
		host      inventory.Host
		ipvs      bool
		wantFatal bool
		wantMsg   string
	}{
		{"ipvs present", "ipvs", "", master, true, false, ""},
		{"iptables needs nothing", "iptables", "", master, false, false, ""},
		{"missing, no fallback: names the modules", "ipvs", "", master, false, true, "ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh"},
		{"missing, fallback: warning", "ipvs", "nftables", master, false, false, "nftables mode cluster-wide"},
		{"LB hosts run no kube-proxy", "ipvs", "", lbHost, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &inventory.Cluster{}
			c.Spec.Network.KubeProxyMode, c.Spec.Network.KubeProxyFallbackMode = tt.mode, tt.fb
			msg, fatal := ipvsCheck(c, tt.host, &Facts{IPVS: tt.ipvs})
			if fatal != tt.wantFatal || !strings.Contains(msg, tt.wantMsg) || (tt.wantMsg == "" && msg != "") {
				t.Fatalf("got %q fatal=%v", msg, fatal)
			}
		})
	}
}

func TestInterrupted(t *testing.T) {
	tests := []struct {
		out  string
		want bool
	}{
		{"kubeadmfiles=0\nnodedone=0\n", false},                      // a fresh host
		{"kubeadmfiles=1\nnodedone=0\ncpdone=0\n", true},             // kubeadm started, never finished
		{"kubeadmfiles=1\nnodedone=1\ncpdone=0\n", false},            // a finished worker
		{"kubeadmfiles=1\nnodedone=1\ncpdone=1\nadminconf=1", false}, // a finished master
	}
	for _, tt := range tests {
		if got := parseFacts(tt.out).Interrupted(); got != tt.want {
			t.Errorf("%q: Interrupted() = %v", tt.out, got)
		}
	}
}
