//go:build e2e

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/kube"
	"github.com/kubeha/kubeha/e2e/machines"
)

// etcdHostIPs are the addresses of the etcd hosts e1-e3.
var etcdHostIPs = map[string]string{"e1": "10.213.0.41", "e2": "10.213.0.42", "e3": "10.213.0.43"}

// etcdHosts are the hosts of role etcd of TestExternalSLB's second
// cluster, and those of the operator's etcd of its third.
var etcdHosts = []string{"e1", "e2", "e3"}

// etcdMachines are the machines of etcdHosts, started with the others.
func etcdMachines() []machines.Spec {
	var specs []machines.Spec
	for _, n := range etcdHosts {
		specs = append(specs, machines.Spec{Name: n, IP: etcdHostIPs[n]})
	}
	return specs
}

// addEtcdHosts lists etcdHosts in the inventory with role etcd, after the
// last host entry, and sets spec.etcd.topology external: seed 004's
// external etcd, which kubeha builds on them.
func (c *cluster) addEtcdHosts(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(c.inv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	last := -1
	for i, l := range lines {
		if hostEntryRE.MatchString(l) {
			last = i
		}
	}
	if last < 0 {
		t.Fatalf("no host entries in the inventory:\n%s", data)
	}
	var add []string
	for _, n := range etcdHosts {
		add = append(add, fmt.Sprintf("  - {name: %s, address: %s, role: etcd}", n, etcdHostIPs[n]))
	}
	add = append(add, "  etcd: {topology: external}")
	lines = slices.Insert(lines, last+1, add...)
	if err := os.WriteFile(c.inv, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkExternalEtcd proves seed 004's external etcd, built by kubeha on
// the hosts of role etcd (etcdHosts) as kubeadm's guide "Set up a High
// Availability etcd cluster with kubeadm" does, in front of the cluster
// whose nodes are nodes: every member is healthy and no etcd host is a
// node; the etcd hosts' kubelets listen on 127.0.0.1 only; the masters
// have the apiservers' client key 0600 and not the etcd CA's key; kubeha
// status finds the cluster healthy; a rerun changes nothing; kubeha etcd
// snapshot takes one through an etcd host. The etcd leader's host is then cut off as a power cut
// looks to its peers (machine.Crash): writes through the endpoint go on,
// each within a minute; it comes back, is healthy again and has, read
// from its own store, what was written while it was away.
func (c *cluster) checkExternalEtcd(ctx context.Context, t *testing.T, nodes []string) {
	e := c.newEtcdClient(ctx, t)
	t.Run("every etcd member healthy; the etcd hosts are no nodes and their kubelets listen on 127.0.0.1", func(t *testing.T) {
		if bad := e.unhealthy(ctx, e.endpoints...); len(bad) > 0 {
			t.Errorf("members not healthy: %v", bad)
		}
		out, err := c.kubectlOut(ctx, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}")
		if got := strings.Fields(out); err != nil || !slices.Equal(got, nodes) {
			t.Errorf("nodes %q (%v), want %v", out, err, nodes)
		}
		for _, n := range etcdHosts {
			out, err := c.machine(n).Exec(ctx, "sh", "-c", "ss -Hltn | awk '{print $4}' | grep -E ':(10250|10248)$'")
			if err != nil || out == "" {
				t.Errorf("%s: no kubelet port listens: %v %q", n, err, out)
			}
			for _, l := range strings.Fields(out) {
				if !strings.HasPrefix(l, "127.0.0.1:") {
					t.Errorf("%s: the kubelet, which authenticates no one, listens on %s", n, l)
				}
			}
		}
		for _, m := range []string{"m1", "m2", "m3"} {
			out, err := c.machine(m).Exec(ctx, "sh", "-c", "stat -c %a /etc/kubernetes/pki/external-etcd/client.key; ls /etc/kubernetes/pki/etcd 2>/dev/null || true")
			if err != nil || strings.TrimSpace(out) != "600" {
				t.Errorf("%s: the client key's mode and the etcd CA files: %q (%v), want 600 and no etcd CA", m, out, err)
			}
		}
		c.healthyStatus(ctx, t)
	})

	t.Run("a rerun with external etcd changes nothing", func(t *testing.T) { c.noChangeRerun(ctx, t) })
	t.Run("etcd snapshot through an etcd host", func(t *testing.T) { c.etcdSnapshot(ctx, t, "e[123]") })

	leader := c.etcdLeader(ctx, t, etcdHosts)
	t.Run("the etcd leader's host cut off: writes through the endpoint go on", func(t *testing.T) {
		if err := leader.Crash(ctx); err != nil {
			t.Fatalf("crash %s: %v", leader.Name, err)
		}
		t.Logf("etcd leader %s cut off", leader.Name)
		var longest time.Duration
		for i := range 10 {
			took := c.writeConfigMap(ctx, t, fmt.Sprintf("etcd-down-%d", i), time.Minute)
			longest = max(longest, took)
			time.Sleep(time.Second)
		}
		t.Logf("10 writes through the endpoint with %s cut off: the slowest took %v", leader.Name, longest.Round(10*time.Millisecond))
		if bad := e.unhealthy(ctx, e.endpoints...); !slices.Equal(bad, []string{e.endpointOf(leader.Name)}) {
			t.Errorf("unhealthy members %v, want only %s's", bad, leader.Name)
		}
	})

	t.Run("the etcd host comes back, healthy, with what was written while it was away", func(t *testing.T) {
		if err := leader.Uncrash(ctx); err != nil {
			t.Fatalf("bring %s back: %v", leader.Name, err)
		}
		start := time.Now()
		for {
			if len(e.unhealthy(ctx, e.endpoints...)) == 0 {
				break
			}
			if time.Since(start) > 2*time.Minute {
				t.Fatalf("members not healthy 2 minutes after %s came back: %v", leader.Name, e.unhealthy(ctx, e.endpoints...))
			}
			time.Sleep(2 * time.Second)
		}
		t.Logf("%s healthy again %v after it came back", leader.Name, time.Since(start).Round(100*time.Millisecond))
		// A serializable read answers from the member's own store.
		var keys []string
		for time.Since(start) < 3*time.Minute {
			out, err := e.run(ctx, []string{e.endpointOf(leader.Name)}, "get", "--consistency=s", "--keys-only", "--prefix", "/registry/configmaps/default/etcd-down-")
			keys = strings.Fields(out)
			if err == nil && len(keys) == 10 {
				return
			}
			time.Sleep(2 * time.Second)
		}
		t.Errorf("%s's own store has %d of the 10 keys written while it was away: %q", leader.Name, len(keys), keys)
	})
}

// etcdClient is etcdctl on this machine (built with the Kubernetes
// binaries) with the etcd cluster's health-check client certificate,
// copied from e1 into the test's directory, 0600.
type etcdClient struct {
	bin, ca, cert, key string
	endpoints          []string
}

func (c *cluster) newEtcdClient(ctx context.Context, t *testing.T) etcdClient {
	t.Helper()
	bin := filepath.Join(machines.KubeDir(c.kubeVersion), "etcdctl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run %s", err, kube.BuildCommand(c.kubeVersion, "etcdctl"))
	}
	e := etcdClient{bin: bin}
	for _, f := range []struct {
		dst  *string
		name string
	}{{&e.ca, "ca.crt"}, {&e.cert, "healthcheck-client.crt"}, {&e.key, "healthcheck-client.key"}} {
		out, err := c.machine("e1").Exec(ctx, "cat", "/etc/kubernetes/pki/etcd/"+f.name)
		if err != nil {
			t.Fatalf("e1: read %s: %v", f.name, err)
		}
		*f.dst = filepath.Join(c.dir, "etcd-"+f.name)
		if err := os.WriteFile(*f.dst, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"e1", "e2", "e3"} {
		e.endpoints = append(e.endpoints, e.endpointOf(n))
	}
	return e
}

func (etcdClient) endpointOf(host string) string { return "https://" + etcdHostIPs[host] + ":2379" }

// run runs etcdctl against endpoints and returns its standard output.
func (e etcdClient) run(ctx context.Context, endpoints []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--endpoints=" + strings.Join(endpoints, ","),
		"--cacert=" + e.ca, "--cert=" + e.cert, "--key=" + e.key, "--dial-timeout=3s", "--command-timeout=5s"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), err
}

// unhealthy lists the endpoints whose member etcdctl does not find
// healthy, in order.
func (e etcdClient) unhealthy(ctx context.Context, endpoints ...string) []string {
	out, _ := e.run(ctx, endpoints, "endpoint", "health", "-w", "json")
	var hs []struct {
		Endpoint string `json:"endpoint"`
		Health   bool   `json:"health"`
	}
	_ = json.Unmarshal([]byte(out), &hs)
	healthy := map[string]bool{}
	for _, h := range hs {
		healthy[h.Endpoint] = h.Health
	}
	var bad []string
	for _, ep := range endpoints {
		if !healthy[ep] {
			bad = append(bad, ep)
		}
	}
	return bad
}

// etcdLeader is the etcd host whose member leads, by its own metrics.
func (c *cluster) etcdLeader(ctx context.Context, t *testing.T, hosts []string) *machines.Machine {
	t.Helper()
	var leaders []string
	for _, n := range hosts {
		out, err := c.machine(n).Exec(ctx, "sh", "-c", "curl -s --max-time 3 http://127.0.0.1:2381/metrics | grep '^etcd_server_is_leader '")
		if err != nil {
			t.Fatalf("%s: etcd's metrics: %v %s", n, err, out)
		}
		if strings.TrimSpace(out) == "etcd_server_is_leader 1" {
			leaders = append(leaders, n)
		}
	}
	if len(leaders) != 1 {
		t.Fatalf("etcd leaders %v, want one", leaders)
	}
	return c.machine(leaders[0])
}

// writeConfigMap creates ConfigMap name in default through the endpoint,
// trying again until within, and returns how long it took. A try that
// timed out after etcd took the write finds it there: that is a success.
func (c *cluster) writeConfigMap(ctx context.Context, t *testing.T, name string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		out, err := c.kubectlOut(ctx, "create", "configmap", name, "--from-literal=at="+time.Now().UTC().Format(time.RFC3339Nano))
		if err == nil || strings.Contains(out, "AlreadyExists") {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("write %s through the endpoint: still failing after %v: %v %s", name, within, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
