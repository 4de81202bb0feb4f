//go:build e2e

package cluster

import (
	"context"
	"strings"
	"testing"
	"time"
)

// checkNFTablesProxy proves kube-proxy runs in nftables mode on every node
// of a cluster built with spec.network.kubeProxyMode nftables, and that
// Services work through it (issue 17): a NodePort from outside the
// cluster, the ClusterIP from every node, and a Service's name from a pod
// (CoreDNS's ClusterIP first, then the Service's).
func (c *cluster) checkNFTablesProxy(ctx context.Context, t *testing.T) {
	t.Helper()
	nodes := []string{"m1", "m2", "m3", "w1", "w2"}
	// kube-proxy's own answer, its nftables table, and no iptables-mode
	// rules (KUBE-SERVICES is the iptables mode's chain; the kubelet's
	// own KUBE-* chains stay).
	const mode = `curl -s --max-time 5 http://127.0.0.1:10249/proxyMode; echo
nft list table ip kube-proxy >/dev/null && echo "table ip kube-proxy"
iptables-save -t nat | grep -c '^:KUBE-SERVICES ' || true`
	for _, n := range nodes {
		eventually(ctx, t, 120*time.Second, n+": kube-proxy in nftables mode", func() (bool, string) {
			out, _ := c.machine(n).Exec(ctx, "sh", "-c", mode)
			return strings.TrimSpace(out) == "nftables\ntable ip kube-proxy\n0", out
		})
	}

	c.deployWorkload(ctx, t) // waits for the NodePort through w1 and w2
	ip, err := c.kubectlOut(ctx, "get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil || ip == "" {
		t.Fatalf("the echo Service's ClusterIP: %v %s", err, ip)
	}
	for _, n := range nodes {
		eventually(ctx, t, 60*time.Second, n+": the ClusterIP "+ip, func() (bool, string) {
			out, _ := c.machine(n).Exec(ctx, "sh", "-c", "curl -s --max-time 5 http://"+ip+":8080/")
			return strings.HasPrefix(out, "pod=echo-") && strings.Count(out, "\n") == 1, out
		})
	}

	// A pod: the kube-proxy image is a Debian one with curl, and on every
	// node already.
	image, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "daemonset", "kube-proxy", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	if err != nil || image == "" {
		t.Fatalf("kube-proxy's image: %v %s", err, image)
	}
	if out, err := c.kubectlOut(ctx, "run", "svc-client", "--image="+image, "--image-pull-policy=Never", "--restart=Never", "--command", "--",
		"curl", "-sS", "--max-time", "10", "--retry", "10", "--retry-delay", "2", "--retry-all-errors", "http://echo.default.svc.cluster.local:8080/"); err != nil {
		t.Fatalf("start a client pod: %v\n%s", err, out)
	}
	defer c.kubectlOut(context.WithoutCancel(ctx), "delete", "pod", "svc-client", "--wait=false")
	if out, err := c.kubectlOut(ctx, "wait", "pod/svc-client", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=180s"); err != nil {
		logs, _ := c.kubectlOut(ctx, "logs", "svc-client")
		t.Fatalf("the client pod did not reach the Service by name: %v %s\n%s", err, out, logs)
	}
	logs, err := c.kubectlOut(ctx, "logs", "svc-client")
	if err != nil || !strings.HasPrefix(logs, "pod=echo-") || strings.Count(logs, "\n") != 1 {
		t.Fatalf("the client pod's answer from the Service: %v\n%s", err, logs)
	}
	t.Logf("nftables mode on every node; NodePort, ClusterIP %s from every node, and echo.default.svc from a pod answered (%s)", ip, strings.TrimSpace(logs))
}

// eventually calls check every second until it reports true, and fails
// the test with what, the timeout and check's last output when it has not
// within timeout.
func eventually(ctx context.Context, t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, out := check()
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not so after %v; last seen:\n%s", what, timeout, out)
		}
		time.Sleep(time.Second)
	}
}
