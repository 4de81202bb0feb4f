//go:build e2e

// Package cluster holds the scenarios that run the real kubeha binary
// against harness machines with the real kubeadm, keepalived and haproxy.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/e2e/bench/benchutil"
	"github.com/kubeha/kubeha/e2e/machines"
	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/ssh"
)

const vip = "10.213.0.100"

type cluster struct {
	// outputs is everything kubeha printed in this scenario.
	outputs []string
	d       *machines.Docker
	bareTag string
	t       *testing.T
	dir     string
	kubeha  string
	inv     string
	ms      []*machines.Machine
	kubectl string
	// kubeVersion is the Kubernetes version the machines carry (baked) and
	// the inventory names.
	kubeVersion string
	// started is when newClusterWith began starting the machines, and
	// image says which kind they started from ("baked" or "bare"): the
	// first apply reports the time from there to Ready.
	started time.Time
	image   string
}

func logf(t *testing.T) machines.Logf {
	return func(format string, args ...any) { t.Logf(format, args...) }
}

// keepalivedLB is the default load-balancer stanza: keepalived+haproxy on
// the masters, the VIP on the machines' bridge.
const keepalivedLB = "loadBalancer: {vip: " + vip + "}"

// newCluster starts baked machines (3 masters, 2 workers, plus extra
// machines that are not in the inventory, such as an SLB) and writes an
// inventory with the given loadBalancer (and controlPlaneEndpoint) stanza.
// The kubelet settings are what these cgroup-v1 machines need, set the way
// an operator would.
func newCluster(t *testing.T, ctx context.Context, lbStanza string, extra ...machines.Spec) *cluster {
	return newClusterWith(t, ctx, clusterOpts{lb: lbStanza, extra: extra})
}

// recordTiming appends, as t ends (after its machines are gone), a line
// with its start, name, seconds and result to the file
// $KUBEHA_E2E_TIMINGS names. .ci/run prints it: go test says nothing of a
// passing package without -v, and CI's log must say where the tier's
// time went.
func recordTiming(t *testing.T) {
	path := os.Getenv("KUBEHA_E2E_TIMINGS")
	if path == "" {
		return
	}
	start := time.Now()
	t.Cleanup(func() {
		result := "ok"
		if t.Failed() {
			result = "FAIL"
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Logf("timing not recorded: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintf(f, "%s %-34s %5.0f s %s\n", start.Format("15:04:05"), t.Name(), time.Since(start).Seconds(), result)
	})
}

// newClusterOn is newCluster on bare machines (no Kubernetes: the
// inventory's artifacts bundle brings it) when bare is set.
func newClusterOn(t *testing.T, ctx context.Context, bare bool, lbStanza string, extra ...machines.Spec) *cluster {
	return newClusterWith(t, ctx, clusterOpts{bare: bare, lb: lbStanza, extra: extra})
}

// clusterOpts vary the standard five-machine cluster.
type clusterOpts struct {
	bare  bool            // bare machines: Kubernetes comes from a bundle
	lb    string          // the loadBalancer (and controlPlaneEndpoint) stanza
	extra []machines.Spec // machines started besides m1-m3, w1-w2
	hosts []string        // inventory host entries besides m1-m3, w1-w2
	// kubeVersion, when set, is the Kubernetes version of the baked
	// machines, of the inventory's spec.kubernetesVersion and of the
	// kubectl the test uses (machines.UpgradeFrom for the upgrade test);
	// empty means machines.KubeVersion and no kubernetesVersion line.
	kubeVersion string
	// network is the inventory's spec.network; empty means ipvs, falling
	// back to iptables (this kernel has no ip_vs).
	network string
	// secondNet gives m1-m3, w1-w2 an eth1 on the harness's second
	// network, at secondIP's address.
	secondNet bool
	// cni is the inventory's spec.cni ("{plugin: manifest, manifest:
	// ...}"); empty means none, kubeha's default bridge CNI.
	cni string
}

// secondIP is the eth1 address of the machine whose eth0 address is ip, on
// a cluster with clusterOpts.secondNet: the same host number.
func secondIP(ip string) string {
	return "10.217.0." + ip[strings.LastIndexByte(ip, '.')+1:]
}

func newClusterWith(t *testing.T, ctx context.Context, o clusterOpts) *cluster {
	bare, lbStanza, extra := o.bare, o.lb, o.extra
	t.Helper()
	recordTiming(t)
	release, err := machines.Lock(ctx, logf(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // registered first, so it runs after the clean below
	if err := machines.Clean(ctx, logf(t)); err != nil {
		t.Fatal(err)
	}
	before, _ := machines.ReadSysctls()
	network := o.network
	if network == "" {
		network = "{kubeProxyMode: ipvs, kubeProxyFallbackMode: iptables}"
	}
	version := o.kubeVersion
	if version == "" {
		version = machines.KubeVersion
	}
	d, bareTag, baked, err := machines.PrepareBakedFor(ctx, logf(t), "../..", version)
	if err != nil {
		t.Fatal(err)
	}
	image, imageKind := baked, "baked"
	if bare {
		image, imageKind = bareTag, "bare"
	}
	t.Cleanup(func() {
		if err := machines.Clean(context.Background(), logf(t)); err != nil {
			t.Errorf("clean: %v", err)
		}
		after, _ := machines.ReadSysctls()
		for k, v := range before {
			if after[k] != v {
				t.Errorf("VM sysctl %s is %s after teardown, was %s", k, after[k], v)
			}
		}
	})
	c := &cluster{t: t, dir: t.TempDir(), kubectl: filepath.Join(machines.KubeDir(version), "kubectl"), d: d, bareTag: bareTag, kubeVersion: version, image: imageKind}
	key, err := sshd.NewClientKey(filepath.Join(c.dir, "id"), "")
	if err != nil {
		t.Fatal(err)
	}
	ak, err := machines.WriteAuthorizedKeys(string(xssh.MarshalAuthorizedKey(key.Public)))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"m1", "m2", "m3", "w1", "w2"}
	var specs []machines.Spec
	for i, n := range names {
		spec := machines.Spec{Name: n, IP: fmt.Sprintf("10.213.0.%d", 21+i), Image: image, AuthorizedKeys: ak}
		if o.secondNet {
			spec.SecondIP = secondIP(spec.IP)
		}
		specs = append(specs, spec)
	}
	for _, e := range extra {
		e.Image, e.AuthorizedKeys = image, ak
		specs = append(specs, e)
	}
	c.started = time.Now()
	if c.ms, err = machines.StartMachines(ctx, d, logf(t), specs); err != nil {
		t.Fatal(err)
	}
	// Host keys are what the host-key checks stand on: no two machines
	// may share one (a baked image once carried its bake's keys).
	owner := map[string]string{}
	for _, m := range c.ms {
		if other, dup := owner[m.HostKey]; dup {
			t.Fatalf("%s and %s share a host key", m.Name, other)
		}
		owner[m.HostKey] = m.Name
	}
	known := filepath.Join(c.dir, "known_hosts")
	os.WriteFile(known, []byte(machines.KnownHosts(c.ms)), 0o600)
	// The machines share this VM's disk, which the kubelets read as their
	// own: no evictions, and no image garbage collection. The disk's
	// reserved blocks make it look about 80% full, and a build or a
	// second cache pushes it past 85% (imageGCHighThresholdPercent's
	// default): the kubelets then removed the upgrade's preloaded images
	// and the test's echo image, which nothing here can pull back (three
	// TestUpgrade failures on 2026-12-01).
	inv := fmt.Sprintf(`apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: e2e}
spec:
%s  ssh: {user: root, keyPath: %s, knownHostsPath: %s, useAgent: false}
  hosts:
%s%s  %s
  network: %s
%s  kubeadm:
    ignorePreflightErrors: [SystemVerification]
    kubeletConfiguration:
      cgroupDriver: cgroupfs
      failCgroupV1: false
      failSwapOn: false
      evictionHard: {memory.available: "0%%", nodefs.available: "0%%", imagefs.available: "0%%", nodefs.inodesFree: "0%%"}
      imageGCHighThresholdPercent: 100
      imageGCLowThresholdPercent: 99
    kubeProxyConfiguration:
      conntrack: {maxPerCore: 0}
`, versionLine(o.kubeVersion), key.Path, known, extraHosts(standardHosts(names)), extraHosts(o.hosts), lbStanza, network, cniLine(o.cni))
	c.inv = filepath.Join(c.dir, "kubeha.yaml")
	os.WriteFile(c.inv, []byte(inv), 0o644)
	c.kubeha = filepath.Join(c.dir, "kubeha")
	build := exec.CommandContext(ctx, "go", "build", "-o", c.kubeha, "./cmd/kubeha")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kubeha: %v %s", err, out)
	}
	return c
}

// apply runs kubeha apply with JSON output and returns its events, the raw
// output and how long it took.
func (c *cluster) apply(ctx context.Context, args ...string) ([]events.Event, string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, c.kubeha, append([]string{"apply", "-i", c.inv, "--output", "json"}, args...)...)
	cmd.Dir = c.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	c.outputs = append(c.outputs, out.String(), errb.String())
	var evs []events.Event
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e events.Event
		if jerr := json.Unmarshal(sc.Bytes(), &e); jerr != nil {
			// Reported as the result, not as a Fatal on c.t: apply is
			// called from subtests too.
			return evs, out.String() + errb.String(), time.Since(start), fmt.Errorf("output line is not JSON: %q", sc.Text())
		}
		evs = append(evs, e)
	}
	if err != nil {
		err = fmt.Errorf("%w: %s", err, errb.String())
	}
	return evs, out.String() + errb.String(), took, err
}

