//go:build e2e

package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/events"
)

// TestFaultsInEveryPhase builds one cluster through a fault in every phase
// (issue 8): a changed host key, kubeha SIGKILLed in each phase in turn
// (mid-kubeadm for init and the joins), the kubeadm-certs Secret and the
// bootstrap token deleted between init and the control-plane joins, an SSH
// connection cut during a join, a worker powered off during join-workers,
// and a full disk while a config is written. After each fault one rerun
// goes on; at the end the cluster is whole and no kubeadm init or join
// finished twice.
func TestFaultsInEveryPhase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	c := newCluster(t, ctx, keepalivedLB)
	t.Cleanup(func() {
		if t.Failed() && len(c.outputs) > 0 {
			last := c.outputs[len(c.outputs)-1]
			t.Logf("the last run, without host output:\n%s\nits last lines:\n%s", notOutput(last), lastLines(last, 30))
		}
	})
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%5.1fs] "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}

	// A changed host key: refused before anything is done anywhere.
	known := filepath.Join(c.dir, "known_hosts")
	good, _ := os.ReadFile(known)
	other, err := sshd.NewClientKey(filepath.Join(c.dir, "other"), "")
	if err != nil {
		t.Fatal(err)
	}
	w2 := c.machine("w2")
	bad := strings.ReplaceAll(string(good), w2.IP+" "+w2.HostKey, w2.IP+" "+strings.TrimSpace(string(xssh.MarshalAuthorizedKey(other.Public))))
	if bad == string(good) {
		t.Fatal("could not replace w2's line in known_hosts")
	}
	os.WriteFile(known, []byte(bad), 0o600)
	_, out, _, err := c.apply(ctx)
	if err == nil || !strings.Contains(out, "w2") || !strings.Contains(out, "HOST KEY CHANGED") || strings.Count(out, "SHA256:") < 2 {
		t.Fatalf("a changed host key must fail the run, naming w2 and both fingerprints: %v\n%s", err, lastLines(out, 10))
	}
	for _, m := range c.ms {
		if o, _ := m.Exec(ctx, "sh", "-c", "ls /etc/sysctl.d/99-kubeha.conf 2>/dev/null; true"); strings.TrimSpace(o) != "" {
			t.Fatalf("%s was changed although w2's host key was refused", m.Name)
		}
	}
	os.WriteFile(known, good, 0o600)
	step("changed host key of w2: refused, no host touched")

	// SIGKILL in each phase before the kubeadm ones, as soon as it works on
	// a host.
	for _, phase := range []string{"facts", "host-prep", "load-balancer"} {
		if !c.applyKillWhen(ctx, func(e events.Event) bool { return e.Phase == phase && e.Kind == events.HostStarted }) {
			t.Fatalf("apply ended before %s started", phase)
		}
		step("SIGKILL in %s", phase)
	}
	// In kubeadm init once it has written admin.conf and the manifests:
	// the rerun must not take the half-made control plane for a cluster.
	if !c.applyKillWhen(ctx, func(e events.Event) bool {
		return e.Phase == "kubeadm-init" && e.Kind == events.Output && strings.Contains(e.Message, "[kubelet-start]")
	}) {
		t.Fatal("apply ended before kubeadm init started the kubelet")
	}
	step("SIGKILL in kubeadm-init, during kubeadm init")

	// The next run finishes init. Right after kubeadm init kubeha is stopped
	// (SIGSTOP) while the kubeadm-certs Secret and every bootstrap token are
	// deleted: it must notice before the joins, not fail in them.
	// Then it is killed as m2's etcd member has been added. Workers join
	// beside the masters; they are held back (--skip-phases) until the
	// control plane's faults are done, so each fault lands where meant.
	m1 := c.machine("m1")
	var sawReupload, sawNewToken bool
	killed := c.applyWatch(ctx, func(cmd *exec.Cmd, e events.Event) bool {
		// Stopped as soon as kubeadm init has exited, kubeha cannot yet be
		// past its credential checks (at phase-done it could be).
		if e.Kind == events.Output && e.Phase == "kubeadm-init" && strings.HasPrefix(e.Message, "kubeadm init took") {
			cmd.Process.Signal(syscall.SIGSTOP)
			// Every step checked and retried: an apiserver that has just
			// started can refuse a request, and a delete that failed
			// unnoticed left the Secret to the garbage collector, to go
			// only after kubeha had checked it (a CI run failed so).
			out, err := m1.Exec(ctx, "sh", "-c", `set -eu
k="kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system"
for try in $(seq 30); do
  if all=$($k get secrets -o name); then
    names=$(echo "$all" | grep -x -e secret/kubeadm-certs -e 'secret/bootstrap-token-.*' || true)
    [ -n "$names" ] || exit 0
    for s in $names; do $k delete --ignore-not-found "$s" || true; done
  fi
  sleep 1
done
echo "the join credentials are still there after 30 tries" >&2; exit 1`)
			cmd.Process.Signal(syscall.SIGCONT)
			if err != nil {
				t.Errorf("deleting the join credentials: %v %s", err, out)
			}
		}
		sawReupload = sawReupload || strings.Contains(e.Message, "kubeadm-certs Secret is gone")
		sawNewToken = sawNewToken || strings.Contains(e.Message, "bootstrap token is gone")
		return e.Phase == "join-control-plane" && e.Host == "m2" && e.Kind == events.Output && strings.Contains(e.Message, "[etcd]")
	}, "--skip-phases", "join-workers")
	if !killed {
		t.Fatal("apply ended before m2's etcd member was added")
	}
	if !sawReupload || !sawNewToken {
		t.Fatalf("deleted credentials not noticed: re-upload %v, new token %v\n%s", sawReupload, sawNewToken, notOutput(c.outputs[len(c.outputs)-1]))
	}
	step("kubeadm-certs Secret and bootstrap token deleted before the joins: re-uploaded, replaced; SIGKILL during m2's join")

	// m2 is reset and joins; the SSH connection to m3 is cut during its
	// join: that run fails naming m3.
	m3 := c.machine("m3")
	var cutDone bool
	c.applyWatch(ctx, func(cmd *exec.Cmd, e events.Event) bool {
		if !cutDone && e.Phase == "join-control-plane" && e.Host == "m3" && e.Kind == events.Output && strings.Contains(e.Message, "[preflight]") {
			cutDone = true
			if out, err := m3.Exec(ctx, "pkill", "-f", "sshd: root@notty"); err != nil {
				t.Errorf("cut m3's SSH connection: %v %s", err, out)
			}
		}
		return false
	}, "--skip-phases", "join-workers")
	if !cutDone {
		t.Fatal("m3's join never started")
	}
	if last := c.outputs[len(c.outputs)-1]; !hostFailed(last, "m3") {
		t.Fatalf("the run with m3's connection cut does not fail naming m3:\n%s", lastLines(last, 10))
	}
	step("SSH connection to m3 cut during its join: the run failed naming m3")
	if _, out, _, err := c.apply(ctx, "--only", "join-control-plane"); err != nil {
		t.Fatalf("rerun of join-control-plane after the cut: %v\n%s", err, lastLines(out, 20))
	}
	step("m3 recovered and joined")

	// m3 joins; SIGKILL in join-workers during w1's join.
	if !c.applyKillWhen(ctx, func(e events.Event) bool {
		return e.Phase == "join-workers" && e.Host == "w1" && e.Kind == events.Output && strings.Contains(e.Message, "[preflight]")
	}) {
		t.Fatal("apply ended before w1's join started")
	}
	step("SIGKILL in join-workers, during w1's join")

	// w2 loses power during its join: the run ends with an error naming
	// w2, and w1 is joined all the same.
	var off bool
	c.applyWatch(ctx, func(cmd *exec.Cmd, e events.Event) bool {
		if !off && e.Phase == "join-workers" && e.Host == "w2" && e.Kind == events.Output && strings.Contains(e.Message, "[preflight]") {
			off = true
			if err := w2.PowerOff(ctx); err != nil {
				t.Errorf("power off w2: %v", err)
			}
		}
		return false
	})
	last := c.outputs[len(c.outputs)-1]
	if !off || !hostFailed(last, "w2") || hostFailed(last, "w1") {
		t.Fatalf("w2 powered off during its join: want a failure naming w2 (powered off: %v)\n%s", off, lastLines(last, 10))
	}
	if o, err := c.machine("w1").Exec(ctx, "test", "-f", "/etc/kubeha/node.done"); err != nil {
		t.Fatalf("w1 did not finish its join while w2 was down: %v %s", err, o)
	}
	step("w2 powered off during its join: the run failed naming w2, w1 joined")
	if err := w2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	step("w2 powered on")

	// kube-proxy's phase works on the cluster from m1 (the ConfigMap set to
	// the mode this kernel can run, then a restart): killed at its first
	// step, whichever event that is.
	if !c.applyKillWhen(ctx, func(e events.Event) bool {
		return e.Phase == "kube-proxy" && (e.Kind == events.HostStarted || e.Kind == events.Info || e.Kind == events.Output)
	}) {
		t.Fatal("apply ended before kube-proxy's phase did anything")
	}
	step("SIGKILL in kube-proxy")
	for _, phase := range []string{"routes", "cni", "verify"} {
		if !c.applyKillWhen(ctx, func(e events.Event) bool { return e.Phase == phase && e.Kind == events.HostStarted }) {
			t.Fatalf("apply ended before %s started", phase)
		}
		step("SIGKILL in %s", phase)
	}
	evs, _, _, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("final rerun: %v\n%s", err, lastLines(c.outputs[len(c.outputs)-1], 30))
	}
	// The final rerun skips what the runs before it finished.
	for _, e := range evs {
		if e.Kind == events.PhaseStarted && slices.Contains([]string{"host-prep", "load-balancer", "kubeadm-init", "join-control-plane", "join-workers", "kube-proxy", "routes", "cni"}, e.Phase) {
			t.Errorf("the final rerun redid %s, which an earlier run finished", e.Phase)
		}
	}
	if nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers"); err != nil || strings.Count(nodes, " Ready ") != 5 {
		t.Fatalf("want 5 Ready nodes after the final rerun: %v\n%s", err, nodes)
	}
	for _, m := range c.ms[:5] {
		if mode, _ := m.Exec(ctx, "curl", "-s", "--max-time", "3", "http://127.0.0.1:10249/proxyMode"); mode != "iptables" {
			t.Errorf("%s: kube-proxy reports mode %q after the faults, want iptables", m.Name, mode)
		}
	}
	step("final rerun: 5 Ready nodes, kube-proxy in iptables mode on each")

	// Nothing finished twice: one init, one join per other node.
	all := strings.Join(c.outputs, "\n")
	finished := map[string]int{}
	for _, l := range strings.Split(all, "\n") {
		var e events.Event
		if json.Unmarshal([]byte(l), &e) != nil {
			continue
		}
		// A join kubeadm finished while kubeha was gone is recorded, not
		// redone.
		if isTook(e) || strings.Contains(e.Message, "recorded as joined") {
			finished[e.Host]++
		}
	}
	for _, h := range []string{"m1", "m2", "m3", "w1", "w2"} {
		if finished[h] != 1 {
			t.Errorf("%s: kubeadm init/join finished %d times, want 1", h, finished[h])
		}
	}
	// A certificate key after its flag, or alone on a line as kubeadm
	// init prints it after "Using certificate key:".
	if tokenRE.MatchString(all) || regexp.MustCompile(`certificate-key[ =]+[0-9a-f]{64}|"message":"[0-9a-f]{64}"`).MatchString(all) {
		t.Error("a bootstrap token or certificate key appears in kubeha's output")
	}

	// A full disk while a config is written: a clear error naming the host
	// and the disk, the old file intact, no temp file.
	out, err = m1.Exec(ctx, "sh", "-c", `set -e
cp /etc/haproxy/haproxy.cfg /tmp/haproxy.cfg.good
mount -t tmpfs -o size=64k tmpfs /etc/haproxy
{ cat /tmp/haproxy.cfg.good; echo "# stale"; } > /etc/haproxy/haproxy.cfg
dd if=/dev/zero of=/etc/haproxy/fill bs=4k 2>/dev/null || true
sha256sum /etc/haproxy/haproxy.cfg`)
	if err != nil {
		t.Fatalf("fill m1's /etc/haproxy: %v %s", err, out)
	}
	staleSum := strings.Fields(out)[0]
	cmd := exec.CommandContext(ctx, c.kubeha, "phase", "load-balancer", "-i", c.inv, "--output", "plain")
	cmd.Dir = c.dir
	pout, err := cmd.CombinedOutput()
	c.outputs = append(c.outputs, string(pout))
	if err == nil || !strings.Contains(string(pout), "m1") || !strings.Contains(strings.ToLower(string(pout)), "space") {
		t.Fatalf("a full disk on m1 must fail the phase naming m1 and the disk: %v\n%s", err, lastLines(string(pout), 10))
	}
	after, _ := m1.Exec(ctx, "sh", "-c", "sha256sum /etc/haproxy/haproxy.cfg; ls -a /etc/haproxy")
	if !strings.Contains(after, staleSum) || strings.Contains(after, ".kubeha") || strings.Contains(after, "tmp") {
		t.Fatalf("after the failed write on a full disk: want the old file intact and no temp file:\n%s", after)
	}
	step("full /etc/haproxy on m1: %s", firstLine(lastLines(string(pout), 3)))
	if out, err := m1.Exec(ctx, "sh", "-c", "umount /etc/haproxy && systemctl is-active haproxy"); err != nil {
		t.Fatalf("unmount: %v %s", err, out)
	}
	if _, out, _, err := c.apply(ctx); err != nil {
		t.Fatalf("apply after the disk was freed: %v\n%s", err, lastLines(out, 20))
	}
	step("disk freed: apply green")
}

