//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/kubeha/kubeha/e2e/tmux"
	"github.com/kubeha/kubeha/inventory"
)

// applyThroughInstaller builds the cluster the way an operator at a
// terminal does (issue 19): the inventory file holds only m1 and what the
// installer does not ask for (this VM's kubeadm settings, the load
// balancer's static pods), known_hosts is empty, and `kubeha tui` in tmux
// is walked through: m1's host key shown and accepted, m2, m3, w1 and w2
// added and their keys accepted, the review, save, and apply under the
// live view until it says the cluster is up. The saved inventory must list
// the five hosts as the harness wrote them, and known_hosts their keys.
func (c *cluster) applyThroughInstaller(ctx context.Context, t *testing.T) {
	t.Helper()
	full, err := os.ReadFile(c.inv)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := inventory.Load(c.inv)
	if err != nil {
		t.Fatal(err)
	}
	added := []string{"m2", "m3", "w1", "w2"}
	base := string(full)
	for _, n := range added {
		m := c.machine(n)
		line := fmt.Sprintf("  - {name: %s, address: %s, role: %s}\n", n, m.IP, roleOf(n))
		if !strings.Contains(base, line) {
			t.Fatalf("the inventory has no line %q:\n%s", line, full)
		}
		base = strings.Replace(base, line, "", 1)
	}
	known := filepath.Join(c.dir, "known_hosts")
	for _, f := range []struct{ path, body string }{{c.inv, base}, {known, ""}} {
		if err := os.WriteFile(f.path, []byte(f.body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fingerprint := func(name string) string {
		k, _, _, _, err := xssh.ParseAuthorizedKey([]byte(c.machine(name).HostKey))
		if err != nil {
			t.Fatalf("%s's host key: %v", name, err)
		}
		return xssh.FingerprintSHA256(k)
	}

	start := time.Now()
	tm := tmux.Start(t, fmt.Sprintf("kh-installer-%d", os.Getpid()),
		fmt.Sprintf("cd %s && %s tui -i %s; echo EXIT=$?; sleep 3600", c.dir, c.kubeha, c.inv))
	// Each host's own row: the machines may share a host key, so a
	// fingerprint alone does not say which host's check is done.
	row := func(n, want string) {
		t.Helper()
		tm.WaitUntil(time.Minute, n+"'s row with "+want, func(s string) bool { return strings.Contains(tmux.Row(s, n), want) })
	}
	tm.WaitFor("[cluster]", "e2e")
	tm.Keys("Enter")
	// m1 comes from the file, its key unknown: shown, and accepted.
	tm.WaitFor("[hosts]")
	row("m1", "host key "+fingerprint("m1"))
	tm.Keys("y")
	row("m1", "✓ ssh ok  "+fingerprint("m1"))
	for _, n := range added {
		tm.Text(n)
		tm.Keys("Tab")
		tm.Text(c.machine(n).IP)
		if roleOf(n) == inventory.RoleWorker {
			tm.Keys("Tab", "C-u")
			tm.Text(inventory.RoleWorker)
		}
		tm.Keys("Enter")
		row(n, "host key "+fingerprint(n))
		tm.Keys("y")
		row(n, "✓ ssh ok  "+fingerprint(n))
	}
	tm.Keys("Enter")
	// keepalived+haproxy chosen on the screen, not only accepted from the
	// file: another mode shown, then this one again.
	tm.WaitFor("[load balancer]", "load balancer: ← "+inventory.ModeKeepalivedHAProxy+" →", vip)
	tm.Keys("Right")
	tm.WaitFor("load balancer: ← " + inventory.ModeLocalProxy + " →")
	tm.Keys("Left")
	tm.WaitFor("load balancer: ← "+inventory.ModeKeepalivedHAProxy+" →", vip)
	tm.Keys("Enter")
	tm.WaitFor("[network]")
	tm.Keys("Enter")
	tm.WaitFor("[review]", "VIP "+vip, "enter saves")
	tm.Keys("Enter")
	tm.WaitFor("saved", "Run `kubeha apply` on it now?")
	tm.Keys("y")
	s := tm.WaitForWithin(20*time.Minute, "press q to leave")
	if !strings.Contains(s, "✓ the cluster is up") {
		t.Fatalf("the installer's apply did not bring the cluster up:\n%s", s)
	}
	// The end screen names the endpoint and a next command that works as
	// printed (from the directory the installer ran in).
	var endpoint, next string
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "endpoint":
			endpoint = f[1]
		case len(f) > 1 && f[0] == "next":
			next = strings.Join(f[1:], " ")
		}
	}
	// The endpoint as kubeadm knows it: the inventory's name (which the
	// hosts map to the VIP) and port.
	ep := want.Spec.ControlPlaneEndpoint
	if w := fmt.Sprintf("https://%s:%d", ep.Name, ep.Port); endpoint != w || ep.Name == "" || ep.Port == 0 {
		t.Errorf("the end screen's endpoint is %q, want %s:\n%s", endpoint, w, s)
	}
	if args := strings.Fields(next); len(args) < 2 || args[0] != "kubectl" {
		t.Errorf("the end screen's next command is %q, want a kubectl command:\n%s", next, s)
	} else {
		cmd := exec.CommandContext(ctx, c.kubectl, args[1:]...)
		cmd.Dir = c.dir
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Count(string(out), " Ready ") != 5 {
			t.Errorf("the end screen's next command %q: %v\n%s", next, err, out)
		}
	}
	tm.Keys("q")
	tm.WaitFor("EXIT=0")
	t.Logf("the installer built the cluster: %v from its start, the apply's last screen:\n%s", time.Since(start).Round(time.Second), lastLines(s, 12))

	// What it saved: the harness's inventory again, and the five keys.
	got, _, err := inventory.Load(c.inv)
	if err != nil {
		t.Fatalf("the saved inventory: %v", err)
	}
	if g, w := hostLines(got.Spec.Hosts), hostLines(want.Spec.Hosts); !slices.Equal(g, w) {
		t.Errorf("saved hosts %q, want %q", g, w)
	}
	if got.Spec.LoadBalancer.VIP != want.Spec.LoadBalancer.VIP || got.Spec.LoadBalancer.StaticPods != want.Spec.LoadBalancer.StaticPods ||
		!slices.Equal(got.Spec.Kubeadm.IgnorePreflightErrors, want.Spec.Kubeadm.IgnorePreflightErrors) {
		t.Errorf("saved %+v, want the load balancer and kubeadm settings of %+v", got.Spec, want.Spec)
	}
	b, _ := os.ReadFile(known)
	if n := len(strings.Split(strings.TrimSpace(string(b)), "\n")); n != 5 {
		t.Errorf("known_hosts has %d lines, want 5:\n%s", n, b)
	}
	nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers")
	if err != nil || strings.Count(nodes, " Ready ") != 5 {
		t.Fatalf("want 5 Ready nodes: %v\n%s", err, nodes)
	}
}

// roleOf is the harness's role for machine name: lb* load balancers, w*
// workers, the others (m*) masters.
func roleOf(name string) string {
	switch {
	case strings.HasPrefix(name, "lb"):
		return inventory.RoleLoadBalancer
	case strings.HasPrefix(name, "w"):
		return inventory.RoleWorker
	}
	return inventory.RoleMaster
}

// hostLines is each host's name, address and role, a line each.
func hostLines(hs []inventory.Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name+" "+h.Address+" "+h.Role)
	}
	return out
}
