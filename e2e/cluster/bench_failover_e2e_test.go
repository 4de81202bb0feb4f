//go:build e2e

package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
	"github.com/kubeha/kubeha/e2e/machines"
)

// The failover client of `make bench-failover` (issue 18): a new TCP and
// TLS connection every 20 ms, each request in its own goroutine so a slow
// one does not delay the next, 200 ms for the whole request.
//
// A second client, every 100 ms with 2 s for each request, tells the
// endpoint's availability from its speed: on these two shared cores an
// apiserver busy after losing a peer answers some requests in more than
// 200 ms although nothing is down.
const (
	probeEvery     = 20 * time.Millisecond
	probeTimeout   = 200 * time.Millisecond
	patientEvery   = 100 * time.Millisecond
	patientTimeout = 2 * time.Second
	// failoverWindow is how long each crash, and each return, is
	// watched.
	failoverWindow = 30 * time.Second
	// beforeWindow is watched before each crash.
	beforeWindow = 2 * time.Second
	// hostSampleEvery is how often the host's CPU counters are read while
	// the clients run: a small file, cheap enough not to disturb them.
	hostSampleEvery = 100 * time.Millisecond
)

// failoverSetup is one endpoint setup the benchmark crashes hosts of.
type failoverSetup struct {
	setup string
	opts  clusterOpts
	// addr is what the client asks (host:port).
	addr string
	// fromWorker runs the client inside w1's network namespace (a local
	// proxy serves only there); otherwise it runs on the test host.
	fromWorker bool
	// holders are the hosts that may hold the VIP: each crash takes the
	// one that holds it. Without holders (no VIP), the masters are
	// crashed in turn.
	holders []string
	// proxies are the hosts whose haproxy the client's requests may go
	// through: their counters say where failed requests went.
	proxies []string
	// keepalivedUnits are the hosts that run keepalived as a systemd unit,
	// whose journal says when it took the VIP (none in static pods or with
	// kube-vip).
	keepalivedUnits []string
	// kubeVIP runs kube-vip from KUBEHA_KUBE_VIP_BINARY on the masters
	// (withKubeVIP fills in setup and opts then).
	kubeVIP bool
}

// failoverModes are the setups, in the order TestBenchFailover runs them
// when KUBEHA_BENCH_MODES names none.
var failoverModes = []string{"masters", "dedicated", "dedicated-masters", "static-pods", "local-proxy", "kube-vip"}

var failoverSetups = map[string]failoverSetup{
	"masters": {
		setup: "keepalived+haproxy on the three masters",
		opts:  clusterOpts{lb: keepalivedLB},
		addr:  vip + ":16443", holders: []string{"m1", "m2", "m3"}, proxies: []string{"m1", "m2", "m3"},
		keepalivedUnits: []string{"m1", "m2", "m3"},
	},
	"dedicated": {
		setup: "keepalived+haproxy on two load-balancer hosts",
		opts:  failoverDedicatedOpts,
		addr:  vip + ":6443", holders: []string{"lb1", "lb2"}, proxies: []string{"lb1", "lb2"},
		keepalivedUnits: []string{"lb1", "lb2"},
	},
	// The control for "masters": the same loss of a master, with the VIP
	// and the load balancers elsewhere, so that nothing fails over. What
	// the clients feel here is what losing a master costs on this host;
	// what "masters" feels beyond it is the VIP's move.
	"dedicated-masters": {
		setup: "keepalived+haproxy on two load-balancer hosts, a master crashed (the VIP stays)",
		opts:  failoverDedicatedOpts,
		addr:  vip + ":6443", proxies: []string{"lb1", "lb2"},
		keepalivedUnits: []string{"lb1", "lb2"},
	},
	"static-pods": {
		setup: "keepalived+haproxy as static pods on the three masters",
		opts:  clusterOpts{lb: "loadBalancer: {vip: " + vip + ", staticPods: true, images: {haproxy: " + machines.LBImage + ", keepalived: " + machines.LBImage + "}}"},
		addr:  vip + ":16443", holders: []string{"m1", "m2", "m3"}, proxies: []string{"m1", "m2", "m3"},
	},
	"local-proxy": {
		setup:      "haproxy as local proxy on every worker, no VIP",
		opts:       clusterOpts{lb: "controlPlaneEndpoint: {name: e2e-apiserver, port: 6443}\n  " + localProxyHAProxy},
		addr:       "127.0.0.1:6443",
		fromWorker: true,
		proxies:    []string{"w1"},
	},
	"kube-vip": {
		// kube-vip's leader puts the VIP on its eth0 as keepalived's
		// master does, so the holder is found, and crashed, the same way.
		// Nothing balances: no haproxy counters.
		kubeVIP: true,
		addr:    vip + ":6443", holders: []string{"m1", "m2", "m3"},
	},
}

