//go:build e2e

package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
)

// setHosts rewrites the inventory's host entries to exactly lines (each a
// "- {name: ...}" entry).
func (c *cluster) setHosts(t *testing.T, lines ...string) {
	t.Helper()
	b, err := os.ReadFile(c.inv)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inHosts := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case l == "  hosts:":
			inHosts = true
			out = append(out, l)
			for _, h := range lines {
				out = append(out, "  "+h)
			}
			continue
		case inHosts && strings.HasPrefix(l, "  - {name:"):
			continue
		default:
			inHosts = false
		}
		out = append(out, l)
	}
	os.WriteFile(c.inv, []byte(strings.Join(out, "\n")), 0o644)
}

// etcdMembers lists the names of the cluster's etcd members, asked of
// m1's member.
func (c *cluster) etcdMembers(ctx context.Context, t *testing.T) []string {
	t.Helper()
	out, err := c.kubectlOut(ctx, "-n", "kube-system", "exec", "etcd-m1", "--", "etcdctl", "--endpoints=https://127.0.0.1:2379",
		"--cacert=/etc/kubernetes/pki/etcd/ca.crt", "--cert=/etc/kubernetes/pki/etcd/server.crt", "--key=/etc/kubernetes/pki/etcd/server.key",
		"member", "list", "-w", "simple")
	if err != nil {
		t.Fatalf("etcd member list: %v\n%s", err, out)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Split(l, ", "); len(f) >= 3 {
			names = append(names, f[2])
		}
	}
	slices.Sort(names)
	return names
}

