package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
)

func report() benchutil.FailoverReport {
	crash := func(failed int, longest, last time.Duration, strays ...benchutil.Failure) benchutil.FailoverCrash {
		return benchutil.FailoverCrash{
			Victim:   "m1",
			Crash:    benchutil.Window{Requests: 1500, Failed: failed, Longest: longest, LastFailure: last, Failures: strays, OKp99: 150 * time.Millisecond},
			Failback: benchutil.Window{Requests: 1500, Failed: 2, Longest: 40 * time.Millisecond, LastFailure: 3200 * time.Millisecond, Failures: []benchutil.Failure{{At: 3200 * time.Millisecond, Err: "handshake: i/o timeout"}}},
			Patient:  benchutil.PatientWindows{Crash: benchutil.Window{Requests: 300, Failed: 7, LastFailure: 700 * time.Millisecond}},
			Before:   benchutil.Window{Requests: 100, Failed: 1},
		}
	}
	return benchutil.FailoverReport{
		Date: "2026-12-03", Commit: "abc1234", Client: "GET /readyz", PatientClient: "every 100ms with 2s", Window: 30 * time.Second,
		Modes: []benchutil.FailoverMode{{
			Mode: "masters", Setup: "keepalived+haproxy on the masters", Client: "test host",
			Crashes: []benchutil.FailoverCrash{
				crash(40, 800*time.Millisecond, 900*time.Millisecond),
				crash(50, 900*time.Millisecond, 2100*time.Millisecond, benchutil.Failure{At: 12340 * time.Millisecond, Err: "read: connection reset by peer"}),
			},
		}},
	}
}