// failoverDedicatedOpts is the cluster with its VIP and haproxy on two
// load-balancer hosts of their own.
var failoverDedicatedOpts = clusterOpts{
	lb:    "controlPlaneEndpoint: {name: e2e-apiserver, port: 6443}\n  loadBalancer: {placement: dedicated, vip: " + vip + "}",
	extra: []machines.Spec{{Name: "lb1", IP: "10.213.0.31"}, {Name: "lb2", IP: "10.213.0.32"}},
	hosts: []string{"{name: lb1, address: 10.213.0.31, role: loadbalancer}", "{name: lb2, address: 10.213.0.32, role: loadbalancer}"},
}

// withKubeVIP is s with kube-vip from binary: its image in the inventory,
// and version (what KUBEHA_KUBE_VIP_VERSION says: the binary is built
// outside the project, from a commit only its builder knows) in the
// setup's words.
func (s failoverSetup) withKubeVIP(t *testing.T, binary, version string) failoverSetup {
	t.Helper()
	image, err := machines.BinaryImageName(binary, kubeVIPImagePrefix)
	if err != nil {
		t.Fatal(err)
	}
	if version == "" {
		version = "(version not given)"
	}
	s.setup = "kube-vip " + version + " on the three masters, no haproxy"
	s.opts = clusterOpts{lb: kubeVIPLB(image)}
	return s
}