// applyWatch runs apply and calls watch on each event, with the running
// command (to signal it); it SIGKILLs apply when watch returns true and
// reports whether it did. The output is kept in c.outputs either way.
func (c *cluster) applyWatch(ctx context.Context, watch func(cmd *exec.Cmd, e events.Event) bool, args ...string) bool {
	return c.commandWatch(ctx, watch, append([]string{"apply", "-i", c.inv, "--output", "json"}, args...)...)
}

// commandWatch is applyWatch for any kubeha command (args, with --output
// json among them).
func (c *cluster) commandWatch(ctx context.Context, watch func(cmd *exec.Cmd, e events.Event) bool, args ...string) bool {
	cmd := exec.CommandContext(ctx, c.kubeha, args...)
	cmd.Dir = c.dir
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var seen strings.Builder
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		var e events.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && watch(cmd, e) {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	cmd.Wait()
	c.outputs = append(c.outputs, seen.String())
	return killed
}

// notOutput is kubeha's JSON output without the hosts' own output lines.
func notOutput(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, `"kind":"output"`) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// hostFailed reports whether kubeha's JSON output says host failed.
func hostFailed(out, host string) bool {
	return hasEvent(out, func(e events.Event) bool { return e.Kind == events.HostFailed && e.Host == host })
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// hasEvent reports whether kubeha's JSON output holds an event match
// accepts.
func hasEvent(out string, match func(events.Event) bool) bool {
	for _, l := range strings.Split(out, "\n") {
		var e events.Event
		if json.Unmarshal([]byte(l), &e) == nil && match(e) {
			return true
		}
	}
	return false
}