func TestTable(t *testing.T) {
	got := Table(report())
	want := "`make bench-failover`, 2026-12-03, commit abc1234. Client: GET /readyz; the 2 s client: every 100ms with 2s. Each crash takes the host off the network (its link down) for 30s, then brings it back for 30s; p50 / p90 / max across the crashes.\n" +
		"\n" +
		"After the crash:\n" +
		"\n" +
		"| setup | client | crashes | failed requests | longest run of failures | crash → last failure (target p90 ≤ 1 s, max ≤ 1.5 s) | failures later than 3 s | answered requests' p99 | 2 s client: failed requests | 2 s client: crash → last failure |\n" +
		"|---|---|---|---|---|---|---|---|---|---|\n" +
		"| keepalived+haproxy on the masters | test host | 2 | 40 / 50 / 50 | 0.80 / 0.90 / 0.90 s | 0.90 / 2.10 / 2.10 s | 0 / 1 / 1 | 0.15 / 0.15 / 0.15 s | 7 / 7 / 7 | 0.70 / 0.70 / 0.70 s |\n" +
		"\n" +
		"After the crashed host's return:\n" +
		"\n" +
		"| setup | failed requests | longest run of failures | return → last failure | failures later than 3 s | answered requests' p99 | 2 s client: failed requests | 2 s client: return → last failure |\n" +
		"|---|---|---|---|---|---|---|---|\n" +
		"| keepalived+haproxy on the masters | 2 / 2 / 2 | 0.04 / 0.04 / 0.04 s | 3.20 / 3.20 / 3.20 s | 1 / 1 / 1 | 0.00 / 0.00 / 0.00 s | 0 / 0 / 0 | 0.00 / 0.00 / 0.00 s |\n" +
		"\n" +
		"Failures later than 3s, by kind (\"handshake\": no apiserver completed TLS in time; \"response\": an apiserver took the request and did not answer in time):\n" +
		"\n" +
		"- keepalived+haproxy on the masters, after the crash: 1 in 1 of 2 crashes, the latest 12.34s after: `read: connection reset by peer` ×1\n" +
		"- keepalived+haproxy on the masters, after the return: 2 in 2 of 2 crashes, the latest 3.2s after: `handshake: i/o timeout` ×2\n" +
		"\n" +
		"2 requests failed in the 2 s before a crash: the machine's or the client's, not the failover's.\n" +
		"\n" +
		"Host CPU: not measured in this run.\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestHostCPU(t *testing.T) {
	host := func(p50 float64, late int, lateP50, load float64, top ...benchutil.CommCPU) benchutil.Window {
		return benchutil.Window{Late: late, Host: benchutil.HostCPU{BusyP50: p50, BusyMax: 1, LateBusyP50: lateP50, Top: top, Load1: load}}
	}
	cpu := func(comm string, seconds float64) benchutil.CommCPU {
		return benchutil.CommCPU{Comm: comm, Seconds: seconds}
	}
	masters := benchutil.FailoverMode{Setup: "on the masters", Crashes: []benchutil.FailoverCrash{
		{
			Before:   host(0.5, 0, 0, 8, cpu("etcd", 1), cpu("kubelet", 0.5)),
			Crash:    host(0.9, 5, 0.97, 10.2, cpu("etcd", 10), cpu("kube-apiserver", 8)),
			Failback: host(0.7, 0, 0, 9, cpu("etcd", 6)),
		},
		{
			Before:   host(0.6, 0, 0, 8, cpu("etcd", 1.2), cpu("haproxy", 0.1)),
			Crash:    host(0.95, 0, 0, 11, cpu("etcd", 11), cpu("kube-apiserver", 9.5), cpu("kubelet", 3)),
			Failback: host(0.8, 2, 0.85, 9, cpu("kube-apiserver", 7)),
		},
	}}
	old := benchutil.FailoverMode{Setup: "from an old report", Crashes: []benchutil.FailoverCrash{{Crash: benchutil.Window{Late: 4}}}}
	partial := benchutil.FailoverMode{Setup: "late failures not measured", Crashes: []benchutil.FailoverCrash{{Crash: host(0.4, 3, 0, 0)}}}
	tests := []struct {
		name  string
		modes []benchutil.FailoverMode
		want  string
	}{
		{"an old report", []benchutil.FailoverMode{old}, "\nHost CPU: not measured in this run.\n"},
		{
			"measured, partly and not",
			[]benchutil.FailoverMode{masters, old, partial},
			"\n" +
				"Host CPU (the test host's, which runs every machine as a container). Busy: neither idle nor waiting for I/O; a hypervisor's steal counts as busy. Each figure is the p50 across the crashes of a window's median, over its 100 ms intervals or over the second before each of its late failures. Top commands: CPU seconds summed over the crashes, processes that ended within a window left out.\n" +
				"\n" +
				"- on the masters: host CPU busy: before p50 50%, after crash p50 90%, at late failures p50 97%; after the return p50 70%, at late failures p50 85%; load average p50 10.2 at the crash window's end\n" +
				"  - top CPU: before: etcd 2.2 s, kubelet 0.5 s, haproxy 0.1 s; after the crash: etcd 21.0 s, kube-apiserver 17.5 s, kubelet 3.0 s; after the return: kube-apiserver 7.0 s, etcd 6.0 s\n" +
				"- from an old report: host CPU not measured\n" +
				"- late failures not measured: host CPU busy: before p50 not measured, after crash p50 40%, at late failures p50 not measured; after the return p50 not measured, at late failures p50 none late; load average p50 not measured at the crash window's end\n" +
				"  - top CPU: before: not measured; after the crash: not measured; after the return: not measured\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hostCPU(benchutil.FailoverReport{Modes: tt.modes}); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// run with -doc rewrites only the marked section of the file.
func TestRunDoc(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "failover.md")
	os.WriteFile(doc, []byte("# Failover\n<!-- bench-failover -->\nold\n<!-- /bench-failover -->\nend\n"), 0o644)
	data, _ := json.Marshal(report())
	if err := run(bytes.NewReader(data), nil, doc, "bench-failover"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(doc)
	if want := "# Failover\n<!-- bench-failover -->\n" + Table(report()) + "<!-- /bench-failover -->\nend\n"; string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(string(got), "old") {
		t.Error("the old section is still there")
	}
}

// Crashes that say what their victim led are split by it; crashes of a
// report written before that leave the paragraph out (TestTable).
func TestByLeases(t *testing.T) {
	r := report()
	crashes := r.Modes[0].Crashes
	crashes[0].Led = []string{"kube-controller-manager", "kube-scheduler"}
	crashes[1].Led = []string{}
	third := crashes[1]
	third.Led = []string{"kube-scheduler"}
	third.Crash.Failed = 10
	r.Modes[0].Crashes = append(crashes, third)
	got := byLeases(r)
	want := "\nAfter the crash, by the leader lease the crashed host held (a new leader starts its controllers and lists every object again, on the cores the apiservers use; p50 / p90 / max):\n\n" +
		"- keepalived+haproxy on the masters: the controller-manager's (1 crashes): failed requests 40 / 40 / 40, crash → last failure 0.90 / 0.90 / 0.90 s, failures later than 3 s 0 / 0 / 0, answered p99 0.15 / 0.15 / 0.15 s; " +
		"only the scheduler's (1 crashes): failed requests 10 / 10 / 10, crash → last failure 2.10 / 2.10 / 2.10 s, failures later than 3 s 1 / 1 / 1, answered p99 0.15 / 0.15 / 0.15 s; " +
		"neither (1 crashes): failed requests 50 / 50 / 50, crash → last failure 2.10 / 2.10 / 2.10 s, failures later than 3 s 1 / 1 / 1, answered p99 0.15 / 0.15 / 0.15 s\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := byLeases(report()); got != "" {
		t.Errorf("a report without leases: %q", got)
	}
}

// Crashes that looked at the VIP's moves are counted, and the moves of a
// crash that moved it more than once are listed.
func TestTakeovers(t *testing.T) {
	r := report()
	r.Modes[0].Crashes[0].Takeovers = []string{"m2 0.6s after the crash"}
	r.Modes[0].Crashes[1].Takeovers = []string{"m2 0.7s after the crash", "m3 12.1s after the crash"}
	want := "\nThe VIP's moves from each crash to the end of its return's window, from keepalived's journals (p50 / p90 / max):\n\n" +
		"- keepalived+haproxy on the masters: 1 / 2 / 2 per crash (2 crashes); more than one move: crash 2 of m1: m2 0.7s after the crash, m3 12.1s after the crash\n"
	if got := takeovers(r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := takeovers(report()); got != "" {
		t.Errorf("a report without takeovers: %q", got)
	}
}