// TestBenchFailover is `make bench-failover`: for each setup in
// KUBEHA_BENCH_MODES (default: all of failoverModes; kube-vip only when
// KUBEHA_KUBE_VIP_BINARY names a kube-vip binary, as for TestKubeVIP,
// skipped otherwise unless named) it builds the cluster, then
// KUBEHA_BENCH_CRASHES times (default 10) waits for kubeha status to say
// healthy, takes the VIP holder (or, without a VIP, the next master) off
// the network for failoverWindow and brings it back for another, while
// the client asks /readyz, and samples the host's CPU (every machine is a
// container on it). The report goes, as JSON, to the file
// KUBEHA_BENCH_FAILOVER names, after each setup; e2e/bench/failover makes
// docs/failover.md's table of it. Nothing is asserted of the figures:
// targets live in the report.
func TestBenchFailover(t *testing.T) {
	out := os.Getenv("KUBEHA_BENCH_FAILOVER")
	if out == "" {
		t.Skip("a benchmark: `make bench-failover` runs it (KUBEHA_BENCH_FAILOVER names its JSON report)")
	}
	crashes := 10
	if s := os.Getenv("KUBEHA_BENCH_CRASHES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KUBEHA_BENCH_CRASHES=%q: want a positive number", s)
		}
		crashes = n
	}
	modes, named := failoverModes, os.Getenv("KUBEHA_BENCH_MODES")
	if named != "" {
		modes = strings.Split(named, ",")
	}
	for _, m := range modes {
		if _, ok := failoverSetups[m]; !ok {
			t.Fatalf("KUBEHA_BENCH_MODES: unknown setup %q (%s)", m, strings.Join(failoverModes, ", "))
		}
	}
	kubeVIPBinary, kubeVIPVersion := os.Getenv("KUBEHA_KUBE_VIP_BINARY"), os.Getenv("KUBEHA_KUBE_VIP_VERSION")
	if named != "" && slices.Contains(modes, "kube-vip") && kubeVIPBinary == "" {
		// Asked for by name: a run that skips it would measure nothing.
		t.Fatal("KUBEHA_BENCH_MODES names kube-vip and KUBEHA_KUBE_VIP_BINARY names no kube-vip binary (build one as TestKubeVIP says)")
	}
	commit, err := exec.Command("git", "-C", "../..", "describe", "--always", "--dirty", "--abbrev=7").Output()
	if err != nil {
		t.Fatalf("git describe: %v", err)
	}
	report := benchutil.FailoverReport{
		Date:          time.Now().UTC().Format("2006-01-02"),
		Commit:        strings.TrimSpace(string(commit)),
		Client:        fmt.Sprintf("GET /readyz on a new TCP+TLS connection every %v, %v for the whole request", probeEvery, probeTimeout),
		PatientClient: fmt.Sprintf("the same every %v with %v", patientEvery, patientTimeout),
		Window:        failoverWindow,
	}
	for _, name := range modes {
		s := failoverSetups[name]
		t.Run(name, func(t *testing.T) {
			if s.kubeVIP {
				if kubeVIPBinary == "" {
					t.Skip("KUBEHA_KUBE_VIP_BINARY is not set: no Go module proxy serves kube-vip; build it outside the project and name the binary (TestKubeVIP)")
				}
				s = s.withKubeVIP(t, kubeVIPBinary, kubeVIPVersion)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
			defer cancel()
			c := newClusterWith(t, ctx, s.opts)
			if s.kubeVIP {
				c.importKubeVIP(ctx, t, kubeVIPBinary)
			}
			c.applyOK(ctx, t)
			mode := benchutil.FailoverMode{Mode: name, Setup: s.setup, Client: "test host, https://" + s.addr}
			if s.fromWorker {
				mode.Client = "w1, https://" + s.addr
			}
			for i := range crashes {
				cr := c.failoverCrash(ctx, t, s, i)
				t.Logf("%s crash %d of %s (leading %v): %d of %d failed, longest run %v, last failure %v after the crash, answers' p99 %v; its return: %d of %d failed, last %v after; the 2 s client: %d of %d failed, last %v after the crash, %d of %d after the return",
					name, i+1, cr.Victim, cr.Led, cr.Crash.Failed, cr.Crash.Requests, cr.Crash.Longest.Round(time.Millisecond), cr.Crash.LastFailure.Round(time.Millisecond), cr.Crash.OKp99,
					cr.Failback.Failed, cr.Failback.Requests, cr.Failback.LastFailure.Round(time.Millisecond),
					cr.Patient.Crash.Failed, cr.Patient.Crash.Requests, cr.Patient.Crash.LastFailure.Round(time.Millisecond), cr.Patient.Failback.Failed, cr.Patient.Failback.Requests)
				for _, f := range cr.Crash.Strays() {
					t.Logf("  late failure %v after the crash, host %s busy: %s", f.At.Round(time.Millisecond), percent(f.HostBusy), f.Err)
				}
				for _, f := range cr.Failback.Failures {
					t.Logf("  failure %v after the return, host %s busy: %s", f.At.Round(time.Millisecond), percent(f.HostBusy), f.Err)
				}
				t.Logf("  VIP takeovers: %v", cr.Takeovers)
				t.Logf("  host CPU before the crash: %s", hostLine(cr.Before.Host))
				t.Logf("  host CPU after the crash: %s", hostLine(cr.Crash.Host))
				t.Logf("  host CPU after the return: %s", hostLine(cr.Failback.Host))
				for _, l := range cr.Proxies {
					t.Logf("  over the crash's window, %s", l)
				}
				mode.Crashes = append(mode.Crashes, cr)
				// Written after every crash, so a run cut short keeps
				// what it measured.
				writeReport(t, out, report, mode)
			}
			report.Modes = append(report.Modes, mode)
		})
	}
}