func (c *cluster) kubectlOut(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", filepath.Join(c.dir, ".kubeha", "e2e", "admin.conf"), "--request-timeout", "5s"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var tokenRE = regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`)

// noChangeRerun runs apply on a cluster that is as the inventory says:
// it must start no phase but facts and verify.
func (c *cluster) noChangeRerun(ctx context.Context, t *testing.T) {
	t.Helper()
	evs, out, took, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, lastLines(out, 20))
	}
	for _, e := range evs {
		if e.Kind == events.PhaseStarted && e.Phase != "facts" && e.Phase != "verify" {
			t.Errorf("rerun ran phase %s", e.Phase)
		}
	}
	t.Logf("no-change rerun: %v", took.Round(10*time.Millisecond))
}

// addWorker adds w3 (its machine running since the start) to the
// inventory: apply joins it and nothing else, and six nodes are Ready.
func (c *cluster) addWorker(ctx context.Context, t *testing.T) {
	inv, _ := os.ReadFile(c.inv)
	inv = bytes.Replace(inv, []byte("  - {name: w2, address: 10.213.0.25, role: worker}\n"),
		[]byte("  - {name: w2, address: 10.213.0.25, role: worker}\n  - {name: w3, address: 10.213.0.26, role: worker}\n"), 1)
	os.WriteFile(c.inv, inv, 0o644)
	evs, out, took, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, lastLines(out, 40))
	}
	joined := map[string]bool{}
	for _, e := range evs {
		if e.Kind == events.Output && strings.Contains(e.Message, "This node has joined the cluster") {
			joined[e.Host] = true
		}
	}
	if len(joined) != 1 || !joined["w3"] {
		t.Fatalf("kubeadm joined %v, want only w3", joined)
	}
	t.Logf("apply with w3 added: %v", took.Round(100*time.Millisecond))
	nodes, _ := c.kubectlOut(ctx, "get", "nodes", "--no-headers")
	if strings.Count(nodes, " Ready ") != 6 {
		t.Fatalf("want 6 Ready nodes:\n%s", nodes)
	}
}

