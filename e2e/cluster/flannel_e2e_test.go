//go:build e2e

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/flannel"
	"github.com/kubeha/kubeha/e2e/machines"
)

// flannelPodSubnet is the spec.network.podSubnet of the scenarios on
// flannel (TestFlannel, TestDedicatedLoadBalancers): not flannel's default
// 10.244.0.0/16, so that flannel's network is the cluster's only
// through kubeha's substitution in the manifest.
const flannelPodSubnet = "10.200.0.0/16"

// flannelVXLANPort is flannel's VXLAN port (its default, and
// kube-flannel.yml's), which cni.ports opens where firewalld runs.
const flannelVXLANPort = "8472/udp"

// flannelManifest is what a scenario on flannel needs before its
// cluster is built: the manifest as the operator gives it to kubeha, and
// the CNI plugin its images carry.
type flannelManifest struct {
	given  []byte // the operator's copy: what kubeha is given
	path   string // where given is, for the inventory's cni.manifest
	plugin string // the flannel CNI plugin binary
}

// prepareFlannel builds what flannel needs (e2e/flannel/build.sh) and
// writes the operator's copy of kube-flannel.yml. With plugin "" it is the
// plugin build.sh builds from containernetworking/plugins v0.9.1, which
// speaks CNI up to 0.4.0: the copy has its conflist's cniVersion set to
// that (from 1.0.0) and is otherwise as published. With a plugin built
// outside the project from flannel-io/cni-plugin, the copy is exactly as
// published.
func prepareFlannel(ctx context.Context, t *testing.T, plugin string) flannelManifest {
	t.Helper()
	if err := flannel.Build(ctx, logf(t), "../.."); err != nil {
		t.Fatal(err)
	}
	published, err := os.ReadFile(flannel.ManifestPath())
	if err != nil {
		t.Fatal(err)
	}
	f := flannelManifest{given: published, plugin: plugin}
	if plugin == "" {
		f.plugin = flannel.ServedPluginPath()
		if f.given, err = flannel.WithCNIVersion(published, flannel.ServedPluginCNIVersion); err != nil {
			t.Fatal(err)
		}
		t.Logf("flannel CNI plugin: containernetworking/plugins v0.9.1's (%s), the manifest's conflist at CNI %s", f.plugin, flannel.ServedPluginCNIVersion)
	} else {
		t.Logf("flannel CNI plugin: %s=%s, the manifest as published", flannel.PluginEnv, plugin)
	}
	f.path = filepath.Join(t.TempDir(), "kube-flannel.yml")
	if err := os.WriteFile(f.path, f.given, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// importFlannel makes the two images f's manifest names and imports them
// into the machines nodes (the machines pull nothing), and registers a
// clean-up that logs, when the test failed, what a failed run on flannel
// needs to be understood while the cluster is still there (it runs before
// the machines' clean-up).
func (c *cluster) importFlannel(ctx context.Context, t *testing.T, f flannelManifest, nodes []string) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, args := range [][]string{
			{"get", "pods", "-A", "-o", "wide"},
			{"-n", "kube-flannel", "logs", "-l", "app=flannel", "--all-containers", "--prefix", "--tail=30"},
		} {
			out, _ := c.kubectlOut(ctx, args...)
			t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
		}
	})
	images, err := flannel.Images(ctx, c.d, logf(t), c.bareTag, f.given, f.plugin)
	if err != nil {
		t.Fatal(err)
	}
	var ms []*machines.Machine
	for _, n := range nodes {
		ms = append(ms, c.machine(n))
	}
	start := time.Now()
	if err := machines.ImportImages(ctx, c.d, images, ms); err != nil {
		t.Fatal(err)
	}
	t.Logf("images %s imported into %d machines in %v", strings.Join(images, ", "), len(ms), time.Since(start).Round(100*time.Millisecond))
}