// nodeNames lists the cluster's nodes and whether each is Ready.
func (c *cluster) nodeNames(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := c.kubectlOut(ctx, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={range .status.conditions[?(@.type=="Ready")]}{.status}{end} {end}`)
	if err != nil {
		t.Fatalf("nodes: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// machineOf is the machine of inventory host name: the master m4 of the
// replacement is w3's machine, reset.
func machineOf(name string) string {
	if name == "m4" {
		return "w3"
	}
	return name
}

// backends lists the server lines of haproxy.cfg on host name's machine.
func (c *cluster) backends(ctx context.Context, t *testing.T, name string) string {
	t.Helper()
	out, err := c.machine(machineOf(name)).Exec(ctx, "sh", "-c", `awk '$1 == "server" {print $2}' /etc/haproxy/haproxy.cfg | tr '\n' ' '`)
	if err != nil {
		t.Fatalf("%s: haproxy.cfg: %v", name, err)
	}
	return strings.TrimSpace(out)
}

// leftKubernetes is what kubeadm reset must have removed from a machine:
// the lines of what is still there ("" when clean).
func (c *cluster) leftKubernetes(ctx context.Context, name string) string {
	out, _ := c.machine(name).Exec(ctx, "sh", "-c", `find /etc/kubernetes/manifests -type f 2>/dev/null; ls -d /etc/kubernetes/*.conf /var/lib/etcd/member /var/lib/kubelet/config.yaml 2>/dev/null; pgrep -x keepalived; pgrep -x haproxy; ip -4 -o addr show | grep -F ' `+vip+`/' || true`)
	return strings.TrimSpace(out)
}

// warnedAbout reports whether an apply's events warn about host in phase.
func warnedAbout(evs []events.Event, phase, host string) bool {
	for _, e := range evs {
		if e.Kind == events.Warning && e.Phase == phase && e.Host == host {
			return true
		}
	}
	return false
}

// removeAndReplace: w3 dropped from the inventory is only named until
// apply --remove-nodes takes it out (reset, gone from the cluster); m3
// powered off and replaced by a new master m4 (w3's machine, reset) with
// etcd never below quorum; then m4 removed while it runs: two etcd
// members, two backends in every haproxy, the VIP answering throughout.
func (c *cluster) removeAndReplace(ctx context.Context, t *testing.T) {
	masters := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, "- {name: "+n+", address: "+c.machine(machineOf(n)).IP+", role: master}")
		}
		return out
	}
	workers := []string{"- {name: w1, address: 10.213.0.24, role: worker}", "- {name: w2, address: 10.213.0.25, role: worker}"}
	c.deployWorkload(ctx, t)
	stopClients := c.startClients(ctx, t, []string{"w1", "w2"})
	clientsStart := time.Now()
	defer func() { t.Logf("clients during the removals and the replacement:\n%s", stopClients()) }()

	// w3 leaves the inventory: named, not touched, without the flag.
	c.setHosts(t, append(masters("m1", "m2", "m3"), workers...)...)
	evs, out, _, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("apply without w3: %v\n%s", err, lastLines(out, 30))
	}
	if !warnedAbout(evs, "remove-nodes", "w3") || !strings.Contains(c.nodeNames(ctx, t), "w3=True") {
		t.Fatalf("without --remove-nodes, w3 should be named and left Ready: nodes %s\n%s", c.nodeNames(ctx, t), lastLines(out, 20))
	}
	start := time.Now()
	if _, out, _, err := c.apply(ctx, "--remove-nodes"); err != nil {
		t.Fatalf("apply --remove-nodes (w3): %v\n%s", err, lastLines(out, 30))
	}
	t.Logf("w3 taken out in %v", time.Since(start).Round(100*time.Millisecond))
	if got := c.nodeNames(ctx, t); got != "m1=True m2=True m3=True w1=True w2=True" {
		t.Errorf("nodes after w3's removal: %s", got)
	}
	if left := c.leftKubernetes(ctx, "w3"); left != "" {
		t.Errorf("w3 after its removal still has:\n%s", left)
	}

	// m3 powered off; the inventory replaces it with m4 on w3's machine.
	if err := c.machine("m3").Crash(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("m3 powered off %.2fs after the clients started", time.Since(clientsStart).Seconds())
	c.setHosts(t, append(masters("m1", "m2", "m4"), workers...)...)
	start = time.Now()
	evs, out, _, err = c.apply(ctx, "--remove-nodes")
	if err != nil {
		t.Fatalf("apply --remove-nodes (m3 dead, m4 new): %v\n%s", err, lastLines(out, 40))
	}
	t.Logf("dead m3 replaced by m4 in %v", time.Since(start).Round(100*time.Millisecond))
	if !warnedAbout(evs, "remove-nodes", "m3") {
		t.Error("no warning that m3 did not answer and was not reset")
	}
	// The dead member went before the new one came: etcd never had four.
	removedAt, joinedAt := -1, -1
	for i, e := range evs {
		if e.Phase == "remove-nodes" && e.Host == "m3" && e.Kind == events.Info && strings.HasPrefix(e.Message, "taken out") {
			removedAt = i
		}
		if e.Phase == "join-control-plane" && e.Host == "m4" && e.Kind == events.Output && strings.Contains(e.Message, "This node has joined the cluster") {
			joinedAt = i
		}
	}
	if removedAt < 0 || joinedAt < 0 || removedAt > joinedAt {
		t.Errorf("m3's removal (event %d) must come before m4's join (event %d)", removedAt, joinedAt)
	}
	if got := strings.Join(c.etcdMembers(ctx, t), " "); got != "m1 m2 m4" {
		t.Errorf("etcd members after the replacement: %s, want m1 m2 m4", got)
	}
	if got := c.nodeNames(ctx, t); got != "m1=True m2=True m4=True w1=True w2=True" {
		t.Errorf("nodes after the replacement: %s", got)
	}
	for _, m := range []string{"m1", "m2", "m4"} {
		if got := c.backends(ctx, t, m); got != "m1 m2 m4" {
			t.Errorf("%s: haproxy backends %q, want m1 m2 m4", m, got)
		}
	}
	// The scenario's inventory asks for the SSH user's copy of admin.conf:
	// m4 got one when it joined.
	if out, err := c.machine("w3").Exec(ctx, "cmp", "/etc/kubernetes/admin.conf", "/root/.kube/config"); err != nil {
		t.Errorf("m4: /root/.kube/config is not admin.conf's copy after its join: %v %s", err, out)
	}

	// m4 removed while it runs.
	c.setHosts(t, append(masters("m1", "m2"), workers...)...)
	start = time.Now()
	if _, out, _, err := c.apply(ctx, "--remove-nodes"); err != nil {
		t.Fatalf("apply --remove-nodes (m4): %v\n%s", err, lastLines(out, 40))
	}
	t.Logf("m4 taken out in %v", time.Since(start).Round(100*time.Millisecond))
	if got := strings.Join(c.etcdMembers(ctx, t), " "); got != "m1 m2" {
		t.Errorf("etcd members after m4's removal: %s, want m1 m2", got)
	}
	for _, m := range []string{"m1", "m2"} {
		if got := c.backends(ctx, t, m); got != "m1 m2" {
			t.Errorf("%s: haproxy backends %q, want m1 m2", m, got)
		}
	}
	if left := c.leftKubernetes(ctx, "w3"); left != "" {
		t.Errorf("m4 (w3's machine) after its removal still has:\n%s", left)
	}
	// kubeadm reset leaves $HOME/.kube/config: the removal takes kubeha's
	// copy (a cluster-admin credential) and its records.
	if out, err := c.machine("w3").Exec(ctx, "sh", "-c", "if [ -e /root/.kube/config ] || [ -e /etc/kubeha/user-kubeconfig ]; then echo left; else echo gone; fi"); err != nil || strings.TrimSpace(out) != "gone" {
		t.Errorf("m4 (w3's machine) after its removal: the SSH user's copy of admin.conf or its records %s (%v)", strings.TrimSpace(out), err)
	}
	if !readyz(insecureClient()) {
		t.Error("the VIP does not answer after m4's removal")
	}
	if got := c.nodeNames(ctx, t); got != "m1=True m2=True w1=True w2=True" {
		t.Errorf("nodes after m4's removal: %s", got)
	}
	var j struct{ Hosts []struct{ Name string } }
	b, _ := os.ReadFile(c.dir + "/.kubeha/e2e/state.json")
	json.Unmarshal(b, &j)
	var remembered []string
	for _, h := range j.Hosts {
		remembered = append(remembered, h.Name)
	}
	if got := strings.Join(remembered, " "); got != "m1 m2 w1 w2" {
		t.Errorf("the journal remembers %q, want the inventory's m1 m2 w1 w2", got)
	}
}

// addCertName: a DNS name and an address added to the inventory's
// apiServerCertSANs of a running cluster. Every master's apiserver then
// serves a certificate the cluster's CA vouches for under both (checked
// by a TLS handshake to each master), kubectl works through the new name,
// and the stored ClusterConfiguration lists them, with the clients running
// throughout.
func (c *cluster) addCertName(ctx context.Context, t *testing.T) {
	const name, addr = "api.e2e.example", "10.213.0.99"
	c.deployWorkload(ctx, t)
	stopClients := c.startClients(ctx, t, []string{"w1", "w2"})
	b, _ := os.ReadFile(c.inv)
	b = []byte(strings.Replace(string(b), "  kubeadm:\n", "  kubeadm:\n    apiServerCertSANs: ["+name+", "+addr+"]\n", 1))
	os.WriteFile(c.inv, b, 0o644)
	start := time.Now()
	evs, out, _, err := c.apply(ctx)
	report := stopClients()
	if err != nil {
		t.Fatalf("apply with a new name: %v\n%s", err, lastLines(out, 30))
	}
	t.Logf("new names on every apiserver's certificate in %v; clients:\n%s", time.Since(start).Round(100*time.Millisecond), report)
	for _, e := range evs {
		if e.Phase == "apiserver-certs" && (e.Kind == events.Info || e.Kind == events.Warning) {
			t.Logf("%s: %s", e.Host, e.Message)
		}
	}
	pool, _ := c.adminCredentials(t)
	for _, m := range []string{"m1", "m2", "m3"} {
		for _, sni := range []string{name, addr} {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", c.machine(m).IP+":6443", &tls.Config{RootCAs: pool, ServerName: sni})
			if err != nil {
				t.Errorf("%s's apiserver under %s: %v", m, sni, err)
				continue
			}
			conn.Close()
		}
	}
	if out, err := c.kubectlOut(ctx, "--tls-server-name", name, "get", "--raw", "/readyz"); err != nil || out != "ok" {
		t.Errorf("kubectl through the VIP under %s: %v %q", name, err, out)
	}
	cc, _ := c.kubectlOut(ctx, "-n", "kube-system", "get", "configmap", "kubeadm-config", "-o", "jsonpath={.data.ClusterConfiguration}")
	for _, s := range []string{"- " + name + "\n", "- " + addr + "\n"} {
		if !strings.Contains(cc, s) {
			t.Errorf("kubeadm's stored ClusterConfiguration lacks %q:\n%s", s, cc)
		}
	}
	for _, name := range []string{"readyz", "write", "workload"} {
		if l := report[name].Longest; l > 15*time.Second {
			t.Errorf("%s: clients could not get through for %v while the certificates changed", name, l.Round(10*time.Millisecond))
		}
	}
	// The next apply finds every certificate right and changes nothing.
	evs, out, _, err = c.apply(ctx)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, lastLines(out, 20))
	}
	for _, e := range evs {
		if e.Kind == events.PhaseStarted && e.Phase == "apiserver-certs" {
			t.Error("a rerun issued the certificates again")
		}
	}
}