// hostLine is a window's host CPU for the test's log: "busy p50 93%, max
// 100%, at late failures p50 98%, load 9.8; etcd 12.3 s, kubelet 8.1 s".
func hostLine(h benchutil.HostCPU) string {
	var top []string
	for _, c := range h.Top {
		top = append(top, fmt.Sprintf("%s %.1f s", c.Comm, c.Seconds))
	}
	return fmt.Sprintf("busy p50 %s, max %s, at late failures p50 %s, load %.1f; %s",
		percent(h.BusyP50), percent(h.BusyMax), percent(h.LateBusyP50), h.Load1, strings.Join(top, ", "))
}

// percent is a busy fraction as a percentage, "-" when it was not measured.
func percent(f float64) string {
	if f == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

// writeReport writes report, with mode as its last setup, to path as JSON
// (a temporary file renamed into place).
func writeReport(t *testing.T, path string, report benchutil.FailoverReport, mode benchutil.FailoverMode) {
	t.Helper()
	report.Modes = append(slices.Clone(report.Modes), mode)
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// failoverCrash waits until kubeha status says the cluster is healthy,
// crashes the VIP holder (or the i-th master when there is no VIP) while
// the client runs, brings it back after failoverWindow and watches another.
func (c *cluster) failoverCrash(ctx context.Context, t *testing.T, s failoverSetup, i int) benchutil.FailoverCrash {
	t.Helper()
	c.waitHealthy(ctx, t, 5*time.Minute, "kubeha status healthy before the crash")
	var victim *machines.Machine
	if len(s.holders) == 0 {
		victim = c.machine(fmt.Sprintf("m%d", i%3+1))
	} else {
		holders := c.vipHolders(ctx, s.holders...)
		if len(holders) != 1 {
			t.Fatalf("%d of %v hold the VIP, want 1", len(holders), s.holders)
		}
		victim = holders[0]
	}
	led := c.leasesHeld(ctx, t, victim.Name)
	var ns *os.File
	if s.fromWorker {
		ns = c.netns(ctx, t, c.machine("w1"))
		defer ns.Close()
	}
	// Every machine is a container on this host: its CPU is theirs, and
	// says whether a late failure came while the host was saturated.
	host := benchutil.StartHostSampler(ctx, "/proc", hostSampleEvery)
	defer host.Stop()
	p := startProber(s.addr, ns, probeEvery, probeTimeout)
	patient := startProber(s.addr, ns, patientEvery, patientTimeout)
	// Each window's processes are read at its edges: the clients' start (a
	// little before the before window's), the crash, the return and the
	// end.
	marks := []benchutil.ProcSnapshot{readProcs(t)}
	time.Sleep(beforeWindow)
	var proxies []*machines.Machine
	for _, name := range s.proxies {
		if name != victim.Name {
			proxies = append(proxies, c.machine(name))
		}
	}
	counters := make([]map[string]map[string]int64, len(proxies))
	for i, m := range proxies {
		counters[i] = proxyCounters(ctx, m)
	}
	marks = append(marks, readProcs(t))
	crashed := time.Now()
	if err := victim.Crash(ctx); err != nil {
		p.stop()
		patient.stop()
		t.Fatal(err)
	}
	time.Sleep(failoverWindow)
	var proxyLines []string
	for i, m := range proxies {
		proxyLines = append(proxyLines, m.Name+"'s haproxy: "+counterDelta(counters[i], proxyCounters(ctx, m)))
	}
	marks = append(marks, readProcs(t))
	back := time.Now()
	if err := victim.Uncrash(context.Background()); err != nil {
		p.stop()
		patient.stop()
		t.Fatal(err)
	}
	time.Sleep(failoverWindow)
	marks = append(marks, readProcs(t))
	probes, patientProbes := p.stop(), patient.stop()
	// After the clients: the last requests' second is sampled too.
	samples, err := host.Stop()
	if err != nil {
		t.Logf("host CPU: %v", err)
	}
	var takeovers []string
	if len(s.keepalivedUnits) > 0 {
		takeovers = c.vipTakeovers(ctx, t, s.keepalivedUnits, crashed, "after the crash")
	}
	window := func(probes []benchutil.Probe, from time.Time, length time.Duration, start, end benchutil.ProcSnapshot) benchutil.Window {
		w := benchutil.Summarize(probes, from, length)
		benchutil.AddHostCPU(&w, probes, from, length, samples, start, end)
		return w
	}
	return benchutil.FailoverCrash{
		Victim:    victim.Name,
		Led:       led,
		Takeovers: takeovers,
		Before:    window(probes, crashed.Add(-beforeWindow), beforeWindow, marks[0], marks[1]),
		Crash:     window(probes, crashed, failoverWindow, marks[1], marks[2]),
		Failback:  window(probes, back, failoverWindow, marks[2], marks[3]),
		Proxies:   proxyLines,
		Patient: benchutil.PatientWindows{
			Crash:    window(patientProbes, crashed, failoverWindow, marks[1], marks[2]),
			Failback: window(patientProbes, back, failoverWindow, marks[2], marks[3]),
		},
	}
}

// leasesHeld are the kube-system leader leases (the controller-manager's,
// the scheduler's) that host holds; never nil, so that a report says
// "none" apart from "not looked at".
func (c *cluster) leasesHeld(ctx context.Context, t *testing.T, host string) []string {
	t.Helper()
	out, err := c.kubectlOut(ctx, "-n", "kube-system", "get", "lease", "kube-controller-manager", "kube-scheduler",
		"-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.holderIdentity}{"\n"}{end}`)
	if err != nil {
		t.Fatalf("leader leases: %v %s", err, out)
	}
	held := []string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		// holderIdentity is the node's name, "_", a random suffix.
		if name, holder, ok := strings.Cut(l, " "); ok && strings.HasPrefix(holder, host+"_") {
			held = append(held, name)
		}
	}
	return held
}

// readProcs is benchutil.ReadProcs of this host, logged and left zero (not
// measured) when /proc cannot be read: the figures it adds are not worth
// a run.
func readProcs(t *testing.T) benchutil.ProcSnapshot {
	s, err := benchutil.ReadProcs("/proc")
	if err != nil {
		t.Logf("host CPU by process: %v", err)
	}
	return s
}

// haproxyStats reads m's haproxy statistics: for each server of its
// kube-apiserver backend, every field of the stats CSV by its header's
// name ("status", "stot", ...). The stats password is read on m and given
// to curl on its stdin, never in an argument. Empty when they cannot be
// read.
func haproxyStats(ctx context.Context, m *machines.Machine) map[string]map[string]string {
	csv, err := m.Exec(ctx, "sh", "-c", `pw=$(sed -n 's/^[[:space:]]*stats auth kubeha:\(.*\)$/\1/p' /etc/haproxy/haproxy.cfg)
printf 'user = "kubeha:%s"\n' "$pw" | curl -s -m 2 -K - 'http://127.0.0.1:8404/stats;csv'`)
	servers := map[string]map[string]string{}
	if err != nil {
		return servers
	}
	lines := strings.Split(csv, "\n")
	header := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != len(header) || f[0] != "kube-apiserver" || f[1] == "BACKEND" {
			continue
		}
		row := map[string]string{}
		for i, name := range header {
			row[name] = f[i]
		}
		servers[f[1]] = row
	}
	return servers
}

// proxyCounters is haproxyStats's counters counterDelta reports, and "up"
// (1 when the server's status is UP), by server.
func proxyCounters(ctx context.Context, m *machines.Machine) map[string]map[string]int64 {
	servers := map[string]map[string]int64{}
	for server, fields := range haproxyStats(ctx, m) {
		row := map[string]int64{"up": 0}
		if fields["status"] == "UP" {
			row["up"] = 1
		}
		for _, k := range counterNames {
			row[k], _ = strconv.ParseInt(fields[k], 10, 64)
		}
		servers[server] = row
	}
	return servers
}

// counterNames are the haproxy counters a crash's report keeps.
var counterNames = []string{"stot", "econ", "eresp", "wretr", "wredis", "cli_abrt", "srv_abrt", "chkdown"}

// counterDelta says, for each server, its status at the end and what its
// counters gained: "m1 DOWN stot+4 econ+2 wredis+2; m2 UP stot+700 cli_abrt+3".
func counterDelta(before, after map[string]map[string]int64) string {
	if len(after) == 0 {
		return "statistics not read"
	}
	var parts []string
	for _, server := range slices.Sorted(maps.Keys(after)) {
		part := server + " DOWN"
		if after[server]["up"] == 1 {
			part = server + " UP"
		}
		for _, k := range counterNames {
			if d := after[server][k] - before[server][k]; d != 0 {
				part += fmt.Sprintf(" %s+%d", k, d)
			}
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// prober is the failover client: started by startProber, ended by stop,
// which returns every request in the order they were sent.
type prober struct {
	mu     sync.Mutex
	probes []benchutil.Probe
	done   chan struct{}
	wg     sync.WaitGroup
}

// startProber sends a request to https://addr/readyz every every, each
// with timeout, from inside the network namespace ns when it is not nil.
func startProber(addr string, ns *os.File, every, timeout time.Duration) *prober {
	p := &prober{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			sent := time.Now()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				stage, err := "", error(nil)
				if ns != nil {
					// The thread joins ns and is never unlocked: Go ends
					// it with this goroutine, so no other goroutine runs
					// in w1's namespace.
					runtime.LockOSThread()
					stage, err = "setns", unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
				}
				if err == nil {
					stage, err = readyzStaged(addr, sent.Add(timeout))
				}
				pr := benchutil.Probe{Sent: sent, Took: time.Since(sent)}
				if err != nil {
					pr.Err = shortErr(stage, err)
				}
				p.mu.Lock()
				p.probes = append(p.probes, pr)
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

func (p *prober) stop() []benchutil.Probe {
	close(p.done)
	p.wg.Wait()
	// Requests finish out of order; Summarize wants them as sent.
	slices.SortFunc(p.probes, func(a, b benchutil.Probe) int { return a.Sent.Compare(b.Sent) })
	return p.probes
}

// readyzWithin asks https://addr/readyz on a new connection, dialled and
// read on the calling goroutine (so inside the namespace its thread
// joined), all of it by deadline.
func readyzWithin(addr string, deadline time.Time) error {
	_, err := readyzStaged(addr, deadline)
	return err
}

// readyzStaged is readyzWithin saying, when it fails, at which stage:
// "dial" (no TCP connection to the proxy), "handshake" (the proxy took
// the connection, no apiserver answered TLS: a dead or slow backend) or
// "response" (an apiserver took the request and did not answer 200 in
// time).
func readyzStaged(addr string, deadline time.Time) (stage string, err error) {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "dial", err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return "handshake", err
	}
	if _, err := fmt.Fprintf(tc, "GET /readyz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr); err != nil {
		return "response", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return "response", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "response", fmt.Errorf("status %s", resp.Status)
	}
	return "", nil
}

// shortErr is a failed request's stage and error without the addresses
// every failure shares, so the report groups alike failures: "handshake:
// i/o timeout", "response: status 500 Internal Server Error".
func shortErr(stage string, err error) string {
	if op, ok := errors.AsType[*net.OpError](err); ok {
		return stage + ": " + op.Err.Error()
	}
	return stage + ": " + err.Error()
}
