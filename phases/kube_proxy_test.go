package phases

import (
	"fmt"
	"testing"

	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

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

// TestProxyModeScripts runs the scripts that ask the local kube-proxy for
// its mode with curl stubbed: the probe prints a mode or nothing and always
// succeeds; the wait ends when kube-proxy reports the mode, and otherwise
// fails saying what it reports instead.
func TestProxyModeScripts(t *testing.T) {
	curl := func(answer string, code int) string {
		return fmt.Sprintf(`"curl "*) printf '%%s' %s; exit %d ;;`, ssh.Quote(answer), code)
	}
	for _, tc := range []struct {
		name   string
		curl   string
		stdout string
	}{
		{"a mode", curl("ipvs", 0), "ipvs\n"},
		{"no kube-proxy", curl("", 7), ""},
		{"an HTTP error", curl("", 22), ""},
		{"not a mode", curl("<html>", 0), ""},
	} {
		t.Run("probe: "+tc.name, func(t *testing.T) {
			r := runWithStubs(t, proxyModeScript(), tc.curl, "curl")
			if r.code != 0 || r.stdout != tc.stdout {
				t.Errorf("exit %d, stdout %q; want 0, %q (stderr %q)", r.code, r.stdout, tc.stdout, r.stderr)
			}
		})
	}
	const hint = "; see: kubectl -n kube-system logs -l k8s-app=kube-proxy\n"
	for _, tc := range []struct {
		name   string
		curl   string
		code   int
		stderr string
	}{
		{"reported", curl("ipvs", 0), 0, ""},
		{"another mode", curl("iptables", 0), 1, "kube-proxy does not report mode ipvs after 1 s\nkube-proxy reports: iptables" + hint},
		{"no kube-proxy", curl("", 7), 1, "kube-proxy does not report mode ipvs after 1 s\nkube-proxy reports: nothing" + hint},
	} {
		t.Run("wait: "+tc.name, func(t *testing.T) {
			r := runWithStubs(t, scripts.Render("phases/wait-proxy-mode", waitProxyModeData{Mode: "ipvs", Secs: 1}), tc.curl, "curl")
			if r.code != tc.code || r.stderr != tc.stderr {
				t.Errorf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}
