package phases

import "testing"

func TestProxyModeReason(t *testing.T) {
	tests := []struct{ got, cm, want, reason string }{
		{"iptables", "iptables", "iptables", ""},
		{"", "ipvs", "ipvs", ""}, // a node that just joined: kube-proxy is starting
		{"ipvs", "iptables", "iptables", "kube-proxy runs in ipvs mode, the cluster wants iptables"},
		{"", "ipvs", "iptables", `the kube-proxy ConfigMap says mode "ipvs", the cluster wants iptables`},
		{"iptables", "", "iptables", `the kube-proxy ConfigMap says mode "", the cluster wants iptables`},
	}
	for _, tt := range tests {
		if got := proxyModeReason(tt.got, tt.cm, tt.want); got != tt.reason {
			t.Errorf("proxyModeReason(%q, %q, %q) = %q, want %q", tt.got, tt.cm, tt.want, got, tt.reason)
		}
	}
}

func TestConfigMapMode(t *testing.T) {
	for conf, want := range map[string]string{
		"apiVersion: x\nipvs:\n  mode: nested\nmode: ipvs\n": "ipvs",
		"mode: \"\"\n":   "",
		"mode: iptables": "iptables",
		"kind: x\n":      "",
	} {
		if got := configMapMode(conf); got != want {
			t.Errorf("configMapMode(%q) = %q, want %q", conf, got, want)
		}
	}
}

func TestWithProxyMode(t *testing.T) {
	tests := []struct{ name, conf, mode, want string }{
		{"replaces the top-level mode only",
			"apiVersion: kubeproxy.config.k8s.io/v1alpha1\nipvs:\n  mode: x\nmode: ipvs\nport: 1\n", "iptables",
			"apiVersion: kubeproxy.config.k8s.io/v1alpha1\nipvs:\n  mode: x\nmode: iptables\nport: 1\n"},
		{"empty mode", "kind: KubeProxyConfiguration\nmode: \"\"\n", "nftables", "kind: KubeProxyConfiguration\nmode: nftables\n"},
		{"no mode line", "kind: KubeProxyConfiguration\n", "iptables", "kind: KubeProxyConfiguration\nmode: iptables\n"},
		{"already right", "mode: iptables\n", "iptables", "mode: iptables\n"},
	}
	for _, tt := range tests {
		if got := withProxyMode(tt.conf, tt.mode); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
