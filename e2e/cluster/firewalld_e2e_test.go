//go:build e2e

package cluster

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
)

// startFirewalld starts firewalld, installed but off on every machine, on
// all of them, with Debian's default configuration (the public zone).
func (c *cluster) startFirewalld(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, m := range c.ms {
		out, err := m.Exec(ctx, "sh", "-c", "systemctl enable -q --now firewalld && firewall-cmd --state")
		if err != nil || strings.TrimSpace(out) != "running" {
			t.Fatalf("%s: firewalld not running: %v\n%s", m.Name, err, out)
		}
	}
}

// checkFirewalld compares what firewalld has open on each host, in the
// runtime and the permanent configuration alike, with what the host's
// role needs (kubeadm's "Ports and Protocols") and, on the nodes, the
// cluster's cni.ports: eth0 is in the public
// zone, which also holds the Pod and Service CIDRs and forwards within
// itself on the nodes (Debian's public zone forwards already).
func (c *cluster) checkFirewalld(ctx context.Context, t *testing.T, podSubnet string, cniPorts []string) {
	t.Helper()
	sources := "sources: " + podSubnet + " 10.96.0.0/12"
	// Each role's lines, in --list-all's order, each line's values sorted.
	ports := func(p ...string) string {
		p = append(p, cniPorts...)
		slices.Sort(p)
		return "ports: " + strings.Join(p, " ")
	}
	want := map[string][]string{
		inventory.RoleLoadBalancer: {"sources:", "ports: 6443/tcp", "protocols: vrrp", "forward: yes"},
		inventory.RoleMaster:       {sources, ports("10250/tcp", "10257/tcp", "10259/tcp", "2379-2380/tcp", "6443/tcp"), "protocols:", "forward: yes"},
		inventory.RoleWorker:       {sources, ports("10250/tcp", "30000-32767/tcp", "30000-32767/udp"), "protocols:", "forward: yes"},
	}
	// One firewall-cmd a configuration: each takes about a second.
	const list = `firewall-cmd --zone=public --list-all && firewall-cmd --permanent --zone=public --list-all`
	for _, m := range c.ms {
		role := roleOf(m.Name)
		out, err := m.Exec(ctx, "sh", "-c", list)
		if err != nil {
			t.Fatalf("%s: %v\n%s", m.Name, err, out)
		}
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
			if !slices.Contains([]string{"ports", "protocols", "sources", "forward"}, k) {
				continue
			}
			// firewalld lists in its own order: compare sorted.
			f := strings.Fields(v)
			slices.Sort(f)
			lines = append(lines, strings.TrimSpace(k+": "+strings.Join(f, " ")))
		}
		// The runtime configuration's lines, then the permanent one's.
		if both := slices.Concat(want[role], want[role]); !slices.Equal(lines, both) {
			t.Errorf("%s (%s): firewalld's public zone, runtime then permanent:\n%s\nwant:\n%s\nfrom:\n%s", m.Name, role, strings.Join(lines, "\n"), strings.Join(both, "\n"), out)
		}
	}
}
