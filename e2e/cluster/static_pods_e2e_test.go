//go:build e2e

package cluster

import (
	"context"
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
	c := newCluster(t, ctx, "loadBalancer: {vip: "+vip+", staticPods: true, images: {haproxy: "+machines.LBImage+", keepalived: "+machines.LBImage+"}}")
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

	holder := c.vipHolder(ctx, t)
	longest := crashVIPHolder(ctx, t, holder, "https://"+vip+":16443/readyz")
	t.Logf("static-pod VIP holder %s crashed: longest run of failed requests %v (target 2s)", holder.Name, longest.Round(10*time.Millisecond))

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