// TestFlannel: issue 17, a real manifest CNI, with the plugin flannel
// ships. flannel's own kube-flannel.yml (v0.28.10, as published: VXLAN,
// flanneld in iptables mode with --ip-masq) goes through cni: manifest,
// kubeha changing nothing in it but flannel's default Pod network, which
// it makes podSubnet; checkFlannel's checks pass; a rerun changes nothing;
// reset leaves every host as kubeha found it.
//
// CI runs flannel in TestDedicatedLoadBalancers, with the plugin
// e2e/flannel/build.sh builds from containernetworking/plugins v0.9.1 (the
// Go module proxy serves it). This test is for the plugin flannel ships
// today, github.com/flannel-io/cni-plugin, which no proxy serves: build it
// outside the project and name the binary in KUBEHA_FLANNEL_CNI_PLUGIN
// (docs/inventory.md, "A manifest CNI: flannel"); without it the test
// skips.
func TestFlannel(t *testing.T) {
	plugin := os.Getenv(flannel.PluginEnv)
	if plugin == "" {
		t.Skip(flannel.PluginEnv + " is not set: flannel's own CNI plugin is not served by the Go module proxy; build it outside the project and name the binary (docs/inventory.md, \"A manifest CNI: flannel\"). TestDedicatedLoadBalancers runs flannel with the plugin the proxy serves.")
	}
	if fi, err := os.Stat(plugin); err != nil || fi.IsDir() {
		t.Fatalf("%s=%s: not a file: %v", flannel.PluginEnv, plugin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	f := prepareFlannel(ctx, t, plugin)
	c := newClusterWith(t, ctx, clusterOpts{
		lb:      keepalivedLB,
		network: "{kubeProxyMode: ipvs, kubeProxyFallbackMode: iptables, podSubnet: " + flannelPodSubnet + "}",
		cni:     "{plugin: manifest, manifest: " + f.path + "}",
	})
	nodes := []string{"m1", "m2", "m3", "w1", "w2"}
	c.importFlannel(ctx, t, f, nodes)
	found := c.operatorHosts(ctx, t, nodes)
	c.applyOK(ctx, t)
	c.checkFlannel(ctx, t, f, nodes)
	t.Run("a rerun changes nothing", func(t *testing.T) { c.noChangeRerun(ctx, t) })
	t.Run("reset leaves every host as kubeha found it", func(t *testing.T) { c.resetToFound(ctx, t, found) })
}

// checkFlannel checks, as subtests, a cluster built on f with podSubnet
// flannelPodSubnet: the manifest applied is the operator's with podSubnet
// for flannel's network; the kube-flannel DaemonSet runs on every node;
// every node has flannel.1, a VXLAN device on its own address, and a
// flannel subnet that is its Pod CIDR; pods on w1, w2 and m1 reach each
// other, the packets counted on flannel.1 at both ends; a ClusterIP
// Service answers a pod by name and a NodePort a node.
func (c *cluster) checkFlannel(ctx context.Context, t *testing.T, f flannelManifest, nodes []string) {
	t.Helper()
	t.Run("the manifest applied is the operator's with podSubnet for flannel's network", func(t *testing.T) {
		want := strings.ReplaceAll(string(f.given), "10.244.0.0/16", flannelPodSubnet)
		got, err := c.machine("m1").Exec(ctx, "cat", "/etc/kubeha/cni-manifest.yaml")
		if err != nil || got != want {
			t.Errorf("m1's /etc/kubeha/cni-manifest.yaml is not the operator's manifest with %s for 10.244.0.0/16: %v\n%s", flannelPodSubnet, err, lineDiff(want, got))
		}
		conf, err := c.kubectlOut(ctx, "-n", "kube-flannel", "get", "configmap", "kube-flannel-cfg", "-o", `jsonpath={.data.net-conf\.json}`)
		var nc struct{ Network string }
		if err != nil || json.Unmarshal([]byte(conf), &nc) != nil || nc.Network != flannelPodSubnet {
			t.Errorf("flannel's net-conf.json: %v %s; want Network %s", err, conf, flannelPodSubnet)
		}
	})

	t.Run("flannel runs on every node", func(t *testing.T) {
		if out, err := c.kubectlOut(ctx, "-n", "kube-flannel", "rollout", "status", "daemonset/kube-flannel-ds", "--timeout=180s"); err != nil {
			t.Fatalf("kube-flannel-ds not rolled out: %v\n%s", err, out)
		}
		out, err := c.kubectlOut(ctx, "-n", "kube-flannel", "get", "pods", "-l", "app=flannel", "-o",
			`jsonpath={range .items[*]}{.spec.nodeName} {.status.phase} {.status.containerStatuses[0].ready}{"\n"}{end}`)
		if err != nil {
			t.Fatalf("%v %s", err, out)
		}
		var want []string
		for _, n := range nodes {
			want = append(want, n+" Running true")
		}
		if d := lineDiff(strings.Join(want, "\n"), strings.TrimSpace(out)); d != "" {
			t.Errorf("flannel pods, want one Running and ready per node:\n%s", d)
		}
	})

	t.Run("flannel.1 is a VXLAN device on every node, its subnet the node's Pod CIDR", func(t *testing.T) {
		cidrs := c.podCIDRs(ctx, t)
		for _, n := range nodes {
			m := c.machine(n)
			link, err := m.Exec(ctx, "ip", "-d", "link", "show", "flannel.1")
			if err != nil {
				t.Errorf("%s: no flannel.1: %v %s", n, err, link)
				continue
			}
			if err := checkVXLAN(link, m.IP); err != nil {
				t.Errorf("%s: %v", n, err)
			}
			env, err := m.Exec(ctx, "cat", "/run/flannel/subnet.env")
			if err != nil {
				t.Errorf("%s: %v %s", n, err, env)
				continue
			}
			vars := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(env), "\n") {
				k, v, _ := strings.Cut(l, "=")
				vars[k] = v
			}
			_, subnet, err := net.ParseCIDR(vars["FLANNEL_SUBNET"])
			if err != nil || vars["FLANNEL_NETWORK"] != flannelPodSubnet || subnet.String() != cidrs[n] || cidrs[n] == "" {
				t.Errorf("%s: subnet.env\n%s\nwant FLANNEL_NETWORK=%s and FLANNEL_SUBNET in the node's Pod CIDR %q", n, env, flannelPodSubnet, cidrs[n])
			}
			// flannel's conflist alone (kubeha writes none with a
			// manifest), flannel's plugin, and the distribution's
			// plugins it delegates to where containerd looks.
			files, err := m.Exec(ctx, "sh", "-c", "ls /etc/cni/net.d; test -x /opt/cni/bin/flannel && echo flannel plugin; for p in bridge host-local portmap loopback; do readlink /opt/cni/bin/$p; done")
			if want := "10-flannel.conflist\nflannel plugin\n/usr/lib/cni/bridge\n/usr/lib/cni/host-local\n/usr/lib/cni/portmap\n/usr/lib/cni/loopback\n"; err != nil || files != want {
				t.Errorf("%s: CNI files:\n%s(%v)\nwant\n%s", n, files, err, want)
			}
		}
	})

	// Client pods (the kube-proxy image: Debian with curl, on every node)
	// and echo servers, on both workers and on m1.
	image, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "daemonset", "kube-proxy", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	if err != nil || image == "" {
		t.Fatalf("kube-proxy's image: %v %s", err, image)
	}
	echoIP := map[string]string{}
	for _, n := range []string{"w1", "w2", "m1"} {
		echoIP[n] = c.podOn(ctx, t, "echo-"+n, n, machines.EchoImage, "--env=NODE_NAME="+n)
	}
	for _, n := range []string{"w1", "w2"} {
		c.podOn(ctx, t, "client-"+n, n, image, "--command", "--", "sleep", "infinity")
	}

	t.Run("pods on different nodes reach each other through flannel.1", func(t *testing.T) {
		for _, p := range []struct{ from, to string }{{"w1", "w2"}, {"w2", "w1"}, {"w1", "m1"}, {"w2", "m1"}} {
			out, err := c.podExec(ctx, "client-"+p.from, "curl -sS --max-time 5 http://"+echoIP[p.to]+":8080/")
			if want := "pod=echo-" + p.to + " node=" + p.to + "\n"; err != nil || out != want {
				t.Errorf("a pod on %s asking the echo pod on %s (%s): %v %q", p.from, p.to, echoIP[p.to], err, out)
			}
		}
		// The route to the other worker's pod is flannel.1.
		route, err := c.machine("w1").Exec(ctx, "ip", "-o", "route", "get", echoIP["w2"])
		if f := strings.Fields(route); err != nil || fieldAfter(f, "dev") != "flannel.1" {
			t.Errorf("w1's route to %s: %v %q, want through flannel.1", echoIP["w2"], err, route)
		}
		// n requests from w1's client to w2's echo pod, each on a new
		// connection (SYN, the request, FIN at least): each end's
		// flannel.1 sends and receives at least 2n packets more.
		const n = 50
		before := map[string][2]int64{"w1": c.flannelPackets(ctx, t, "w1"), "w2": c.flannelPackets(ctx, t, "w2")}
		loop := fmt.Sprintf("i=0; while [ $i -lt %d ]; do curl -sf --max-time 5 -o /dev/null http://%s:8080/ || exit 1; i=$((i+1)); done; echo ok", n, echoIP["w2"])
		if out, err := c.podExec(ctx, "client-w1", loop); err != nil || out != "ok\n" {
			t.Fatalf("%d requests from w1 to w2: %v %q", n, err, out)
		}
		for _, node := range []string{"w1", "w2"} {
			after := c.flannelPackets(ctx, t, node)
			tx, rx := after[0]-before[node][0], after[1]-before[node][1]
			t.Logf("%s flannel.1 during %d requests: %d packets sent, %d received", node, n, tx, rx)
			if tx < 2*n || rx < 2*n {
				t.Errorf("%s: flannel.1 sent %d and received %d packets during %d requests, want at least %d each", node, tx, rx, n, 2*n)
			}
		}
	})

	t.Run("a ClusterIP Service answers a pod by name, a NodePort a node", func(t *testing.T) {
		c.deployWorkload(ctx, t) // waits for the NodePort through w1 and w2 from outside
		ip, err := c.kubectlOut(ctx, "get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}")
		if err != nil || ip == "" {
			t.Fatalf("the echo Service's ClusterIP: %v %s", err, ip)
		}
		for _, url := range []string{"http://echo.default.svc.cluster.local:8080/", "http://" + ip + ":8080/"} {
			for _, from := range []string{"client-w1", "client-w2"} {
				out, err := c.podExec(ctx, from, "curl -sS --max-time 5 --retry 5 --retry-delay 1 --retry-all-errors "+url)
				if err != nil || !strings.HasPrefix(out, "pod=echo-") || strings.Count(out, "\n") != 1 {
					t.Errorf("%s asking %s: %v %q", from, url, err, out)
				}
			}
		}
		for _, w := range []string{"w1", "w2"} {
			url := "http://" + c.machine(w).IP + ":30080/"
			out, err := c.machine("m1").Exec(ctx, "curl", "-sS", "--max-time", "5", url)
			if err != nil || !strings.HasPrefix(out, "pod=echo-") || strings.Count(out, "\n") != 1 {
				t.Errorf("m1 asking %s: %v %q", url, err, out)
			}
		}
	})
}

// checkVXLAN checks the output of `ip -d link show flannel.1` on the
// machine at ip: the link is flannel.1, and its details line says VXLAN
// with VNI 1 on the machine's address and eth0, to UDP port 8472 (flannel's
// defaults), each read as a whole field.
func checkVXLAN(out, ip string) error {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[0]); len(f) < 2 || f[1] != "flannel.1:" {
		return fmt.Errorf("not flannel.1:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "vxlan" {
			continue
		}
		got := fmt.Sprintf("id %s local %s dev %s dstport %s", fieldAfter(f, "id"), fieldAfter(f, "local"), fieldAfter(f, "dev"), fieldAfter(f, "dstport"))
		if want := "id 1 local " + ip + " dev eth0 dstport 8472"; got != want {
			return fmt.Errorf("flannel.1's VXLAN: %s, want %s:\n%s", got, want, out)
		}
		return nil
	}
	return fmt.Errorf("flannel.1 is no VXLAN device:\n%s", out)
}

