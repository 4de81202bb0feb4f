//go:build e2e

// Package cluster holds the scenarios that run the real kubeha binary
// against harness machines with the real kubeadm, keepalived and haproxy.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/kubeha/kubeha/e2e/machines"
	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/events"
)

const vip = "10.213.0.100"

type cluster struct {
	t       *testing.T
	dir     string
	kubeha  string
	inv     string
	ms      []*machines.Machine
	kubectl string
}

func logf(t *testing.T) machines.Logf {
	return func(format string, args ...any) { t.Logf(format, args...) }
}

// newCluster starts baked machines (3 masters, 2 workers) and writes an
// inventory for them. The kubelet settings are what these cgroup-v1 machines
// need, set the way an operator would.
func newCluster(t *testing.T, ctx context.Context) *cluster {
	t.Helper()
	if err := machines.Clean(ctx, logf(t)); err != nil {
		t.Fatal(err)
	}
	before, _ := machines.ReadSysctls()
	d, _, baked, err := machines.PrepareBaked(ctx, logf(t), "../..")
	if err != nil {
		t.Fatal(err)
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
	c := &cluster{t: t, dir: t.TempDir(), kubectl: filepath.Join(machines.KubeDir(machines.KubeVersion), "kubectl")}
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
		specs = append(specs, machines.Spec{Name: n, IP: fmt.Sprintf("10.213.0.%d", 21+i), Image: baked, AuthorizedKeys: ak})
	}
	if c.ms, err = machines.StartMachines(ctx, d, logf(t), specs); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(c.dir, "known_hosts")
	os.WriteFile(known, []byte(machines.KnownHosts(c.ms)), 0o600)
	inv := fmt.Sprintf(`apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: e2e}
spec:
  ssh: {user: root, keyPath: %s, knownHostsPath: %s, useAgent: false}
  hosts:
  - {name: m1, address: 10.213.0.21, role: master}
  - {name: m2, address: 10.213.0.22, role: master}
  - {name: m3, address: 10.213.0.23, role: master}
  - {name: w1, address: 10.213.0.24, role: worker}
  - {name: w2, address: 10.213.0.25, role: worker}
  loadBalancer: {vip: %s}
  network: {kubeProxyMode: iptables}
  kubeadm:
    ignorePreflightErrors: [SystemVerification]
    kubeletConfiguration:
      cgroupDriver: cgroupfs
      failCgroupV1: false
      failSwapOn: false
      evictionHard: {memory.available: "0%%", nodefs.available: "0%%", imagefs.available: "0%%", nodefs.inodesFree: "0%%"}
    kubeProxyConfiguration:
      conntrack: {maxPerCore: 0}
`, key.Path, known, vip)
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
	var evs []events.Event
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e events.Event
		if jerr := json.Unmarshal(sc.Bytes(), &e); jerr != nil {
			c.t.Fatalf("output line is not JSON: %q", sc.Text())
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

func TestHAClusterKeepalivedHAProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	c := newCluster(t, ctx)

	evs, out, took, err := c.apply(ctx)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, lastLines(out, 40))
	}
	t.Logf("apply from nothing: %v", took.Round(100*time.Millisecond))
	var kubeadmTime time.Duration
	for _, e := range evs {
		if e.Kind == events.PhaseDone && (e.Phase == "kubeadm-init" || e.Phase == "join-control-plane" || e.Phase == "join-workers") {
			kubeadmTime += e.Duration
		}
	}
	t.Logf("kubeadm phases: %v of it", kubeadmTime.Round(100*time.Millisecond))
	if tokenRE.MatchString(out) {
		t.Fatal("a bootstrap token appears in kubeha's output")
	}

	nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers")
	if err != nil || strings.Count(nodes, " Ready ") != 5 {
		t.Fatalf("want 5 Ready nodes through the VIP: %v\n%s", err, nodes)
	}

	t.Run("rerun changes nothing", func(t *testing.T) {
		evs, out, took, err := c.apply(ctx)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
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

	t.Run("VIP holder crashes", func(t *testing.T) {
		var holder *machines.Machine
		for _, m := range c.ms[:3] {
			if out, _ := m.Exec(ctx, "ip", "-4", "-o", "addr", "show", "eth0"); strings.Contains(out, vip+"/") {
				holder = m
			}
		}
		if holder == nil {
			t.Fatal("no master holds the VIP")
		}
		client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
		ok := func() bool {
			resp, err := client.Get("https://" + vip + ":16443/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		}
		if !ok() {
			t.Fatal("endpoint not ready before the crash")
		}
		t.Logf("crashing %s (VIP holder)", holder.Name)
		if err := holder.Crash(ctx); err != nil {
			t.Fatal(err)
		}
		defer holder.Uncrash(context.Background())
		start := time.Now()
		var outageStart time.Time
		var longest time.Duration
		recovered := false
		for time.Since(start) < 60*time.Second {
			t0 := time.Now()
			if ok() {
				if !outageStart.IsZero() {
					longest = max(longest, time.Since(outageStart))
					outageStart = time.Time{}
				}
				if time.Since(start) > 5*time.Second {
					recovered = true
					break
				}
			} else if outageStart.IsZero() {
				outageStart = t0
			}
			time.Sleep(50*time.Millisecond - time.Since(t0)%(50*time.Millisecond))
		}
		if !recovered {
			t.Fatalf("endpoint not back 60s after the VIP holder crashed")
		}
		t.Logf("longest run of failed requests through the VIP: %v (target 2s)", longest.Round(10*time.Millisecond))
		if nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers"); err != nil {
			t.Fatalf("kubectl through the endpoint after failover: %v %s", err, nodes)
		}
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
