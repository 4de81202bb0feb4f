//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/machines"
)

// TestStaticPodsKeepalivedHAProxy: seed 003, the kubeadm HA guide.
// keepalived and haproxy run as static pods on the masters, started by the
// kubelet with the control plane; the distribution's own haproxy and
// keepalived services are stopped. The VIP holder crashes: the endpoint
// comes back through another master's pods.
// The cluster is built through the installer (kubeha tui) in tmux.
func TestStaticPodsKeepalivedHAProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	// Seed 003's hosts also route the Pod and Service CIDRs through eth1,
	// a network whose gateway is not the default route.
	c := newClusterWith(t, ctx, clusterOpts{
		lb:        "loadBalancer: {vip: " + vip + ", staticPods: true, images: {haproxy: " + machines.LBImage + ", keepalived: " + machines.LBImage + "}}",
		network:   "{kubeProxyMode: ipvs, kubeProxyFallbackMode: iptables, podRoutes: {enabled: true, interface: eth1, gateway: " + machines.SecondGateway + "}}",
		secondNet: true,
	})
	found := c.operatorHosts(ctx, t, []string{"m1", "m2", "m3", "w1", "w2"})
	// Built through the installer in tmux, as an operator would.
	c.applyThroughInstaller(ctx, t)

	pods, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "pods", "-l", "app.kubernetes.io/managed-by=kubeha", "--no-headers")
	if err != nil {
		t.Fatalf("%v %s", err, pods)
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		for _, p := range []string{"kubeha-haproxy-" + m, "kubeha-keepalived-" + m} {
			if !strings.Contains(pods, p+" ") || !strings.Contains(lineOf(pods, p), "Running") {
				t.Errorf("static pod %s not Running:\n%s", p, pods)
			}
		}
		out, _ := c.machine(m).Exec(ctx, "sh", "-c", "systemctl is-active haproxy keepalived || true")
		if hasLine(out, "active") {
			t.Errorf("%s: the host's haproxy/keepalived services still run beside the static pods:\n%s", m, out)
		}
	}
	t.Logf("static pods:\n%s", pods)

	// A second apply changes nothing: the manifests carry the configs' hash,
	// and nothing restarts.
	evs, out, _, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, lastLines(out, 20))
	}
	for _, e := range evs {
		if e.Kind == "phase-started" && e.Phase == "load-balancer" {
			t.Error("a no-change rerun redid the load balancer")
		}
	}

	t.Run("the Service CIDR routed through eth1, after a restart of the unit and a reboot", func(t *testing.T) { c.checkPodRoutes(ctx, t) })

	holder := c.vipHolder(ctx, t)
	longest := crashVIPHolder(ctx, t, holder, "https://"+vip+":16443/readyz")
	t.Logf("static-pod VIP holder %s crashed: longest run of failed requests %v (what clients feel: make bench-failover, docs/failover.md)", holder.Name, longest.Round(10*time.Millisecond))

	// The holder comes back with its routes; then reset must remove the
	// static pods, the VIP and everything else the cluster made.
	t.Run("reset leaves the masters without static pods or VIP, as kubeha found them", func(t *testing.T) {
		if err := holder.Uncrash(ctx); err != nil {
			t.Fatalf("bring %s back: %v", holder.Name, err)
		}
		c.resetToFound(ctx, t, found)
	})
}

// lineOf is the line of out that starts with prefix.
func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// hasLine says whether one of out's lines is exactly line ("active" is
// inside "inactive": substrings of systemctl's answers prove nothing).
func hasLine(out, line string) bool {
	return slices.Contains(strings.Split(out, "\n"), line)
}

// serviceRoute is the route podRoutes gives every node on a cluster built
// with clusterOpts.secondNet and the default Service CIDR. The Pod CIDR
// has none: the bridge CNI routes each node's slice through its address.
const serviceRoute = "10.96.0.0/12 via " + machines.SecondGateway + " dev eth1"

// unallocatedServiceIP is inside the Service CIDR and no Service's, so no
// kube-proxy rule takes it: a packet to it leaves by the routes alone.
const unallocatedServiceIP = "10.111.255.254"

