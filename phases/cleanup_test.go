package phases

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// TestVerifiedCleanUpNamesWhatIsLeft runs the frame of every clean-up
// (phases/verified-cleanup) with checks that find things left and checks
// that do not.
func TestVerifiedCleanUpNamesWhatIsLeft(t *testing.T) {
	frame := scripts.Render("phases/verified-cleanup", nil).String()
	cases := []struct {
		name     string
		script   string
		wantCode int
		wantErr  string
	}{
		{"nothing left", frame + "if false; then still_present a; fi\nif [ -e /nonexistent-kubeha ]; then still_present b; fi\nverified\n", 0, ""},
		{"two things left", frame + "if true; then still_present 'the cni0 bridge'; fi\nif false; then still_present x; fi\n" +
			"if true; then still_present 'iptables chains KUBE-*'; fi\nverified\n", 1,
			"still present after the clean-up:\n  the cni0 bridge\n  iptables chains KUBE-*\nrun kubeha reset again; what stays after that, remove by hand (README, Reset)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tc.script)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || stderr.String() != tc.wantErr {
				t.Fatalf("exit %d, stderr %q; want exit %d, stderr %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
}

// TestNetworkCleanUpOnARealKernel plants in a network namespace what a node
// of a reset cluster keeps after kubeadm reset (kube-proxy's and the
// kubelet's KUBE-* chains in the nft and the legacy backend, the portmap
// plugin's CNI-* chains, kube-proxy's nftables table, cni0 with a pod's veth
// and the old Pod CIDR's gateway address, routes to other nodes' Pod CIDRs,
// one through a link without carrier and one blackhole, and to the Service
// CIDR) next to an operator's own rules (podman's CNI-FORWARD chain among
// them), table, interfaces and route; runs the
// kube-proxy, cni and routes clean-up scripts there with the real iptables,
// nft and ip; and compares what is left, line by line, with the operator's
// state alone. A second run must change nothing and succeed.
func TestNetworkCleanUpOnARealKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "iptables-nft", "ip6tables-nft", "nft", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	ns := fmt.Sprintf("kh-clean-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	// The scripts also remove files at fixed paths (/var/lib/cni, conflists):
	// in a private mount namespace with empty directories over those that
	// exist here, so this machine's own files are never touched.
	shield := ""
	for _, d := range []string{"/var/lib/cni", "/etc/cni", "/etc/kubeha"} {
		if _, err := os.Stat(d); err == nil {
			shield += "mount -t tmpfs kh-test " + d + "\n"
		}
	}
	inNS := func(script string) (string, error) {
		cmd := exec.Command("ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", shield+script)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	operator := `set -e
ip link set lo up
ip link add op0 type veth peer name op1; ip addr add 10.213.9.1/24 dev op0; ip link set op1 up; ip link set op0 up
ip route add 192.0.2.0/24 via 10.213.9.2
iptables-nft -A INPUT -s 192.0.2.7/32 -j DROP
iptables-nft -N OPERATOR-LOG; iptables-nft -A OPERATOR-LOG -j RETURN; iptables-nft -A FORWARD -j OPERATOR-LOG
iptables-nft -t nat -A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE
ip6tables-nft -A INPUT -s 2001:db8::7/128 -j DROP
nft add table inet operator; nft add chain inet operator in '{ type filter hook input priority 0; }'
iptables-nft -N CNI-FORWARD; iptables-nft -A FORWARD -j CNI-FORWARD
iptables-legacy -A INPUT -s 192.0.2.8/32 -j DROP
ip link add pr0 type veth peer name pr1; ip link set pr0 up
`
	if out, err := inNS(operator); err != nil {
		t.Fatalf("operator's state: %v\n%s", err, out)
	}
	// want is the operator's state alone, as the probes below print it. A
	// legacy table is shown only when it holds more than empty built-in
	// chains: the kernel cannot delete a legacy table once made, and an
	// empty one does nothing.
	probe := `iptables-nft-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]$//'
ip6tables-nft-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]$//'
iptables-legacy-save | grep -v '^#' | sed 's/\[[0-9:]*\]$//' | awk '
  /^[*]/ { block = $0 "\n"; keep = 0; next }
  /^COMMIT$/ { if (keep) printf "%s%s\n", block, $0; next }
  { block = block $0 "\n"; if ($0 !~ /^:[A-Z]+ ACCEPT $/) keep = 1 }'
nft list tables | grep -v -e '^table ip filter$' -e '^table ip nat$' -e '^table ip6 filter$'
ip -o link show | awk '{print $2}'
ip route show
`
	want, err := inNS(probe)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, want)
	}
	cluster := `set -e
ip link add cni0 type bridge; ip addr add 10.244.2.1/24 dev cni0; ip link set cni0 up
ip link add vethpod type veth peer name eth0pod; ip link set vethpod master cni0; ip link set vethpod up
ip route add 10.244.1.0/24 via 10.213.9.3
ip route add 10.244.3.0/24 via 10.213.9.4
ip route add 10.96.0.0/12 via 10.213.9.2
iptables-nft -N KUBE-FIREWALL; iptables-nft -A KUBE-FIREWALL -j RETURN; iptables-nft -I INPUT -j KUBE-FIREWALL
iptables-nft -N KUBE-FORWARD; iptables-nft -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
iptables-nft -t nat -N KUBE-SERVICES; iptables-nft -t nat -N KUBE-SVC-X; iptables-nft -t nat -A KUBE-SERVICES -j KUBE-SVC-X
iptables-nft -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
iptables-nft -t nat -N KUBE-POSTROUTING; iptables-nft -t nat -A POSTROUTING -j KUBE-POSTROUTING
iptables-nft -t nat -N CNI-HOSTPORT-DNAT; iptables-nft -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
iptables-nft -t mangle -N KUBE-KUBELET-CANARY
ip6tables-nft -N KUBE-FIREWALL; ip6tables-nft -A INPUT -j KUBE-FIREWALL
nft add table ip kube-proxy; nft add chain ip kube-proxy services
nft add table ip6 kube-proxy
iptables-legacy -N KUBE-FIREWALL; iptables-legacy -I INPUT -j KUBE-FIREWALL
iptables-legacy -t nat -N KUBE-POSTROUTING; iptables-legacy -t nat -A POSTROUTING -j KUBE-POSTROUTING
ip route add 10.244.7.0/24 dev pr0
ip route add blackhole 10.244.9.0/24
`
	if out, err := inNS(cluster); err != nil {
		t.Fatalf("cluster's leftovers: %v\n%s", err, out)
	}
	n := inventory.Network{PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/12"}
	for round := 1; round <= 2; round++ {
		for name, s := range map[string]scripts.Script{
			"kube-proxy": kubeProxyCleanUp(),
			"cni":        cniCleanUp(inventory.CNIBridge),
			"routes":     routesCleanUp(n),
		} {
			if out, err := inNS(s.String()); err != nil {
				t.Fatalf("round %d, %s clean-up: %v\n%s", round, name, err, out)
			}
		}
		got, err := inNS(probe)
		if err != nil {
			t.Fatalf("probe: %v\n%s", err, got)
		}
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		if !slices.Equal(gl, wl) {
			t.Fatalf("round %d: after the clean-up\n%s\nwant the operator's state alone:\n%s", round, got, want)
		}
	}
}

// TestRenderedLBConfigsCarryTheManagedHeader: reset tells kubeha's
// haproxy.cfg and keepalived.conf from the distribution's by managedPattern,
// so every one the load balancer renders must begin with it.
func TestRenderedLBConfigsCarryTheManagedHeader(t *testing.T) {
	examples, _ := filepath.Glob("../examples/*.yaml")
	seen := 0
	for _, ex := range examples {
		c, _, err := inventory.Load(ex)
		if err != nil {
			t.Fatal(err)
		}
		files, err := (&ConfigureLoadBalancer{}).Files(context.Background(), OfflineView{C: c})
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		for _, f := range files {
			if !slices.Contains(distroLBFiles, f.Path) {
				continue
			}
			seen++
			first, _, _ := strings.Cut(string(f.Content), "\n")
			if ok, _ := regexp.MatchString(managedPattern, first); !ok {
				t.Errorf("%s %s %s: first line %q does not match %q", ex, f.Host, f.Path, first, managedPattern)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no example renders haproxy.cfg or keepalived.conf")
	}
}

// TestFlannelCleanUpOnARealKernel plants in a network namespace what
// flannel (kube-flannel.yml, run through cni: manifest) leaves on a node
// after kubeadm reset: flannel.1 (VXLAN) with a route to another node's
// Pod CIDR through it, cni0 with a pod's veth, flanneld's FLANNEL-* chains
// and the rules that jump to them (its iptables mode, the manifest's
// default) and its nftables tables (EnableNFTables), /run/flannel and the
// plugin its init container copies to /opt/cni/bin/flannel, next to an
// operator's rule, table, interface and route; runs the manifest CNI's
// clean-up twice with the real ip, iptables and nft; and compares what is
// left with the operator's state alone. /run and /opt are private tmpfs
// mounts of the test, so this machine's own files are never touched.
func TestFlannelCleanUpOnARealKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network and mount namespaces)")
	}
	for _, tool := range []string{"ip", "iptables-nft", "ip6tables-nft", "nft", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	shield := ""
	for _, d := range []string{"/run", "/opt", "/var/lib/cni", "/etc/cni", "/etc/kubeha"} {
		if _, err := os.Stat(d); err == nil {
			shield += "mount -t tmpfs kh-test " + d + "\n"
		} else if d == "/run" || d == "/opt" {
			t.Skipf("no %s to shield with a tmpfs", d)
		}
	}
	ns := fmt.Sprintf("kh-flannel-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	// One process per call: the tmpfs mounts last as long as it does.
	inNS := func(script string) (string, error) {
		cmd := exec.Command("ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", shield+script)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cleanUp := filepath.Join(t.TempDir(), "cni-cleanup.sh")
	if err := os.WriteFile(cleanUp, []byte(cniCleanUp(inventory.CNIManifest).String()), 0o644); err != nil {
		t.Fatal(err)
	}
	operator := `set -e
ip link set lo up
ip link add op0 type veth peer name op1; ip addr add 10.213.9.1/24 dev op0; ip link set op1 up; ip link set op0 up
ip route add 192.0.2.0/24 via 10.213.9.2
iptables-nft -A INPUT -s 192.0.2.7/32 -j DROP
iptables-nft -A FORWARD -s 192.0.2.9/32 -j DROP
nft add table inet operator
`
	if out, err := inNS(operator); err != nil {
		t.Fatalf("operator's state: %v\n%s", err, out)
	}
	probe := `iptables-nft-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]$//'
ip6tables-nft-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]$//'
nft list tables | sort
ip -o link show | awk '{print $2}'
ip route show
`
	want, err := inNS(probe)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, want)
	}
	flannel := `set -e
ip link add flannel.1 type vxlan id 1 local 10.213.9.1 dev op0 dstport 8472 nolearning
ip addr add 10.244.2.0/32 dev flannel.1; ip link set flannel.1 up
ip route add 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink
ip link add cni0 type bridge; ip addr add 10.244.2.1/24 dev cni0; ip link set cni0 up
ip link add vethpod type veth peer name eth0pod; ip link set vethpod master cni0; ip link set vethpod up
iptables-nft -t nat -N FLANNEL-POSTRTG
iptables-nft -t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
iptables-nft -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE
iptables-nft -N FLANNEL-FWD
iptables-nft -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
iptables-nft -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
nft add table ip flannel-ipv4; nft add chain ip flannel-ipv4 postrtg '{ type nat hook postrouting priority srcnat; }'
nft add table ip6 flannel-ipv6
mkdir -p /run/flannel /opt/cni/bin
echo 'FLANNEL_SUBNET=10.244.2.1/24' > /run/flannel/subnet.env
echo 'a plugin' > /opt/cni/bin/flannel
ip -d link show flannel.1 | grep -q 'vxlan id 1 '
`
	out, err := inNS(flannel + "sh " + cleanUp + "\nsh " + cleanUp + " >/dev/null\n" +
		"for p in /run/flannel /opt/cni/bin/flannel; do if [ -e $p ]; then echo \"left: $p\"; fi; done\n")
	if err != nil {
		t.Fatalf("flannel's state, then the clean-up twice: %v\n%s", err, out)
	}
	if strings.Contains(out, "left: ") {
		t.Errorf("files left:\n%s", out)
	}
	for _, w := range []string{"removed flannel.1", "removed cni0", "removed the ip flannel-ipv4 table"} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("the clean-up did not say %q:\n%s", w, out)
		}
	}
	got, err := inNS(probe)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, got)
	}
	if got != want {
		t.Fatalf("after the clean-up\n%s\nwant the operator's state alone:\n%s", got, want)
	}
}