// buildHA is the first part of the HA cluster's life
// (TestHAClusterKeepalivedHAProxy): c's five nodes built with every
// process's command line sampled for join secrets, then what a built
// cluster must show (status, kubeconfig, no-change rerun, no secret
// anywhere), a backend stopped and the VIP holder crashed. It ends with
// kubeha status healthy and no pod that a drain would refuse.
func (c *cluster) buildHA(ctx context.Context, t *testing.T) {
	// The run creates a bootstrap token and uploads the certificates
	// under a certificate key: neither may be in any process's command
	// line on the hosts while it works. (This scenario killed kubeha
	// during w1's join and ran it again until 2026-12-02: the same kill,
	// with its rerun's checks, is TestFaultsInEveryPhase's, and the
	// duplicate cost CI two minutes.)
	stopSampling := c.sampleArgv(ctx, t, "m1", "m2", "m3", "w1", "w2")
	stopWatching := c.watchTokens(ctx, t, "m1")
	evs, out, took, err := c.apply(ctx)
	stopSampling()
	// The tokens the run made, seen while they existed: the run deletes
	// them as it ends, and the secrets check below looks for them.
	runTokens := stopWatching()
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, lastLines(out, 40))
	}
	t.Logf("apply: %v", took.Round(100*time.Millisecond))
	// Each node's kubeadm init or join finished once.
	finished := map[string]int{}
	for _, e := range evs {
		if isTook(e) {
			finished[e.Host]++
		}
	}
	for _, h := range []string{"m1", "m2", "m3", "w1", "w2"} {
		if finished[h] != 1 {
			t.Errorf("%s: kubeadm init/join finished %d times, want 1", h, finished[h])
		}
	}
	if tokenRE.MatchString(out) {
		t.Fatal("a bootstrap token appears in kubeha's output")
	}
	nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers")
	if err != nil || strings.Count(nodes, " Ready ") != 5 {
		t.Fatalf("want 5 Ready nodes through the VIP: %v\n%s", err, nodes)
	}
	// No join credential outlives the run that made it.
	if out, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "secrets", "--field-selector", "type=bootstrap.kubernetes.io/token", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("bootstrap tokens left after the run: %v %q", err, out)
	}
	if out, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "secret", "kubeadm-certs", "--ignore-not-found", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("uploaded certificates left after the run: %v %q", err, out)
	}

	t.Run("status says healthy", func(t *testing.T) { c.checkStatus(ctx, t, 5) })

	t.Run("kubeconfig merged for kubectl", func(t *testing.T) {
		// An operator's kubeconfig with a context of its own, which the
		// merge must keep.
		path := filepath.Join(t.TempDir(), "config")
		other := "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    server: https://192.0.2.1:6443\n" +
			"users:\n- name: other\n  user:\n    token: not-a-secret\ncontexts:\n- name: other\n  context:\n    cluster: other\n    user: other\ncurrent-context: other\n"
		if err := os.WriteFile(path, []byte(other), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, c.kubeha, "kubeconfig", "-i", c.inv, "--merge", "--kubeconfig", path)
		cmd.Dir = c.dir
		out, err := cmd.CombinedOutput()
		c.outputs = append(c.outputs, string(out))
		if err != nil {
			t.Fatalf("kubeha kubeconfig --merge: %v\n%s", err, out)
		}
		if fi, err := os.Stat(path); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("merged kubeconfig mode %v, want 0600", fi.Mode().Perm())
		}
		kubectl := func(args ...string) string {
			out, err := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", path, "--request-timeout", "10s"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return strings.TrimSpace(string(out))
		}
		contexts := strings.Fields(kubectl("config", "get-contexts", "-o", "name"))
		slices.Sort(contexts)
		if got := strings.Join(contexts, " "); got != "e2e other" {
			t.Errorf("contexts after the merge: %q, want e2e and other", got)
		}
		if got := kubectl("config", "current-context"); got != "e2e" {
			t.Errorf("current context %q, want e2e", got)
		}
		if got := kubectl("--context", "e2e", "get", "nodes", "-o", "name"); got != "node/m1\nnode/m2\nnode/m3\nnode/w1\nnode/w2" {
			t.Errorf("kubectl --context e2e get nodes: %q", got)
		}
	})

	// The SSH user (root) has the cluster's admin kubeconfig where kubectl
	// looks on every master: the same bytes, 0600, in a ~/.kube of root's
	// that no one else can write (kubectl's own cache may have made it
	// 0750 before kubeha's copy: kept as it is).
	userKubeconfig := func(t *testing.T) map[string]string {
		t.Helper()
		stamps := map[string]string{}
		for _, m := range c.ms[:3] {
			out, err := m.Exec(ctx, "sh", "-c", "cmp /etc/kubernetes/admin.conf /root/.kube/config && stat -c '%a %U:%G' /root/.kube/config /root/.kube && stat -c %Y /root/.kube/config")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if err != nil || len(lines) != 3 || lines[0] != "600 root:root" || !slices.Contains([]string{"700 root:root", "750 root:root", "755 root:root"}, lines[1]) {
				t.Errorf("%s: /root/.kube/config is not admin.conf's copy, 0600 in a directory only root writes: %v %q", m.Name, err, out)
				continue
			}
			stamps[m.Name] = lines[2]
			got, err := m.Exec(ctx, "sh", "-c", "cd / && HOME=/root kubectl get nodes -o name")
			if err != nil || strings.TrimSpace(got) != "node/m1\nnode/m2\nnode/m3\nnode/w1\nnode/w2" {
				t.Errorf("%s: kubectl as root with no --kubeconfig: %v %q", m.Name, err, got)
			}
		}
		return stamps
	}
	var stamps map[string]string
	t.Run("admin kubeconfig for the SSH user", func(t *testing.T) { stamps = userKubeconfig(t) })

	t.Run("rerun changes nothing", func(t *testing.T) {
		evs, out, took, err := c.apply(ctx)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if after := userKubeconfig(t); !maps.Equal(after, stamps) {
			t.Errorf("the SSH user's kubeconfig rewritten by a rerun: modified %v, before %v", after, stamps)
		}
		skipped := 0
		for _, e := range evs {
			if e.Kind == events.PhaseSkipped {
				skipped++
			}
			if e.Kind == events.PhaseStarted && e.Phase != "facts" && e.Phase != "verify" {
				t.Errorf("rerun ran phase %s", e.Phase)
			}
		}
		t.Logf("no-change rerun: %v, %d phases skipped", took.Round(10*time.Millisecond), skipped)
	})

	t.Run("plan and status on a built cluster", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, c.kubeha, "plan", "-i", c.inv, "--output", "json")
		cmd.Dir = c.dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("plan: %v\n%s", err, out)
		}
		c.outputs = append(c.outputs, string(out))
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var e events.Event
			if json.Unmarshal([]byte(l), &e) == nil && e.Kind == events.PlanChange && e.Phase != "facts" && e.Phase != "verify" {
				t.Errorf("plan on a built cluster would change something: %s %s: %s", e.Phase, e.Host, e.Message)
			}
		}
		cmd = exec.CommandContext(ctx, c.kubeha, "status", "-i", c.inv)
		cmd.Dir = c.dir
		out, err = cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "join-workers") || !strings.Contains(string(out), "done") {
			t.Fatalf("status: %v\n%s", err, out)
		}
	})

	t.Run("kube-proxy drift is repaired", func(t *testing.T) {
		// Someone sets the ConfigMap to ipvs, which this kernel cannot
		// run, and restarts kube-proxy: no node runs a proxy any more.
		m1 := c.machine("m1")
		if out, err := m1.Exec(ctx, "sh", "-c", `set -e
k="kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system"
$k get configmap kube-proxy -o yaml | sed 's/^    mode: .*/    mode: ipvs/' | $k replace -f -
$k rollout restart daemonset kube-proxy`); err != nil {
			t.Fatalf("break kube-proxy: %v %s", err, out)
		}
		evs, out, _, err := c.apply(ctx)
		if err != nil {
			t.Fatalf("%v\n%s", err, lastLines(out, 20))
		}
		ran := false
		for _, e := range evs {
			ran = ran || (e.Kind == events.PhaseDone && e.Phase == "kube-proxy")
		}
		if !ran {
			t.Fatal("the kube-proxy phase did not run although the ConfigMap said ipvs")
		}
		for _, m := range c.ms[:5] {
			if mode, _ := m.Exec(ctx, "curl", "-s", "--max-time", "3", "http://127.0.0.1:10249/proxyMode"); mode != "iptables" {
				t.Errorf("%s: kube-proxy reports mode %q after the repair, want iptables", m.Name, mode)
			}
		}
	})

	t.Run("etcd snapshot", func(t *testing.T) { c.etcdSnapshot(ctx, t, "m[123]") })

	t.Run("certificate expiry", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, c.kubeha, "certs", "check", "-i", c.inv, "--output", "plain")
		cmd.Dir = c.dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		c.outputs = append(c.outputs, stdout.String(), stderr.String())
		if err != nil {
			t.Fatalf("certs check: %v\n%s%s", err, stdout.String(), stderr.String())
		}
		line := regexp.MustCompile(`^(m[123]): first to expire (\S+) on (\S+) \(in (\d+) days\); first authority (\S+) on (\S+)$`)
		seen := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			m := line.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			seen[m[1]] = true
			// kubeadm's certificates last a year, its authorities ten.
			if days, _ := strconv.Atoi(m[4]); days < 360 || days > 366 {
				t.Errorf("%s: %s expires in %d days, want about a year", m[1], m[2], days)
			}
			if ca, err := time.Parse(time.RFC3339, m[6]); err != nil || time.Until(ca) < 9*365*24*time.Hour {
				t.Errorf("%s: authority %s expires %s, want about ten years", m[1], m[5], m[6])
			}
		}
		if len(seen) != 3 {
			t.Errorf("a line for %d masters, want 3:\n%s", len(seen), stdout.String())
		}
	})

	t.Run("no secret in any output or local file", func(t *testing.T) {
		// Only what is a secret counts: an empty or short string found
		// by a sed that no longer matches would make the check pass
		// while looking for nothing.
		var secrets []string
		for _, tok := range runTokens {
			if len(tok) < 23 { // a bootstrap token is 6.16
				t.Fatalf("a join token seen during the run is %d chars, not a token", len(tok))
			}
			secrets = append(secrets, tok)
		}
		if len(secrets) == 0 {
			t.Fatal("no join token seen during the run: nothing to look for")
		}
		for _, m := range []string{"m1", "m2", "m3"} {
			pw, _ := c.machine(m).Exec(ctx, "sh", "-c", `sed -n 's/^[[:space:]]*stats auth kubeha:\(.*\)$/\1/p' /etc/haproxy/haproxy.cfg`)
			if pw = strings.TrimSpace(pw); len(pw) < 16 {
				t.Fatalf("%s: haproxy's stats password is %d chars, want a generated one of at least 16", m, len(pw))
			}
			secrets = append(secrets, pw)
		}
		haystack := strings.Join(c.outputs, "\n")
		filepath.Walk(filepath.Join(c.dir, ".kubeha"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && fi.Name() != "admin.conf" { // admin.conf is the admin credential itself
				b, _ := os.ReadFile(p)
				haystack += string(b)
				if fi.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s is readable by others: %v", p, fi.Mode().Perm())
				}
			}
			return nil
		})
		for _, s := range secrets {
			if strings.Contains(haystack, s) {
				t.Errorf("a secret (%d chars) appears in kubeha's output or local files", len(s))
			}
		}
		if regexp.MustCompile(`certificate-key[ =]+[0-9a-f]{64}`).MatchString(haystack) {
			t.Error("a certificate key appears in kubeha's output")
		}
		t.Logf("%d secrets checked against %d KiB of output and local files", len(secrets), len(haystack)/1024)
	})

	t.Run("a test pod answers from each worker", func(t *testing.T) {
		for _, w := range []string{"w1", "w2"} {
			c.echoPod(ctx, t, "echo-"+w, w, "m1")
		}
	})

	t.Run("one backend stops: haproxy marks it down, clients see no failure", func(t *testing.T) {
		holder := c.vipHolder(ctx, t)
		var backend *machines.Machine
		for _, m := range c.ms[:3] {
			if m != holder {
				backend = m
				break
			}
		}
		status := func() string { return haproxyStats(ctx, holder)[backend.Name]["status"] }
		if st := status(); st != "UP" {
			t.Fatalf("%s not UP in haproxy before the test: %q", backend.Name, st)
		}
		// A generous timeout: the claim is that no request fails, and on
		// this shared two-core machine an apiserver can be slow to answer
		// /readyz for reasons of its own (the CI of 2026-12-02 and a run
		// after it each had one request past 500 ms); the slowest is
		// logged.
		client := insecureClientTimeout(5 * time.Second)
		stop := make(chan struct{})
		done := make(chan [2]int)
		var slowest time.Duration // read after done: the goroutine has stopped
		type failure struct {
			sent time.Time
			err  error
		}
		var failures []failure // read after done: the goroutine has stopped
		go func() {
			var okN, failN int
			for {
				select {
				case <-stop:
					done <- [2]int{okN, failN}
					return
				case <-time.After(50 * time.Millisecond):
				}
				sent := time.Now()
				err := readyzErr(client)
				slowest = max(slowest, time.Since(sent))
				if err == nil {
					okN++
				} else {
					failN++
					failures = append(failures, failure{sent, err})
				}
			}
		}()
		time.Sleep(time.Second)
		// The backend stops accepting: new connections (SYN) are refused
		// with a reset, as from an apiserver whose process has gone. The
		// claim is that haproxy sends every new connection elsewhere (retry
		// with redispatch, then the health check); a request already inside
		// a connection to that backend when it stops fails with any TCP
		// load balancer, so established connections are left alone rather
		// than letting a 1-in-10 timing race decide the test.
		reject := []string{"INPUT", "-p", "tcp", "--syn", "--dport", "6443", "-j", "REJECT", "--reject-with", "tcp-reset"}
		start := time.Now()
		if _, err := backend.Exec(ctx, append([]string{"iptables", "-I"}, reject...)...); err != nil {
			t.Fatal(err)
		}
		defer backend.Exec(context.Background(), append([]string{"iptables", "-D"}, reject...)...)
		var markedDown time.Duration
		for time.Since(start) < 15*time.Second {
			if status() == "DOWN" {
				markedDown = time.Since(start)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		close(stop)
		res := <-done
		if markedDown == 0 {
			t.Fatalf("haproxy never marked %s down", backend.Name)
		}
		t.Logf("haproxy marked %s down after %v (target 2s); clients through the VIP: %d ok, %d failed, the slowest answered in %v", backend.Name, markedDown.Round(10*time.Millisecond), res[0], res[1], slowest.Round(time.Millisecond))
		if res[1] != 0 {
			var lines []string
			for _, f := range failures {
				lines = append(lines, fmt.Sprintf("sent %v after the stop: %v", f.sent.Sub(start).Round(time.Millisecond), f.err))
			}
			t.Errorf("%d requests through the VIP failed while one backend was down:\n%s", res[1], strings.Join(lines, "\n"))
		}
	})

	t.Run("VIP holder crashes", func(t *testing.T) {
		holder := c.vipHolder(ctx, t)
		client := insecureClient()
		ok := func() bool { return readyz(client) }
		if !ok() {
			t.Fatal("endpoint not ready before the crash")
		}
		t.Logf("crashing %s (VIP holder)", holder.Name)
		if err := holder.Crash(ctx); err != nil {
			t.Fatal(err)
		}
		defer holder.Uncrash(context.Background())
		longest, recovered := longestOutage(ok)
		if !recovered || longest > failoverBound {
			t.Fatalf("the endpoint did not answer again within %v of the VIP holder's crash (longest run of failures %v, answering at the end: %v)", failoverBound, longest.Round(10*time.Millisecond), recovered)
		}
		t.Logf("longest run of failed requests through the VIP: %v (what clients feel: make bench-failover, docs/failover.md)", longest.Round(10*time.Millisecond))
		if nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers"); err != nil {
			t.Fatalf("kubectl through the endpoint after failover: %v %s", err, nodes)
		}
		// The control plane still schedules new pods; ask from a master
		// that is up.
		live := "m2"
		if holder.Name == "m2" {
			live = "m3"
		}
		c.echoPod(ctx, t, "echo-after-failover", "w1", live)
	})

	// What follows drains every node (an upgrade's drain refuses pods no
	// controller owns) and wants the crashed holder back as a healthy
	// member: kubeha status says so (six Ready nodes, every etcd member
	// healthy, one VIP holder, every backend up), exiting 0.
	// The delete does not wait (kubectl's wait is a watch cut by
	// --request-timeout, and the API may still be settling after the
	// holder's return); the pods' absence is polled instead.
	echoPods := []string{"echo-w1", "echo-w2", "echo-after-failover"}
	eventually(ctx, t, 3*time.Minute, "the test pods deleted", func() (bool, string) {
		if out, err := c.kubectlOut(ctx, append([]string{"delete", "pod", "--wait=false", "--ignore-not-found"}, echoPods...)...); err != nil {
			return false, out
		}
		out, err := c.kubectlOut(ctx, append([]string{"get", "pod", "--ignore-not-found", "--no-headers"}, echoPods...)...)
		return err == nil && strings.TrimSpace(out) == "", out
	})
	c.waitHealthy(ctx, t, 3*time.Minute, "kubeha status healthy after the VIP holder's return")
}