// checkPodRoutes proves seed 003's routes on the five nodes: each has
// serviceRoute and its default route still through eth0; a packet to the
// Service CIDR reaches the gateway through eth1 (counted there, in the
// harness's namespace, by source); the route is back after it is deleted
// and the unit restarted, and after w1 reboots.
func (c *cluster) checkPodRoutes(ctx context.Context, t *testing.T) {
	nodes := []string{"m1", "m2", "m3", "w1", "w2"}
	// A counter per node at the gateway, for packets from its eth1
	// address into the Service CIDR.
	nft := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", machines.NetNS, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v %s", args, err, out)
		}
		return string(out)
	}
	nft("add", "table", "ip", "kh_routes")
	t.Cleanup(func() {
		exec.Command("ip", "netns", "exec", machines.NetNS, "nft", "delete", "table", "ip", "kh_routes").Run()
	})
	nft("add", "chain", "ip", "kh_routes", "pre", "{ type filter hook prerouting priority -300; }")
	for _, n := range nodes {
		nft("add", "rule", "ip", "kh_routes", "pre", "iifname", machines.SecondBridge, "ip", "saddr", secondIP(c.machine(n).IP), "ip", "daddr", "10.96.0.0/12", "counter")
	}
	counted := func() map[string]int {
		got := map[string]int{}
		re := regexp.MustCompile(`ip saddr (\S+) ip daddr 10\.96\.0\.0/12 counter packets (\d+)`)
		for _, m := range re.FindAllStringSubmatch(nft("list", "chain", "ip", "kh_routes", "pre"), -1) {
			var p int
			fmt.Sscan(m[2], &p)
			got[m[1]] = p
		}
		return got
	}
	// routed checks node's routes and that three pings to the Service
	// CIDR (unanswered) reach the gateway through eth1.
	routed := func(t *testing.T, node string) {
		t.Helper()
		m := c.machine(node)
		out, err := m.Exec(ctx, "sh", "-c", "ip route show 10.96.0.0/12; ip route show default")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		if err != nil || !slices.Contains(lines, serviceRoute) || !slices.Contains(lines, "default via "+machines.Gateway+" dev eth0") || len(lines) != 2 {
			t.Errorf("%s: want %q and the default route through eth0, alone: %v\n%s", node, serviceRoute, err, out)
			return
		}
		src := secondIP(m.IP)
		before := counted()[src]
		m.Exec(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "1", unallocatedServiceIP)
		if after := counted()[src]; after < before+3 {
			t.Errorf("%s: %d packets from %s into the Service CIDR reached the gateway through eth1 after 3 pings, want 3", node, after-before, src)
		}
	}
	for _, n := range nodes {
		routed(t, n)
	}
	// The unit puts back a route that went.
	for _, n := range nodes {
		if out, err := c.machine(n).Exec(ctx, "sh", "-c", "ip route del 10.96.0.0/12 && systemctl restart kubeha-routes"); err != nil {
			t.Fatalf("%s: delete the route and restart kubeha-routes: %v %s", n, err, out)
		}
		routed(t, n)
	}
	// And so does a reboot; w1 is then Ready again.
	w1 := c.machine("w1")
	if err := w1.Restart(ctx); err != nil {
		t.Fatalf("reboot w1: %v", err)
	}
	// The operator's own runtime rule, table and route went with the
	// reboot; their boot configuration would bring them back, and reset
	// must then keep them.
	if out, err := w1.Exec(ctx, "sh", "-c", operatorState); err != nil {
		t.Fatalf("w1: the operator's state again after the reboot: %v %s", err, out)
	}
	eventually(ctx, t, 2*time.Minute, "kubeha-routes active on w1 after its reboot", func() (bool, string) {
		out, _ := w1.Exec(ctx, "systemctl", "is-active", "kubeha-routes")
		return strings.TrimSpace(out) == "active", out
	})
	routed(t, "w1")
	eventually(ctx, t, 3*time.Minute, "w1 Ready after its reboot", func() (bool, string) {
		out, err := c.kubectlOut(ctx, "get", "node", "w1", "--no-headers")
		f := strings.Fields(out)
		return err == nil && len(f) > 1 && f[1] == "Ready", out
	})
}
