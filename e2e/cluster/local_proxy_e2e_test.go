//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubeha/kubeha/e2e/machines"
)

// localProxyHAProxy is the loadBalancer stanza of seed 000's setup with
// local-proxy's default proxy, haproxy, on every worker.
const localProxyHAProxy = "loadBalancer: {mode: local-proxy, proxy: haproxy}"

// checkLocalProxyHAProxy is seed 000's setup with haproxy (the air-gapped
// scenario runs nginx): each worker's haproxy serves 127.0.0.1:6443, the
// endpoint name resolves there, masters reach their own apiserver; then a
// master crashes and a client on w1, the same as docs/failover.md's, says
// what that cost. The figures are logged for docs/failover.md.
func (c *cluster) checkLocalProxyHAProxy(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, name := range []string{"w1", "w2"} {
		out, err := c.machine(name).Exec(ctx, "sh", "-c", "systemctl is-active haproxy kubeha-nginx; getent ahostsv4 e2e-apiserver | awk 'NR==1 {print $1}'; curl -sk https://127.0.0.1:6443/readyz; echo")
		if got, want := strings.TrimSpace(out), "active\ninactive\n127.0.0.1\nok"; got != want {
			t.Fatalf("%s: haproxy local proxy not serving (want the lines %q): %v\n%s", name, want, err, out)
		}
	}
	for _, name := range []string{"m1", "m2", "m3"} {
		out, err := c.machine(name).Exec(ctx, "sh", "-c", "systemctl is-active haproxy; getent ahostsv4 e2e-apiserver | awk 'NR==1 {print $1}'")
		if got, want := strings.TrimSpace(out), "inactive\n127.0.0.1"; got != want {
			t.Fatalf("%s: a master behind the local proxy reaches its own apiserver, without a proxy (want the lines %q): %v\n%s", name, want, err, out)
		}
	}

	ok, stop := c.readyzFrom(ctx, t, c.machine("w1"), "127.0.0.1:6443")
	defer stop()
	if !ok() {
		t.Fatal("w1's local proxy does not answer before the crash")
	}
	m2 := c.machine("m2")
	t.Logf("crashing m2 (its link down); a client on w1 asks https://127.0.0.1:6443/readyz every 50 ms for 30 s")
	if err := m2.Crash(ctx); err != nil {
		t.Fatal(err)
	}
	o := measureOutage(ctx, ok, 30*time.Second)
	if err := m2.Uncrash(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("local proxy (haproxy) on w1, m2 crashed: %s", o)
	// Outcomes, generously: no outage of 10 s, the API answering at the
	// end, and after the first 10 s (haproxy marks m2 down in about 1 s)
	// at most 2% failed, where a proxy still sending a share to m2 fails
	// about a third. A lone failure later (etcd choosing a new leader,
	// a noisy machine) is what a client feels and is reported, not failed.
	if o.Longest > 10*time.Second || o.LastOK.Before(o.LastFailure) || o.Late*50 > o.LateRequests {
		t.Errorf("w1's API through its local proxy not serving around m2's crash (want no run of failures over 10 s, the last request answered, and at most 2%% failed after the first 10 s): %s", o)
	}
	eventually(ctx, t, 3*time.Minute, "m2 Ready again after its link came back", func() (bool, string) {
		out, _ := c.kubectlOut(ctx, "get", "node", "m2", "--no-headers")
		f := strings.Fields(out)
		return len(f) > 1 && f[1] == "Ready", out
	})
}

// outage is what a client saw around a fault: its requests from Start
// (the fault) over the window, the failed ones, the longest run of
// failures, and the first and last failure.
type outage struct {
	Start, FirstFailure, LastFailure, LastOK time.Time
	Requests, Failed                         int
	Longest                                  time.Duration
	// LateRequests and Late count the requests, and the failed ones,
	// from lateAfter after the fault on: what is left once the proxy
	// or the load balancer has had time to notice.
	LateRequests, Late int
}

// lateAfter is when measureOutage starts counting late failures.
const lateAfter = 10 * time.Second

func (o outage) String() string {
	if o.Failed == 0 {
		return fmt.Sprintf("0 of %d requests failed", o.Requests)
	}
	return fmt.Sprintf("%d of %d requests failed, the longest run %v, from %v to %v after the fault; %d of the %d from %v on",
		o.Failed, o.Requests, o.Longest.Round(10*time.Millisecond),
		o.FirstFailure.Sub(o.Start).Round(10*time.Millisecond), o.LastFailure.Sub(o.Start).Round(10*time.Millisecond),
		o.Late, o.LateRequests, lateAfter)
}

// measureOutage calls ok every 50 ms for window (a call that takes longer
// delays the next) and reports what it saw. A run of failures is timed
// from its first failed request's start to the start of the next request
// that succeeded.
func measureOutage(ctx context.Context, ok func() bool, window time.Duration) outage {
	o := outage{Start: time.Now()}
	var runStart time.Time
	for time.Since(o.Start) < window && ctx.Err() == nil {
		t0 := time.Now()
		o.Requests++
		late := t0.Sub(o.Start) >= lateAfter
		if late {
			o.LateRequests++
		}
		if ok() {
			o.LastOK = t0
			if !runStart.IsZero() {
				o.Longest = max(o.Longest, t0.Sub(runStart))
				runStart = time.Time{}
			}
		} else {
			o.Failed++
			if late {
				o.Late++
			}
			o.LastFailure = t0
			if o.FirstFailure.IsZero() {
				o.FirstFailure = t0
			}
			if runStart.IsZero() {
				runStart = t0
			}
		}
		time.Sleep(50*time.Millisecond - time.Since(t0)%(50*time.Millisecond))
	}
	if !runStart.IsZero() {
		o.Longest = max(o.Longest, time.Since(runStart))
	}
	return o
}

// readyzFrom returns a check of https://ADDR/readyz made from inside m's
// network namespace, where a node's local proxy listens: the same request
// as readyz (a new TLS connection each time, the certificate not checked,
// 500 ms for all of it). Every call runs on one OS thread that has joined
// m's namespace; stop ends it, and Go ends the thread with it (it is never
// unlocked, so no other goroutine runs in m's namespace).
func (c *cluster) readyzFrom(ctx context.Context, t *testing.T, m *machines.Machine, addr string) (ok func() bool, stop func()) {
	t.Helper()
	ns := c.netns(ctx, t, m)
	defer ns.Close()
	asks := make(chan chan bool)
	joined := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			joined <- err
			return
		}
		joined <- nil
		for reply := range asks {
			reply <- readyzOnce(addr)
		}
	}()
	if err := <-joined; err != nil {
		t.Fatalf("join %s's network namespace: %v", m.Name, err)
	}
	ok = func() bool {
		reply := make(chan bool)
		asks <- reply
		return <-reply
	}
	return ok, func() { close(asks) }
}

// netns opens m's network namespace (the caller closes it).
func (c *cluster) netns(ctx context.Context, t *testing.T, m *machines.Machine) *os.File {
	t.Helper()
	pid, err := c.d.Run(ctx, "inspect", "-f", "{{.State.Pid}}", m.Container())
	if err != nil {
		t.Fatalf("%s's process: %v %s", m.Name, err, pid)
	}
	ns, err := os.Open("/proc/" + strings.TrimSpace(pid) + "/ns/net")
	if err != nil {
		t.Fatalf("%s's network namespace: %v", m.Name, err)
	}
	return ns
}

// readyzOnce asks https://addr/readyz on a new connection, dialled and
// read on the calling goroutine (readyzFrom's thread: an http.Transport
// would dial on goroutines of its own, outside that namespace), 500 ms for
// all of it.
func readyzOnce(addr string) bool {
	return readyzWithin(addr, time.Now().Add(500*time.Millisecond)) == nil
}