// waitHealthy waits, at most within, until kubeha status exits 0: every
// node Ready, every etcd member healthy, one VIP holder, every backend up.
func (c *cluster) waitHealthy(ctx context.Context, t *testing.T, within time.Duration, what string) {
	t.Helper()
	eventually(ctx, t, within, what, func() (bool, string) {
		cmd := exec.CommandContext(ctx, c.kubeha, "status", "-i", c.inv)
		cmd.Dir = c.dir
		out, err := cmd.CombinedOutput()
		return err == nil, string(out)
	})
}

// tokenWatcher prints every bootstrap token on the cluster, round after
// round until /run/kh-token-stop appears: every 2 s, since the run's tokens
// live as long as its joins (minutes) and each round starts a kubeadm.
const tokenWatcher = `while [ ! -e /run/kh-token-stop ]; do
  kubeadm token list --kubeconfig /etc/kubernetes/admin.conf -o jsonpath='{.token}{"\n"}' 2>/dev/null
  sleep 2
done
rm -f /run/kh-token-stop`

// watchTokens lists the cluster's bootstrap tokens on the named master
// until the returned stop is called, and stop returns each token seen.
func (c *cluster) watchTokens(ctx context.Context, t *testing.T, name string) (stop func() []string) {
	t.Helper()
	m := c.machine(name)
	m.Exec(ctx, "rm", "-f", "/run/kh-token-stop")
	done := make(chan string, 1)
	go func() {
		out, _ := m.Exec(ctx, "sh", "-c", tokenWatcher)
		done <- out
	}()
	return func() []string {
		m.Exec(ctx, "touch", "/run/kh-token-stop")
		var seen []string
		for _, tok := range strings.Fields(<-done) {
			if tokenRE.MatchString(tok) && !slices.Contains(seen, tok) {
				seen = append(seen, tok)
			}
		}
		return seen
	}
}

// applyKillAt runs apply and SIGKILLs it when phase starts. It reports
// whether it killed (false: apply ended first).
func (c *cluster) applyKillAt(ctx context.Context, phase string) bool {
	return c.applyKillWhen(ctx, func(e events.Event) bool { return e.Kind == events.PhaseStarted && e.Phase == phase })
}

// applyKillWhen runs apply and SIGKILLs it at the first event for which
// kill is true.
func (c *cluster) applyKillWhen(ctx context.Context, kill func(events.Event) bool) bool {
	return c.applyWatch(ctx, func(_ *exec.Cmd, e events.Event) bool { return kill(e) })
}

// echoPod runs the test server pinned to node and checks that it answers
// from there, across the pod network, from the machine named from.
func (c *cluster) echoPod(ctx context.Context, t *testing.T, name, node, from string) {
	t.Helper()
	if out, err := c.kubectlOut(ctx, "run", name, "--image="+machines.EchoImage, "--image-pull-policy=Never",
		"--env=NODE_NAME="+node, `--overrides={"spec":{"nodeName":"`+node+`"}}`); err != nil {
		t.Fatalf("kubectl run: %v %s", err, out)
	}
	if out, err := c.kubectlOut(ctx, "wait", "--for=condition=Ready", "pod/"+name, "--timeout=120s"); err != nil {
		t.Fatalf("pod %s not Ready: %v %s", name, err, out)
	}
	ip, err := c.kubectlOut(ctx, "get", "pod", name, "-o", "jsonpath={.status.podIP}")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.machine(from).Exec(ctx, "curl", "-s", "--max-time", "5", "http://"+strings.TrimSpace(ip)+":8080/")
	if err != nil || !strings.Contains(out, "node="+node) {
		t.Fatalf("pod %s on %s did not answer from %s: %v %q", name, node, from, err, out)
	}
	t.Logf("%s answered from %s: %s", name, node, strings.TrimSpace(out))
}

// statusReport is what the e2e checks read of kubeha status --output json.
type statusReport struct {
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems"`
	Nodes    struct {
		Nodes []struct {
			Name        string `json:"name"`
			InInventory bool   `json:"inInventory"`
			Ready       bool   `json:"ready"`
		} `json:"nodes"`
	} `json:"nodes"`
	Etcd struct {
		Members []struct {
			Name    string `json:"name"`
			Healthy bool   `json:"healthy"`
			Leader  bool   `json:"leader"`
		} `json:"members"`
	} `json:"etcd"`
	LoadBalancer struct {
		Holders []string `json:"holders"`
		Hosts   []struct {
			Host           string `json:"host"`
			BackendsSource string `json:"backendsSource"`
			Backends       []struct {
				Server string `json:"server"`
				State  string `json:"state"`
			} `json:"backends"`
		} `json:"hosts"`
	} `json:"loadBalancer"`
}

// healthyStatus runs kubeha status --output json, fails the test when it
// fails or cannot be read, reports an error unless it says healthy with no
// problem, and returns what it said.
func (c *cluster) healthyStatus(ctx context.Context, t *testing.T) statusReport {
	t.Helper()
	cmd := exec.CommandContext(ctx, c.kubeha, "status", "-i", c.inv, "--output", "json")
	cmd.Dir = c.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	c.outputs = append(c.outputs, string(out)+stderr.String())
	if err != nil {
		t.Fatalf("kubeha status: %v\n%s\n%s", err, out, stderr.String())
	}
	var st statusReport
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("kubeha status --output json: %v\n%s", err, out)
	}
	if !st.Healthy || len(st.Problems) != 0 {
		t.Errorf("healthy %v, problems %q", st.Healthy, st.Problems)
	}
	return st
}

// checkStatus runs kubeha status --output json and wants exit 0, the
// inventory's nodes (nodes of them) all Ready, the VIP held by the master
// that holds it, and three healthy etcd members with one leader.
func (c *cluster) checkStatus(ctx context.Context, t *testing.T, nodes int) {
	t.Helper()
	start := time.Now()
	st := c.healthyStatus(ctx, t)
	ready := 0
	for _, n := range st.Nodes.Nodes {
		if n.InInventory && n.Ready {
			ready++
		} else if n.InInventory {
			t.Errorf("node %s not Ready", n.Name)
		}
	}
	if ready != nodes {
		t.Errorf("%d inventory nodes Ready, want %d: %+v", ready, nodes, st.Nodes.Nodes)
	}
	if want := c.vipHolder(ctx, t).Name; !slices.Equal(st.LoadBalancer.Holders, []string{want}) {
		t.Errorf("VIP holders %q, want [%s]", st.LoadBalancer.Holders, want)
	}
	// Every master's haproxy sends to every master's apiserver.
	if len(st.LoadBalancer.Hosts) != 3 {
		t.Errorf("%d load-balancer hosts in status, want the 3 masters", len(st.LoadBalancer.Hosts))
	}
	for _, h := range st.LoadBalancer.Hosts {
		var seen []string
		for _, b := range h.Backends {
			seen = append(seen, b.Server+" "+b.State)
		}
		if want := []string{"m1 UP", "m2 UP", "m3 UP"}; !slices.Equal(seen, want) {
			t.Errorf("haproxy on %s sees %q, want %q", h.Host, seen, want)
		}
	}
	healthy, leaders := 0, 0
	for _, m := range st.Etcd.Members {
		if m.Healthy {
			healthy++
		}
		if m.Leader {
			leaders++
		}
	}
	if len(st.Etcd.Members) != 3 || healthy != 3 || leaders != 1 {
		t.Errorf("etcd: %d members, %d healthy, %d leaders; want 3, 3, 1: %+v", len(st.Etcd.Members), healthy, leaders, st.Etcd.Members)
	}
	t.Logf("kubeha status: healthy in %v", time.Since(start).Round(10*time.Millisecond))
}

// vipHolder returns the master that holds the VIP.
func (c *cluster) vipHolder(ctx context.Context, t *testing.T) *machines.Machine {
	if h := c.vipHolders(ctx, "m1", "m2", "m3"); len(h) > 0 {
		return h[0]
	}
	t.Fatal("no master holds the VIP")
	return nil
}

// vipHolders returns those of the named machines whose eth0 carries the
// VIP.
func (c *cluster) vipHolders(ctx context.Context, names ...string) []*machines.Machine {
	var holders []*machines.Machine
	for _, name := range names {
		m := c.machine(name)
		if out, _ := m.Exec(ctx, "ip", "-4", "-o", "addr", "show", "eth0"); strings.Contains(out, " "+vip+"/") {
			holders = append(holders, m)
		}
	}
	return holders
}

// insecureClient makes a new TLS connection per request, as a fresh client
// would, with a short timeout: the crash measurements count a request that
// waits longer than that as failed.
func insecureClient() *http.Client { return insecureClientTimeout(500 * time.Millisecond) }

// insecureClientTimeout is insecureClient giving each request timeout.
func insecureClientTimeout(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
}

// readyz asks the apiserver's /readyz through the VIP.
func readyz(client *http.Client) bool {
	return readyzErr(client) == nil
}

