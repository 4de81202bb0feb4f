//go:build e2e

package cluster

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/machines"
	"github.com/kubeha/kubeha/events"
)

// TestKubeVIP: seed 003's kube-vip. kube-vip runs as a static pod on each
// master (ARP, leader election) and the leader holds the VIP, which
// reaches its own apiserver on 6443; the first master's kube-vip used
// super-admin.conf during kubeadm init and admin.conf after. The VIP
// holder crashes: another master takes the VIP. Then reset leaves every
// host as it was found.
//
// No Go module proxy serves kube-vip, so the project neither builds nor
// carries it: build it from its source outside the project
// (CGO_ENABLED=0 go build) and name the binary in KUBEHA_KUBE_VIP_BINARY;
// without it the test skips. The harness wraps the binary in an image.
func TestKubeVIP(t *testing.T) {
	binary := os.Getenv("KUBEHA_KUBE_VIP_BINARY")
	if binary == "" {
		t.Skip("KUBEHA_KUBE_VIP_BINARY is not set: kube-vip is not served by the Go module proxy; build it outside the project and name the binary (README, kube-vip)")
	}
	image, err := machines.BinaryImageName(binary, kubeVIPImagePrefix)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	c := newClusterWith(t, ctx, clusterOpts{lb: kubeVIPLB(image)})
	c.importKubeVIP(ctx, t, binary)
	masters := []string{"m1", "m2", "m3"}
	found := c.operatorHosts(ctx, t, []string{"m1", "m2", "m3", "w1", "w2"})
	c.applyOK(ctx, t)

	t.Run("kube-vip runs on every master with admin.conf, one holds the VIP", func(t *testing.T) {
		pods, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "pods", "--no-headers")
		if err != nil {
			t.Fatalf("%v %s", err, pods)
		}
		for _, m := range masters {
			var line string
			for _, l := range strings.Split(pods, "\n") {
				if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[0], "kube-vip") && strings.HasSuffix(f[0], "-"+m) {
					line = l
				}
			}
			if f := strings.Fields(line); len(f) < 3 || f[2] != "Running" {
				t.Errorf("%s: no Running kube-vip static pod:\n%s", m, pods)
			}
			// After init the first master's kube-vip is switched to
			// admin.conf: super-admin.conf is in no manifest.
			out, err := c.machine(m).Exec(ctx, "sh", "-c", "grep -l kube-vip /etc/kubernetes/manifests/*.yaml; grep -H -c super-admin.conf /etc/kubernetes/manifests/*.yaml || true")
			if err != nil || !strings.Contains(out, ".yaml\n") {
				t.Errorf("%s: no kube-vip manifest: %v %s", m, err, out)
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if i := strings.LastIndexByte(l, ':'); i > 0 && l[i+1:] != "0" {
					t.Errorf("%s: a manifest still names super-admin.conf: %s", m, l)
				}
			}
		}
		if n := len(c.vipHolders(ctx, "m1", "m2", "m3")); n != 1 {
			t.Errorf("%d masters hold the VIP, want 1", n)
		}
	})

	t.Run("a rerun changes nothing", func(t *testing.T) { c.noChangeRerun(ctx, t) })

	t.Run("certs renew restarts kube-vip on every master, the VIP holder last; a rerun changes nothing", func(t *testing.T) {
		holder := c.vipHolder(ctx, t)
		out, err := c.run(ctx, "certs", "renew", "-i", c.inv, "--output", "json")
		if err != nil {
			t.Fatalf("certs renew: %v\n%s", err, lastLines(out, 40))
		}
		// The restarts, in the order they came.
		var order []string
		for _, l := range strings.Split(out, "\n") {
			var e events.Event
			if json.Unmarshal([]byte(l), &e) == nil && e.Kind == events.Output && e.Message == "restarting kube-vip-"+e.Host {
				order = append(order, e.Host)
			}
		}
		if len(order) != 3 || order[2] != holder.Name {
			t.Errorf("kube-vip restarted on %v, want each master once and %s (the VIP holder) last", order, holder.Name)
		}
		for _, m := range masters {
			ann, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "pod", "kube-vip-"+m, "-o",
				`jsonpath={.metadata.annotations.kubeha\.io/restarted} {.status.phase}`)
			if f := strings.Fields(ann); err != nil || len(f) != 2 || f[1] != "Running" {
				t.Errorf("%s: kube-vip after the renewal: %v %q, want the restart's annotation and Running", m, err, ann)
			}
		}
		if n := len(c.vipHolders(ctx, "m1", "m2", "m3")); n != 1 {
			t.Errorf("%d masters hold the VIP after the renewal, want 1", n)
		}
		// The restarted manifests are kubeha's own: apply rewrites none
		// of them (which would restart kube-vip and move the VIP again).
		c.noChangeRerun(ctx, t)
	})

	holder := c.vipHolder(ctx, t)
	longest := crashVIPHolder(ctx, t, holder, "https://"+vip+":6443/readyz")
	t.Logf("kube-vip VIP holder %s crashed: longest run of failed requests %v (what clients feel: make bench-failover, docs/failover.md)", holder.Name, longest.Round(10*time.Millisecond))
	if nodes, err := c.kubectlOut(ctx, "get", "nodes", "--no-headers"); err != nil {
		t.Errorf("kubectl through the VIP after the failover: %v %s", err, nodes)
	}

	t.Run("reset leaves every host as kubeha found it", func(t *testing.T) {
		if err := holder.Uncrash(ctx); err != nil {
			t.Fatalf("bring %s back: %v", holder.Name, err)
		}
		c.resetToFound(ctx, t, found)
	})
}

// kubeVIPImagePrefix names the image machines.BinaryImage wraps a kube-vip
// binary in.
const kubeVIPImagePrefix = "kubeha.local/kube-vip"

// kubeVIPLB is the inventory's stanza for kube-vip from image on the
// masters: it moves the VIP and balances nothing, so the endpoint is each
// apiserver's own port, 6443. TestKubeVIP and make bench-failover's
// kube-vip setup share it.
func kubeVIPLB(image string) string {
	return "controlPlaneEndpoint: {name: e2e-apiserver, port: 6443}\n  loadBalancer: {mode: kube-vip, vip: " + vip + ", images: {kubeVip: " + image + "}}"
}

// importKubeVIP wraps binary in its image (the one kubeVIPLB is given,
// machines.BinaryImageName) and puts it in the masters' containerd, before
// apply: the machines pull nothing.
func (c *cluster) importKubeVIP(ctx context.Context, t *testing.T, binary string) {
	t.Helper()
	image, err := machines.BinaryImage(ctx, c.d, logf(t), binary, kubeVIPImagePrefix, "/kube-vip")
	if err != nil {
		t.Fatal(err)
	}
	if err := machines.ImportImage(ctx, c.d, image, c.ms[:3]); err != nil {
		t.Fatal(err)
	}
}