// fieldAfter is the field that follows the field key in f, or "".
func fieldAfter(f []string, key string) string {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == key {
			return f[i+1]
		}
	}
	return ""
}

// podCIDRs is each node's .spec.podCIDR.
func (c *cluster) podCIDRs(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	out, err := c.kubectlOut(ctx, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR}{"\n"}{end}`)
	if err != nil {
		t.Fatalf("nodes' Pod CIDRs: %v %s", err, out)
	}
	cidrs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			cidrs[f[0]] = f[1]
		}
	}
	return cidrs
}

// podOn starts pod name from image on node (whatever its taints), with
// kubectl run's further args, waits until it is Ready and returns its IP.
func (c *cluster) podOn(ctx context.Context, t *testing.T, name, node, image string, args ...string) string {
	t.Helper()
	run := append([]string{"run", name, "--image=" + image, "--image-pull-policy=Never", "--restart=Never",
		`--overrides={"spec":{"nodeName":"` + node + `","tolerations":[{"operator":"Exists"}]}}`}, args...)
	if out, err := c.kubectlOut(ctx, run...); err != nil {
		t.Fatalf("kubectl run %s: %v %s", name, err, out)
	}
	if out, err := c.kubectlOut(ctx, "wait", "--for=condition=Ready", "pod/"+name, "--timeout=120s"); err != nil {
		desc, _ := c.kubectlOut(ctx, "describe", "pod", name)
		t.Fatalf("pod %s on %s not Ready: %v %s\n%s", name, node, err, out, lastLines(desc, 25))
	}
	ip, err := c.kubectlOut(ctx, "get", "pod", name, "-o", "jsonpath={.status.podIP}")
	if err != nil || net.ParseIP(ip) == nil {
		t.Fatalf("pod %s's IP: %v %q", name, err, ip)
	}
	return ip
}

// podExec runs script with sh in pod's first container and returns its
// standard output and error. kubectlOut's 5-second request timeout would
// cut a longer exec short, so it has none but a minute of its own.
func (c *cluster) podExec(ctx context.Context, pod, script string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kubectl, "--kubeconfig", filepath.Join(c.dir, ".kubeha", "e2e", "admin.conf"), "exec", pod, "--", "sh", "-c", script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// flannelPackets is node's flannel.1 packet counters: sent, received.
func (c *cluster) flannelPackets(ctx context.Context, t *testing.T, node string) [2]int64 {
	t.Helper()
	out, err := c.machine(node).Exec(ctx, "cat", "/sys/class/net/flannel.1/statistics/tx_packets", "/sys/class/net/flannel.1/statistics/rx_packets")
	f := strings.Fields(out)
	if err != nil || len(f) != 2 {
		t.Fatalf("%s: flannel.1's counters: %v %q", node, err, out)
	}
	var n [2]int64
	for i := range f {
		if n[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			t.Fatalf("%s: flannel.1's counters: %q", node, out)
		}
	}
	return n
}