// readyzErr is readyz saying why a request failed.
func readyzErr(client *http.Client) error {
	resp, err := client.Get("https://" + vip + ":16443/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// machine returns the harness machine named name.
func (c *cluster) machine(name string) *machines.Machine {
	for _, m := range c.ms {
		if m.Name == name {
			return m
		}
	}
	// A name no machine has is a mistake in the test itself; a panic stops
	// it wherever it is (t.Fatal on the scenario's t from a subtest may not).
	panic("no machine " + name)
}

// applyOK runs apply and fails the test unless it succeeds, no token shows
// in its output, and the inventory's nodes (m1-m3, w1, w2) are Ready through the
// admin kubeconfig.
// It logs the apply's overhead over kubeadm (docs/performance.md), and when
// this apply was the first kubeha command on the machines, the time from
// their start to Ready; no figure is asserted.
func (c *cluster) applyOK(ctx context.Context, t *testing.T) {
	t.Helper()
	evs, out, took, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, lastLines(out, 40))
	}
	// Only this apply's stdout and stderr: no kubeha command ran before it.
	first := len(c.outputs) == 2
	// The phases' durations as make bench-overhead records them.
	var phases, tookLines []string
	for _, p := range benchutil.Phases(evs) {
		phases = append(phases, fmt.Sprintf("%s %.1fs", p.Phase, p.Seconds))
	}
	for _, e := range evs {
		if e.Phase == "kube-proxy" && (e.Kind == events.Info || e.Kind == events.Warning) {
			t.Logf("kube-proxy phase, %s: %s", e.Host, e.Message)
		}
		if isTook(e) {
			tookLines = append(tookLines, e.Host+" "+strings.TrimPrefix(e.Message, "kubeadm "))
		}
	}
	critical := "none"
	if path, err := benchutil.CriticalPath(evs); err != nil {
		critical += " (" + err.Error() + ")"
	} else {
		critical = fmt.Sprintf("%v; overhead ratio apply/critical path %.2f (target 1.10)", path.Round(100*time.Millisecond), took.Seconds()/path.Seconds())
	}
	t.Logf("apply: %v; kubeadm's critical path %s; kubeadm's commands summed %v (they overlap: for reference only); phases: %s; kubeadm: %s",
		took.Round(100*time.Millisecond), critical, benchutil.KubeadmSum(evs).Round(100*time.Millisecond), strings.Join(phases, ", "), strings.Join(tookLines, ", "))
	if tokenRE.MatchString(out) {
		t.Fatal("a bootstrap token appears in kubeha's output")
	}
	nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers")
	if err != nil || strings.Count(nodes, " Ready ") != 5 {
		t.Fatalf("want 5 Ready nodes: %v\n%s", err, nodes)
	}
	if first {
		t.Logf("%s machines to %d Ready nodes: %v from before they started, of which apply %v (the rest: starting them, the test's own setup, the Ready check)",
			c.image, 5, time.Since(c.started).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	}
}

// checkLocalProxy is seed 000's setup (OpenStack, no VIP at all) on a
// cluster built with localProxyNginx: nginx on each worker proxies
// 127.0.0.1:6443 to every apiserver, masters reach their own apiserver
// there, and joining masters go through the first one. A worker's proxy
// survives one apiserver going away; m1's is stopped for good.
func (c *cluster) checkLocalProxy(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, name := range []string{"w1", "w2"} {
		// The unit's state, the address the endpoint's name resolves to
		// there, and the API's answer through the proxy: one line each.
		out, err := c.machine(name).Exec(ctx, "sh", "-c", "systemctl is-active kubeha-nginx; getent ahostsv4 e2e-apiserver | awk 'NR==1 {print $1}'; curl -sk https://127.0.0.1:6443/readyz; echo")
		if err != nil || strings.TrimSpace(out) != "active\n127.0.0.1\nok" {
			t.Fatalf("%s: local proxy not serving (want the lines active, 127.0.0.1, ok): %v\n%s", name, err, out)
		}
	}
	if _, err := c.machine("m1").Exec(ctx, "sh", "-c", "mv /etc/kubernetes/manifests/kube-apiserver.yaml /root/"); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, 60*time.Second, "w1's proxy serving 6 of 6 requests after m1's apiserver stopped", func() (bool, string) {
		out, _ := c.machine("w1").Exec(ctx, "sh", "-c", "for i in 1 2 3 4 5 6; do curl -sk --max-time 2 https://127.0.0.1:6443/readyz; echo; done")
		return strings.Count(out, "ok\n") == 6, out
	})
}

// localProxyNginx is the loadBalancer stanza of checkLocalProxy's setup.
const localProxyNginx = "loadBalancer: {mode: local-proxy, proxy: nginx}"

// TestExternalSLB: seed 001's public-cloud setup. A sixth machine plays the
// provider's SLB (haproxy forwarding :6443 to the masters); masters point
// the endpoint name at themselves (hairpin rule), workers at the SLB. The
// same hosts are then reset and built again as seed 000's local proxy with
// haproxy (checkLocalProxyHAProxy) in front of seed 004's external etcd,
// which kubeha builds on three more hosts, e1-e3, idle until then
// (checkExternalEtcd), and reset once more, etcd hosts included. The
// hosts are built a third time behind the SLB, on an etcd the operator
// runs on e1-e3, which kubeha's reset leaves running (checkOperatorEtcd):
// one more build and reset on machines already running. The external
// etcd shares this scenario to keep the tier short: on its own cluster it
// cost CI about 9 minutes.
func TestExternalSLB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	const slbIP = "10.213.0.30"
	const slbLB = "loadBalancer: {mode: external, address: " + slbIP + "}"
	c := newCluster(t, ctx, "controlPlaneEndpoint: {name: e2e-apiserver, port: 6443}\n  "+slbLB,
		append([]machines.Spec{{Name: "slb", IP: slbIP}}, etcdMachines()...)...)
	slbCfg := `global
    log /dev/log local0
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
frontend api
    bind *:6443
    default_backend masters
backend masters
    option tcp-check
    default-server inter 1s fall 2 rise 2
    server m1 10.213.0.21:6443 check
    server m2 10.213.0.22:6443 check
    server m3 10.213.0.23:6443 check
`
	slb := c.machine("slb")
	if _, err := slb.Exec(ctx, "sh", "-c", "cat > /etc/haproxy/haproxy.cfg <<'EOF'\n"+slbCfg+"EOF\nsystemctl enable --now haproxy && systemctl restart haproxy"); err != nil {
		t.Fatal(err)
	}
	// The operator's own firewall rule, nftables table and route, made
	// before kubeha ever ran: every reset must leave them, and everything
	// else of each node's network state, as it found them.
	nodes := []string{"m1", "m2", "m3", "w1", "w2"}
	found := c.operatorHosts(ctx, t, append(slices.Clone(nodes), etcdHosts...))
	c.applyOK(ctx, t)
	for i, name := range []string{"m1", "m2", "m3"} {
		out, _ := c.machine(name).Exec(ctx, "grep", "e2e-apiserver", "/etc/hosts")
		if want := fmt.Sprintf("10.213.0.%d e2e-apiserver", 21+i); !strings.Contains(out, want) {
			t.Errorf("%s: hairpin rule not applied: /etc/hosts has %q, want %q", name, out, want)
		}
	}
	for _, name := range []string{"w1", "w2"} {
		out, _ := c.machine(name).Exec(ctx, "grep", "e2e-apiserver", "/etc/hosts")
		if !strings.Contains(out, slbIP+" e2e-apiserver") {
			t.Errorf("%s: endpoint should map to the SLB: %q", name, out)
		}
	}

	// Reset and build again with another master initialising and the
	// workers in another order, so the nodes' Pod CIDRs change between
	// clusters (the reset of issue 13 left cni0 with the old CIDR's
	// gateway, and pods on that node never started). The second cluster is
	// another setup on the same hosts, seed 000's local proxy with haproxy:
	// what a reset leaves must not be in its way either, nor in the way of
	// an etcd cluster of its own on hosts kubeha adds. Two more rebuilds
	// with the SLB (until issue 16, then until 2026-12-02) repeated these
	// checks and cost CI 3.5 minutes each, which kept the tier over 90.
	orders := []struct {
		hosts     []string
		lb, setup string
	}{
		{[]string{"m3", "m1", "m2", "w2", "w1"}, localProxyHAProxy, "haproxy as local proxy and external etcd"},
	}
	for i, o := range orders {
		order := o.hosts
		t.Run(fmt.Sprintf("reset %d leaves each host as kubeha found it, apply with %s first and %s builds again", i+1, order[0], o.setup), func(t *testing.T) {
			c.podsOnWorkers(ctx, t, fmt.Sprintf("c%d", i))
			for _, name := range nodes {
				st, _ := c.machine(name).Exec(ctx, "sh", "-c", hostStateScript)
				if !strings.Contains(st, "\n:KUBE-") {
					t.Fatalf("%s has no KUBE-* chain before the reset: the comparison below would prove nothing\n%s", name, st)
				}
				if (name == "w1" || name == "w2") && !strings.Contains(st, "\ncni0\n") {
					t.Fatalf("%s has no cni0 before the reset although a pod runs there:\n%s", name, st)
				}
			}
			c.resetToFound(ctx, t, found)
			c.setHostOrder(t, order)
			c.setLoadBalancer(t, o.lb)
			c.addEtcdHosts(t)
			c.applyOK(ctx, t)
			cidrs, _ := c.kubectlOut(ctx, "get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR} {end}")
			t.Logf("Pod CIDRs of cluster %d: %s", i+2, cidrs)
		})
	}
	t.Run("pods start on every worker of the last cluster", func(t *testing.T) {
		c.podsOnWorkers(ctx, t, "last")
	})
	c.checkExternalEtcd(ctx, t, []string{"m1", "m2", "m3", "w1", "w2"})
	t.Run("local proxy with haproxy: a master crash seen from a worker", func(t *testing.T) { c.checkLocalProxyHAProxy(ctx, t) })
	if !t.Run("reset of the local proxy and the etcd hosts leaves each host as kubeha found it", func(t *testing.T) { c.resetToFound(ctx, t, found) }) {
		return
	}
	c.checkOperatorEtcd(ctx, t, nodes, found, slbLB)
}

// setLoadBalancer replaces the inventory's loadBalancer line with lb.
func (c *cluster) setLoadBalancer(t *testing.T, lb string) {
	t.Helper()
	data, err := os.ReadFile(c.inv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	n := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "  loadBalancer: ") {
			lines[i] = "  " + lb
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the inventory has %d loadBalancer lines, want 1:\n%s", n, data)
	}
	if err := os.WriteFile(c.inv, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// operatorHosts plants operatorState on the named machines, then returns
// each one's hostStateScript output: the state kubeha found.
func (c *cluster) operatorHosts(ctx context.Context, t *testing.T, names []string) map[string]string {
	t.Helper()
	found := map[string]string{}
	for _, name := range names {
		if out, err := c.machine(name).Exec(ctx, "sh", "-c", operatorState); err != nil {
			t.Fatalf("%s: operator's state: %v %s", name, err, out)
		}
		st, err := c.machine(name).Exec(ctx, "sh", "-c", hostStateScript)
		if err != nil {
			t.Fatalf("%s: host state: %v %s", name, err, st)
		}
		found[name] = st
	}
	return found
}

// resetToFound runs kubeha reset and fails the test unless every machine
// in found is, line for line, as it was before kubeha ran.
func (c *cluster) resetToFound(ctx context.Context, t *testing.T, found map[string]string) {
	t.Helper()
	reset := exec.CommandContext(ctx, c.kubeha, "reset", "-i", c.inv, "--yes", "--output", "json")
	reset.Dir = c.dir
	start := time.Now()
	out, err := reset.CombinedOutput()
	c.outputs = append(c.outputs, string(out))
	if err != nil {
		t.Fatalf("reset: %v\n%s", err, lastLines(string(out), 30))
	}
	var steps []string
	for _, l := range strings.Split(string(out), "\n") {
		var e events.Event
		if json.Unmarshal([]byte(l), &e) == nil && e.Kind == events.PhaseDone {
			steps = append(steps, fmt.Sprintf("%s %.1fs", e.Phase, e.Duration.Seconds()))
		}
	}
	t.Logf("reset: %v; phases (teardowns, then clean-ups): %s", time.Since(start).Round(100*time.Millisecond), strings.Join(steps, ", "))
	for name, want := range found {
		st, err := c.machine(name).Exec(ctx, "sh", "-c", hostStateScript)
		if err != nil {
			t.Fatalf("%s: host state: %v %s", name, err, st)
		}
		if st != want {
			t.Errorf("%s after reset differs from what kubeha found:\n%s", name, lineDiff(want, st))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// operatorState is what an operator had on a node before kubeha: a
// firewall rule, an nftables table of their own, a route.
const operatorState = `set -e
iptables -A INPUT -s 192.0.2.7/32 -m comment --comment operator -j DROP
nft add table inet operator
ip route add blackhole 192.0.2.0/24`

// hostStateScript prints, as whole lines, what reset must restore: the
// node's interfaces, addresses, IPv4 and IPv6 routes, iptables rules
// (counters left out, and the ports of docker's embedded DNS, new at every
// start of a machine), nftables tables; one of iptables' tables with
// nothing in it but its built-in chains, each accepting, counts as absent
// in both listings: it filters and rewrites nothing. (firewalld's start
// flushes the machines' nat table, docker's DNS rules with it, and leaves
// the table empty; reset's drop_chains deletes an nft table its clean-up
// emptied.) Then ipsets, where firewalld runs its
// public zone (runtime and permanent), the unit state of the load
// balancers and kubeha's units, /etc/hosts, the sha256 of every file where
// kubeha, kubeadm, the CNI, host-prep or the load balancer write (flannel's
// /run/flannel and the plugin it copies to /opt/cni/bin among them; not
// the links to the distribution's plugins the cni phase makes there,
// which stay, as binaries do), the directories a manifest CNI makes, and
// the pod containers.
const hostStateScript = `echo '# links'; ip -o link show | awk -F': ' '{sub("@.*", "", $2); print $2}' | sort
echo '# addresses'; ip -o addr show | awk '{print $2, $4}' | sort
echo '# routes'; ip route show table all | grep -v -e '^local ' -e '^broadcast ' -e ' table local ' | sort
echo '# ipv6 routes'; ip -6 route show table all | grep -v -e '^local ' -e '^multicast ' -e '^anycast ' -e ' table local ' | sort
echo '# iptables'; for s in iptables-save ip6tables-save; do $s | grep -v '^#' | sed -E 's/ \[[0-9]*:[0-9]*\]$//; /^-A DOCKER_(OUTPUT|POSTROUTING) /s/[0-9]{4,5}/PORT/g' |
  awk '/^\*/ { block = $0 "\n"; empty = 1; next }
    /^COMMIT$/ { if (!empty) printf "%s%s\n", block, $0; next }
    { block = block $0 "\n"; if ($0 !~ /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT$/) empty = 0 }'; done
echo '# nftables'; nft list tables | sort | while read -r _ fam name; do
  case "$fam $name" in
  ip\ filter | ip\ nat | ip\ mangle | ip\ raw | ip\ security | ip6\ filter | ip6\ nat | ip6\ mangle | ip6\ raw | ip6\ security)
    nft list table "$fam" "$name" 2>/dev/null | grep -Evq -e '^table .* [{]$' -e '^\s*chain (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) [{]$' -e '^\s*type .* policy accept;$' -e '^\s*[}]$' -e '^\s*$' || continue ;;
  esac
  echo "table $fam $name"
done
echo '# ipsets'; ipset list -n | sort
echo '# firewalld'; if systemctl is-active -q firewalld; then firewall-cmd --zone=public --list-all; firewall-cmd --permanent --zone=public --list-all; fi
echo '# units'; for u in haproxy keepalived kubeha-nginx kubeha-routes; do echo "$u $(systemctl is-enabled $u 2>&1) $(systemctl is-active $u)"; done
echo '# /etc/hosts'; cat /etc/hosts
echo '# files'; find /etc/haproxy /etc/keepalived /etc/sysctl.d /etc/modules-load.d /etc/cni /etc/kubeha /etc/kubernetes /var/lib/cni /var/lib/etcd /etc/systemd/system /run/flannel /opt/cni/bin/flannel -type f 2>/dev/null | sort | xargs -r sha256sum
echo '# directories'; for d in /run/flannel /var/lib/cni/flannel /var/lib/cni/networks/cbr0; do if [ -e $d ]; then echo $d; fi; done
echo '# containers'; ctr -n k8s.io containers ls -q | sort`

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	count := map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(got, "\n") {
		count[l]--
	}
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if count[l] > 0 {
			fmt.Fprintf(&b, "- %s\n", l)
			count[l]--
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if count[l] < 0 {
			fmt.Fprintf(&b, "+ %s\n", l)
			count[l]++
		}
	}
	return b.String()
}

// podsOnWorkers starts the test server on each worker and checks it
// answers across the pod network from m1 and from the other worker.
func (c *cluster) podsOnWorkers(ctx context.Context, t *testing.T, suffix string) {
	t.Helper()
	c.echoPod(ctx, t, "echo-w1-"+suffix, "w1", "w2")
	c.echoPod(ctx, t, "echo-w2-"+suffix, "w2", "m1")
}

// setHostOrder rewrites the inventory's host list in order (names), so the
// first master listed initialises the next cluster.
func (c *cluster) setHostOrder(t *testing.T, order []string) {
	t.Helper()
	data, err := os.ReadFile(c.inv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	entry := map[string]string{}
	first := -1
	for i, l := range lines {
		if m := hostEntryRE.FindStringSubmatch(l); m != nil {
			entry[m[1]] = l
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 || len(entry) < len(order) {
		t.Fatalf("inventory has %d host entries, want at least %d", len(entry), len(order))
	}
	for i, name := range order {
		if entry[name] == "" {
			t.Fatalf("no host %s in the inventory", name)
		}
		lines[first+i] = entry[name]
	}
	if err := os.WriteFile(c.inv, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

var hostEntryRE = regexp.MustCompile(`^  - \{name: (\w+), `)

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestAirGappedBundle: bare machines, like fresh hosts of a closed network,
// get Kubernetes from a bundle the operator brings (issue 9). The cluster
// has no VIP: its API is reached through the local proxy (checkLocalProxy,
// seed 000), which shares this cluster to keep the tier short.
func TestAirGappedBundle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	c := newClusterOn(t, ctx, true, localProxyNginx)
	for _, m := range c.ms {
		if out, _ := m.Exec(ctx, "sh", "-c", "command -v kubeadm kubelet || echo none"); !strings.Contains(out, "none") {
			t.Fatalf("%s is not bare: %s", m.Name, out)
		}
	}
	dir, err := machines.KubeBundle(ctx, c.d, logf(t), c.bareTag)
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		out, err := exec.CommandContext(ctx, c.kubeha, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubeha %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Log(strings.TrimSpace(run("bundle", "create", "--from", dir, "--kubernetes-version", "v1.37.2", "--cni=false")))
	t.Log(strings.TrimSpace(run("bundle", "verify", "--dir", dir)))
	t.Run("bundle upload against scp", func(t *testing.T) { c.uploadVsSCP(ctx, t, dir) })
	inv, _ := os.ReadFile(c.inv)
	os.WriteFile(c.inv, append(inv, []byte("  artifacts: {dir: "+dir+"}\n")...), 0o644)

	// Faults first: kubeha killed in the middle of an upload, once some
	// file arrived whole on a host over a second before (time enough to be
	// moved into place: those are the files the rerun must not send
	// again), then w2 out of disk space where the images are staged.
	type hostFile struct{ host, name string }
	wholeAt := map[hostFile]time.Time{}
	whole := map[hostFile]bool{}
	if !c.applyKillWhen(ctx, func(e events.Event) bool {
		if e.Kind != events.Progress || e.Phase != "artifacts" {
			return false
		}
		if e.Total > 0 && e.Bytes == e.Total {
			wholeAt[hostFile{e.Host, e.Name}] = e.Time
			return false
		}
		for f, at := range wholeAt {
			if e.Time.Sub(at) > time.Second {
				whole[f] = true
			}
		}
		return len(whole) > 0 && e.Bytes > 0 && e.Bytes < e.Total
	}) {
		t.Fatal("apply ended before any upload was under way")
	}
	w2 := c.machine("w2")
	if out, err := w2.Exec(ctx, "sh", "-c", "mkdir -p /var/tmp/kubeha-images && mount -t tmpfs -o size=64m tmpfs /var/tmp/kubeha-images"); err != nil {
		t.Fatalf("small disk on w2: %v %s", err, out)
	}
	_, out, _, err := c.apply(ctx)
	if err == nil {
		t.Fatal("apply succeeded with w2's disk full")
	}
	if !strings.Contains(out, "w2") || !strings.Contains(strings.ToLower(out), "space") {
		t.Fatalf("the error should name w2 and the lack of space:\n%s", lastLines(out, 15))
	}
	t.Logf("full disk on w2: %s", strings.TrimSpace(lastLines(out, 1)))
	// The rerun uploaded only what was missing: no file that had arrived
	// whole on a host before the kill went to that host again.
	var again []string
	for _, l := range strings.Split(out, "\n") {
		var e events.Event
		if json.Unmarshal([]byte(l), &e) == nil && e.Kind == events.Progress && e.Phase == "artifacts" && whole[hostFile{e.Host, e.Name}] {
			again = append(again, e.Host+" "+e.Name)
		}
	}
	if len(again) > 0 {
		t.Errorf("the rerun after the kill uploaded again what had arrived whole: %q", slices.Compact(again))
	}
	t.Logf("%d files had arrived whole before the kill; none uploaded again", len(whole))
	kubeadmSum := ""
	for _, f := range mustLoad(t, dir).Files {
		if f.Target == "/usr/bin/kubeadm" {
			kubeadmSum = f.SHA256
		}
	}
	for _, m := range c.ms[:5] {
		// Nothing half-installed: each binary whole or absent, no
		// temporary file anywhere kubeha writes.
		out, _ := m.Exec(ctx, "sh", "-c", "sha256sum /usr/bin/kubeadm 2>/dev/null | cut -d' ' -f1; find /usr/bin /usr/lib/systemd/system /var/tmp/kubeha-images -name '.*kubeha-*' 2>/dev/null")
		lines := strings.Fields(out)
		if len(lines) > 1 || (len(lines) == 1 && lines[0] != kubeadmSum) {
			t.Errorf("%s after the failed run: kubeadm half-installed or temporary files left:\n%s", m.Name, out)
		}
	}
	if _, err := w2.Exec(ctx, "umount", "/var/tmp/kubeha-images"); err != nil {
		t.Fatal(err)
	}

	evs, out, took, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, lastLines(out, 40))
	}
	var uploaded int64
	for _, e := range evs {
		if e.Kind == events.Progress && e.Phase == "artifacts" && e.Bytes == e.Total {
			uploaded += e.Total
		}
	}
	var artifacts time.Duration
	for _, e := range evs {
		if e.Kind == events.PhaseDone && e.Phase == "artifacts" {
			artifacts = e.Duration
		}
	}
	t.Logf("apply on bare machines, after the faults: %v; artifacts phase %v, %.0f MiB uploaded (%.0f MiB/s over 5 hosts)", took.Round(100*time.Millisecond),
		artifacts.Round(100*time.Millisecond), float64(uploaded)/(1<<20), float64(uploaded)/(1<<20)/artifacts.Seconds())
	nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers")
	if err != nil || strings.Count(nodes, " Ready ") != 5 {
		t.Fatalf("want 5 Ready nodes: %v\n%s", err, nodes)
	}

	evs, _, took, err = c.apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Phase == "artifacts" && (e.Kind == events.PhaseStarted || e.Kind == events.Progress) {
			t.Fatalf("second apply uploaded again: %+v", e)
		}
		if e.Phase == "artifacts" && e.Kind == events.PhaseSkipped {
			t.Logf("second apply: artifacts %s (%v in all)", e.Message, took.Round(10*time.Millisecond))
		}
	}
	t.Run("status: every worker's nginx reaches every apiserver", func(t *testing.T) {
		st := c.healthyStatus(ctx, t)
		var hosts []string
		for _, h := range st.LoadBalancer.Hosts {
			hosts = append(hosts, h.Host)
			var seen []string
			for _, b := range h.Backends {
				seen = append(seen, b.Server+" "+b.State)
			}
			if want := []string{"m1 UP", "m2 UP", "m3 UP"}; h.BackendsSource != "tcp-connect" || !slices.Equal(seen, want) {
				t.Errorf("%s: backends %q from %q, want %q from tcp-connect", h.Host, seen, h.BackendsSource, want)
			}
		}
		// The local proxy runs on the workers: a master's kubelet talks to
		// its own apiserver.
		if want := []string{"w1", "w2"}; !slices.Equal(hosts, want) {
			t.Errorf("local-proxy hosts in status %q, want %q", hosts, want)
		}
	})
	t.Run("local proxy", func(t *testing.T) { c.checkLocalProxy(ctx, t) })
}

// uploadVsSCP sends the bundle's files to all five machines with OpenSSH
// scp and with kubeha's upload path, in the same run, and reports both
// aggregate throughputs. It measures; it asserts only that both complete.
//
// The two timings hold the same things: for each of the five machines at
// once, one new SSH connection (process or dial, handshake, key
// authentication) and every file sent over it, one after the other, into a
// directory that exists already.
//   - scp: one `scp` process per machine, from its start to its exit (the
//     VM's OpenSSH 9.2 scp, which speaks SFTP to the machine's
//     sftp-server), writing each file in place;
//   - kubeha: ssh.Dial, Client.Upload of each file (SFTP to a temporary
//     file beside it, sha256 computed on the machine and compared,
//     renamed into place), then Close.
//
// Neither includes a docker exec or any other command: both target
// directories are made (empty) before the first timing and removed after
// the second, through docker exec, outside both.
func (c *cluster) uploadVsSCP(ctx context.Context, t *testing.T, dir string) {
	// A measurement, not a proof (it asserts nothing but that both
	// uploads work, which the apply below proves again): CI's minutes go
	// to proofs.
	if os.Getenv("KUBEHA_BENCH_UPLOAD") == "" {
		t.Skip("a measurement: KUBEHA_BENCH_UPLOAD=1 runs it (docs/performance.md)")
	}
	m, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	var total int64
	for _, f := range m.Files {
		files = append(files, filepath.Join(dir, f.Path))
		total += f.Size
	}
	nodes := c.ms[:5]
	key, known := filepath.Join(c.dir, "id"), filepath.Join(c.dir, "known_hosts")
	const scpDir, khDir = "/var/tmp/scp-bench", "/var/tmp/kh-bench"
	each := func(fn func(m *machines.Machine) error) (time.Duration, error) {
		start := time.Now()
		errs := make(chan error, len(nodes))
		for _, n := range nodes {
			go func() { errs <- fn(n) }()
		}
		var first error
		for range nodes {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return time.Since(start), first
	}
	// Untimed: the target directories, empty, before; gone after.
	if _, err := each(func(n *machines.Machine) error {
		_, err := n.Exec(ctx, "sh", "-c", "rm -rf "+scpDir+" "+khDir+" && mkdir -p "+scpDir+" "+khDir)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		each(func(n *machines.Machine) error {
			_, err := n.Exec(context.Background(), "rm", "-rf", scpDir, khDir)
			return err
		})
	})

	scpTook, err := each(func(n *machines.Machine) error {
		args := append([]string{"-q", "-F", "/dev/null", "-i", key, "-o", "UserKnownHostsFile=" + known, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"}, files...)
		out, err := exec.CommandContext(ctx, "scp", append(args, "root@"+n.IP+":"+scpDir+"/")...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("scp to %s: %v %s", n.Name, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hk := ssh.NewKnownHosts(known, ssh.HostKeyStrict)
	khTook, err := each(func(n *machines.Machine) error {
		cl, err := ssh.Dial(ctx, ssh.Config{Name: n.Name, Address: n.IP, Port: 22, User: "root", KeyPaths: []string{key}, HostKeys: hk})
		if err != nil {
			return err
		}
		defer cl.Close()
		for _, f := range m.Files {
			src, err := os.Open(filepath.Join(dir, f.Path))
			if err != nil {
				return err
			}
			err = cl.Upload(ctx, ssh.File{Path: khDir + "/" + filepath.Base(f.Path), Content: src, Size: f.Size, Mode: 0o600})
			src.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mib := float64(total*int64(len(nodes))) / (1 << 20)
	t.Logf("bundle (%.0f MiB) to %d machines: scp %v (%.0f MiB/s), kubeha verified upload %v (%.0f MiB/s): %.0f%% of scp's throughput",
		float64(total)/(1<<20), len(nodes), scpTook.Round(100*time.Millisecond), mib/scpTook.Seconds(), khTook.Round(100*time.Millisecond), mib/khTook.Seconds(), 100*scpTook.Seconds()/khTook.Seconds())
}

// versionLine is the inventory's spec.kubernetesVersion line for version,
// or nothing when version is empty (kubeha's default, machines.KubeVersion).
// cniLine is the inventory's spec.cni line for clusterOpts.cni, or none.
func cniLine(cni string) string {
	if cni == "" {
		return ""
	}
	return "  cni: " + cni + "\n"
}

func versionLine(version string) string {
	if version == "" {
		return ""
	}
	return "  kubernetesVersion: " + version + "\n"
}

// standardHosts are the inventory entries of the standard machines
// names (m1-m3, w1, w2 or a prefix of them), at newClusterWith's
// addresses.
func standardHosts(names []string) []string {
	var out []string
	for i, n := range names {
		role := "master"
		if n[0] == 'w' {
			role = "worker"
		}
		out = append(out, fmt.Sprintf("{name: %s, address: 10.213.0.%d, role: %s}", n, 21+i, role))
	}
	return out
}

func extraHosts(entries []string) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString("  - " + e + "\n")
	}
	return b.String()
}

// TestDedicatedLoadBalancers: seed 002. keepalived+haproxy on two hosts of
// their own (role loadbalancer), unicast VRRP, haproxy on *:6443, the
// masters behind them; the VIP holder crashes.
func TestDedicatedLoadBalancers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	// flannel (issue 17, a real manifest CNI) shares this cluster, with
	// the CNI plugin the Go module proxy serves: its VXLAN goes through
	// firewalld on every node, by the port cni.ports opens.
	fl := prepareFlannel(ctx, t, "")
	c := newClusterWith(t, ctx, clusterOpts{
		lb:    "controlPlaneEndpoint: {name: e2e-apiserver, port: 6443}\n  loadBalancer: {placement: dedicated, vip: " + vip + "}",
		extra: []machines.Spec{{Name: "lb1", IP: "10.213.0.31"}, {Name: "lb2", IP: "10.213.0.32"}},
		hosts: []string{"{name: lb1, address: 10.213.0.31, role: loadbalancer}", "{name: lb2, address: 10.213.0.32, role: loadbalancer}"},
		// kube-proxy's nftables mode shares this cluster (issue 17): its
		// checks touch nothing the load balancers' do.
		network: "{kubeProxyMode: nftables, podSubnet: " + flannelPodSubnet + "}",
		cni:     "{plugin: manifest, manifest: " + fl.path + ", ports: [" + flannelVXLANPort + "]}",
	})
	// firewalld runs on every host, as on seeds 001-003's CentOS hosts
	// (issue 17): everything this scenario proves goes through what
	// host-prep opened.
	c.startFirewalld(ctx, t)
	nodes := []string{"m1", "m2", "m3", "w1", "w2"}
	c.importFlannel(ctx, t, fl, nodes)
	found := c.operatorHosts(ctx, t, append(slices.Clone(nodes), "lb1", "lb2"))
	c.applyOK(ctx, t)
	t.Run("firewalld: each role's ports, VRRP, flannel's VXLAN and the Pod network opened", func(t *testing.T) {
		c.checkFirewalld(ctx, t, flannelPodSubnet, []string{flannelVXLANPort})
	})
	t.Run("kube-proxy in nftables mode serves Services", func(t *testing.T) { c.checkNFTablesProxy(ctx, t) })
	t.Run("pods on every worker answer across the Pod network", func(t *testing.T) { c.podsOnWorkers(ctx, t, "fw") })
	c.checkFlannel(ctx, t, fl, nodes)
	t.Run("a rerun changes nothing", func(t *testing.T) { c.noChangeRerun(ctx, t) })
	var holder *machines.Machine
	for _, name := range []string{"lb1", "lb2"} {
		m := c.machine(name)
		out, _ := m.Exec(ctx, "sh", "-c", "systemctl is-active haproxy keepalived; sysctl -n net.ipv4.ip_nonlocal_bind; ip -4 -o addr show eth0")
		if lines := strings.Split(out, "\n"); len(lines) < 3 || lines[0] != "active" || lines[1] != "active" || lines[2] != "1" {
			t.Fatalf("%s: haproxy/keepalived not active or ip_nonlocal_bind not 1:\n%s", name, out)
		}
		if strings.Contains(out, " "+vip+"/") {
			if holder != nil {
				t.Fatalf("%s and %s both hold the VIP: their VRRP adverts do not reach each other", holder.Name, name)
			}
			holder = m
		}
	}
	for _, name := range []string{"m1", "m2", "m3"} {
		if out, _ := c.machine(name).Exec(ctx, "sh", "-c", "systemctl is-active haproxy keepalived || true"); hasLine(out, "active") {
			t.Errorf("%s runs a load balancer with placement dedicated:\n%s", name, out)
		}
	}
	if holder == nil {
		t.Fatal("no load-balancer host holds the VIP")
	}
	longest := crashVIPHolder(ctx, t, holder, "https://"+vip+":6443/readyz")
	t.Logf("dedicated LB holder %s crashed: longest run of failed requests %v (what clients feel: make bench-failover, docs/failover.md)", holder.Name, longest.Round(10*time.Millisecond))
	if err := holder.Uncrash(ctx); err != nil {
		t.Fatalf("%s back on the network: %v", holder.Name, err)
	}
	t.Run("reset leaves every host as kubeha found it, firewalld's rules too", func(t *testing.T) { c.resetToFound(ctx, t, found) })
}

// crashVIPHolder checks url answers, takes holder off the network (put back
// when the test ends) and returns the longest run of failed requests to url
// while the VIP moves.
func crashVIPHolder(ctx context.Context, t *testing.T, holder *machines.Machine, url string) time.Duration {
	t.Helper()
	client := insecureClient()
	ok := func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	if !ok() {
		t.Fatalf("%s does not answer before the crash", url)
	}
	if err := holder.Crash(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Uncrash(context.Background()) })
	longest, recovered := longestOutage(ok)
	if !recovered || longest > failoverBound {
		t.Fatalf("%s did not answer again within %v of the VIP holder %s's crash (longest run of failures %v, answering at the end: %v)", url, failoverBound, holder.Name, longest.Round(10*time.Millisecond), recovered)
	}
	return longest
}

// failoverBound is what the scenarios assert of a VIP holder's crash: the
// endpoint answers again within it. Generous on purpose (a shared,
// noisy machine); the figures clients feel, and their targets, are
// make bench-failover's (docs/failover.md).
const failoverBound = 10 * time.Second

// longestOutage polls ok every 50 ms for at least 5 s and until it has
// answered again, at most 60 s, and returns the longest run of failures and
// whether ok answered at the end.
func longestOutage(ok func() bool) (time.Duration, bool) {
	start := time.Now()
	var outageStart time.Time
	var longest time.Duration
	for time.Since(start) < 60*time.Second {
		t0 := time.Now()
		if ok() {
			if !outageStart.IsZero() {
				longest = max(longest, time.Since(outageStart))
				outageStart = time.Time{}
			}
			if time.Since(start) > 5*time.Second {
				return longest, true
			}
		} else if outageStart.IsZero() {
			outageStart = t0
		}
		time.Sleep(50*time.Millisecond - time.Since(t0)%(50*time.Millisecond))
	}
	return longest, false
}

func mustLoad(t *testing.T, dir string) *bundle.Manifest {
	m, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// isTook says whether e is the line by which a kubeadm init or join that
// ended well reports its duration.
func isTook(e events.Event) bool {
	_, ok := benchutil.KubeadmTook(e)
	return ok
}

// etcdSnapshot runs kubeha etcd snapshot and checks what it wrote: its
// summary line names a host matching hosts (a regular expression) and the
// file, which is 0600, a bbolt database of the size and sha256 it says,
// and nothing of it is left on that host.
func (c *cluster) etcdSnapshot(ctx context.Context, t *testing.T, hosts string) {
	t.Helper()
	// Outside c.dir: the snapshot holds every Secret of the cluster,
	// which the next subtest looks for in kubeha's local files.
	file := filepath.Join(t.TempDir(), "snap", "etcd.db")
	cmd := exec.CommandContext(ctx, c.kubeha, "etcd", "snapshot", "-i", c.inv, "-o", file, "--output", "plain")
	cmd.Dir = c.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	c.outputs = append(c.outputs, stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("etcd snapshot: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var host, size, sum string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if m := regexp.MustCompile(`^etcd snapshot of cluster e2e taken through (` + hosts + `) at \S+: (\S+), (\d+) bytes, sha256 ([0-9a-f]{64})$`).FindStringSubmatch(l); m != nil {
			if m[2] != file {
				t.Errorf("says it wrote %s, not %s", m[2], file)
			}
			host, size, sum = m[1], m[3], m[4]
		}
	}
	if host == "" {
		t.Fatalf("no summary line in:\n%s", stdout.String())
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", file, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	got := sha256.Sum256(b)
	if strconv.Itoa(len(b)) != size || hex.EncodeToString(got[:]) != sum {
		t.Errorf("the file has %d bytes, sha256 %x; kubeha said %s bytes, sha256 %s", len(b), got, size, sum)
	}
	// etcd's database is a bbolt file: its first page's meta starts
	// with bbolt's magic number (little-endian 0xED0CDAED).
	if len(b) < 20 || !bytes.Equal(b[16:20], []byte{0xED, 0xDA, 0x0C, 0xED}) {
		t.Errorf("%s is not a bbolt database (etcd's format)", file)
	}
	// Nothing of it is left on the master it came from.
	if out, err := c.machine(host).Exec(ctx, "sh", "-c", "ls /var/lib/etcd"); err != nil || strings.Contains(out, "kubeha-snapshot") {
		t.Errorf("the snapshot is left on %s: %v\n%s", host, err, out)
	}
	t.Logf("etcd snapshot through %s: %s bytes", host, size)
}
