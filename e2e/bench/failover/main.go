// Command failover turns `make bench-failover`'s JSON report
// (benchutil.FailoverReport) into docs/failover.md's table: for each
// setup, p50 / p90 / max across its crashes of the failed requests, the
// longest run of failures and the time from the crash to the last failure,
// the same for the crashed host's return, and every failure later than
// benchutil.StrayAfter, which needs explaining; then, for each setup, how
// busy the host's CPU was in each window and what used it.
//
//	go run ./e2e/bench/failover -doc docs/failover.md < report.json
//
// With -doc, the table replaces what stands between the file's
// "<!-- bench-failover -->" and "<!-- /bench-failover -->" lines (another
// name with -section); without it, the table goes to stdout.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
)

func main() {
	doc := flag.String("doc", "", "the Markdown file whose marked section the table replaces")
	section := flag.String("section", "bench-failover", "the section's name: it stands between <!-- NAME --> and <!-- /NAME --> lines")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *doc, *section); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, doc, section string) error {
	var r benchutil.FailoverReport
	if err := json.NewDecoder(in).Decode(&r); err != nil {
		return fmt.Errorf("read the report: %w", err)
	}
	return benchutil.Publish(out, doc, section, Table(r))
}

// Table is the report as Markdown: one table for the crashes, one for
// the crashed hosts' returns, then the late failures of each setup by kind.
func Table(r benchutil.FailoverReport) string {
	var b strings.Builder
	patient := "the 2 s client: " + r.PatientClient
	if r.PatientClient == "" {
		patient = "no 2 s client in this run"
	}
	fmt.Fprintf(&b, "`make bench-failover`, %s, commit %s. Client: %s; %s. Each crash takes the host off the network (its link down) for %v, then brings it back for %v; p50 / p90 / max across the crashes.\n\n",
		r.Date, r.Commit, r.Client, patient, r.Window, r.Window)
	b.WriteString("After the crash:\n\n")
	b.WriteString("| setup | client | crashes | failed requests | longest run of failures | crash → last failure (target p90 ≤ 1 s, max ≤ 1.5 s) | failures later than 3 s | answered requests' p99 | 2 s client: failed requests | 2 s client: crash → last failure |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.Modes {
		col := columns(m.Crashes, r.PatientClient != "", func(c benchutil.FailoverCrash) (benchutil.Window, benchutil.Window) { return c.Crash, c.Patient.Crash })
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s s | %s s | %s | %s s | %s | %s |\n", m.Setup, m.Client, len(m.Crashes),
			col.failed, col.longest, col.last, col.late, col.p99, col.patientFailed, col.patientLast)
	}
	b.WriteString("\nAfter the crashed host's return:\n\n")
	b.WriteString("| setup | failed requests | longest run of failures | return → last failure | failures later than 3 s | answered requests' p99 | 2 s client: failed requests | 2 s client: return → last failure |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.Modes {
		col := columns(m.Crashes, r.PatientClient != "", func(c benchutil.FailoverCrash) (benchutil.Window, benchutil.Window) {
			return c.Failback, c.Patient.Failback
		})
		fmt.Fprintf(&b, "| %s | %s | %s s | %s s | %s | %s s | %s | %s |\n", m.Setup,
			col.failed, col.longest, col.last, col.late, col.p99, col.patientFailed, col.patientLast)
	}
	before := 0
	var late []string
	for _, m := range r.Modes {
		for _, which := range []string{"crash", "return"} {
			kinds := map[string]int{}
			n, crashes := 0, 0
			var latest time.Duration
			for _, c := range m.Crashes {
				w := c.Crash
				if which == "return" {
					w = c.Failback
				}
				if lateCount(w) > 0 {
					crashes++
				}
				n += lateCount(w)
				for k, v := range lateKinds(w) {
					kinds[k] += v
				}
				if w.LastFailure >= benchutil.StrayAfter {
					latest = max(latest, w.LastFailure)
				}
				for _, f := range w.Strays() {
					latest = max(latest, f.At)
				}
			}
			if n == 0 {
				continue
			}
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(kinds)) {
				parts = append(parts, fmt.Sprintf("`%s` ×%d", k, kinds[k]))
			}
			late = append(late, fmt.Sprintf("- %s, after the %s: %d in %d of %d crashes, the latest %s after: %s", m.Setup, which, n, crashes, len(m.Crashes), round(latest), strings.Join(parts, ", ")))
		}
		for _, c := range m.Crashes {
			before += c.Before.Failed
		}
	}
	if len(late) > 0 {
		fmt.Fprintf(&b, "\nFailures later than %v, by kind (\"handshake\": no apiserver completed TLS in time; \"response\": an apiserver took the request and did not answer in time):\n\n%s\n", benchutil.StrayAfter, strings.Join(late, "\n"))
	}
	if before > 0 {
		fmt.Fprintf(&b, "\n%d requests failed in the 2 s before a crash: the machine's or the client's, not the failover's.\n", before)
	}
	b.WriteString(takeovers(r))
	b.WriteString(byLeases(r))
	b.WriteString(hostCPU(r))
	return b.String()
}

// takeovers is the report's paragraph on the VIP's moves: for each setup
// whose crashes looked, how many times it moved per crash, and every move
// of a crash that moved it more than once (the failover is one move; each
// other cut every connection through the VIP again). Nothing when no
// crash looked.
func takeovers(r benchutil.FailoverReport) string {
	var lines []string
	for _, m := range r.Modes {
		var counts []float64
		var extra []string
		for i, c := range m.Crashes {
			if c.Takeovers == nil {
				continue
			}
			counts = append(counts, float64(len(c.Takeovers)))
			if len(c.Takeovers) > 1 {
				extra = append(extra, fmt.Sprintf("crash %d of %s: %s", i+1, c.Victim, strings.Join(c.Takeovers, ", ")))
			}
		}
		if counts == nil {
			continue
		}
		line := fmt.Sprintf("- %s: %s per crash (%d crashes)", m.Setup, benchutil.Spread(counts, "%.0f"), len(counts))
		if len(extra) > 0 {
			line += "; more than one move: " + strings.Join(extra, "; ")
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return ""
	}
	return "\nThe VIP's moves from each crash to the end of its return's window, from keepalived's journals (p50 / p90 / max):\n\n" + strings.Join(lines, "\n") + "\n"
}

// byLeases is the report's paragraph on what the crashed hosts led: for
// each setup whose crashes say, the 200 ms client's figures after the
// crash, split by whether the victim held the controller-manager's lease,
// only the scheduler's, or neither. Nothing when no crash says (reports
// written before FailoverCrash.Led).
func byLeases(r benchutil.FailoverReport) string {
	var lines []string
	for _, m := range r.Modes {
		groups := map[string][]benchutil.FailoverCrash{}
		said := false
		for _, c := range m.Crashes {
			if c.Led == nil {
				continue
			}
			said = true
			g := "neither"
			switch {
			case slices.Contains(c.Led, "kube-controller-manager"):
				g = "the controller-manager's"
			case slices.Contains(c.Led, "kube-scheduler"):
				g = "only the scheduler's"
			}
			groups[g] = append(groups[g], c)
		}
		if !said {
			continue
		}
		var parts []string
		for _, g := range []string{"the controller-manager's", "only the scheduler's", "neither"} {
			cs := groups[g]
			if len(cs) == 0 {
				continue
			}
			col := columns(cs, false, func(c benchutil.FailoverCrash) (benchutil.Window, benchutil.Window) { return c.Crash, c.Patient.Crash })
			parts = append(parts, fmt.Sprintf("%s (%d crashes): failed requests %s, crash → last failure %s s, failures later than 3 s %s, answered p99 %s s",
				g, len(cs), col.failed, col.last, col.late, col.p99))
		}
		lines = append(lines, fmt.Sprintf("- %s: %s", m.Setup, strings.Join(parts, "; ")))
	}
	if len(lines) == 0 {
		return ""
	}
	return "\nAfter the crash, by the leader lease the crashed host held (a new leader starts its controllers and lists every object again, on the cores the apiservers use; p50 / p90 / max):\n\n" + strings.Join(lines, "\n") + "\n"
}

// hostCPU is the report's paragraph on the host's CPU (every machine is a
// container on the test host): for each setup, the busy fractions across
// its crashes and the commands that used the most CPU in each window. One
// line when the report has none (written before it was measured).
func hostCPU(r benchutil.FailoverReport) string {
	measured := func(m benchutil.FailoverMode) bool {
		return slices.ContainsFunc(m.Crashes, func(c benchutil.FailoverCrash) bool {
			return c.Before.Host.BusyP50 > 0 || c.Crash.Host.BusyP50 > 0 || c.Failback.Host.BusyP50 > 0
		})
	}
	if !slices.ContainsFunc(r.Modes, measured) {
		return "\nHost CPU: not measured in this run.\n"
	}
	var b strings.Builder
	b.WriteString("\nHost CPU (the test host's, which runs every machine as a container). Busy: neither idle nor waiting for I/O; a hypervisor's steal counts as busy. Each figure is the p50 across the crashes of a window's median, over its 100 ms intervals or over the second before each of its late failures. Top commands: CPU seconds summed over the crashes, processes that ended within a window left out.\n\n")
	for _, m := range r.Modes {
		if !measured(m) {
			fmt.Fprintf(&b, "- %s: host CPU not measured\n", m.Setup)
			continue
		}
		before := func(c benchutil.FailoverCrash) benchutil.Window { return c.Before }
		crash := func(c benchutil.FailoverCrash) benchutil.Window { return c.Crash }
		back := func(c benchutil.FailoverCrash) benchutil.Window { return c.Failback }
		fmt.Fprintf(&b, "- %s: host CPU busy: before p50 %s, after crash p50 %s, at late failures p50 %s; after the return p50 %s, at late failures p50 %s; load average p50 %s at the crash window's end\n",
			m.Setup, busyP50(m.Crashes, before), busyP50(m.Crashes, crash), lateBusyP50(m.Crashes, crash),
			busyP50(m.Crashes, back), lateBusyP50(m.Crashes, back), loadP50(m.Crashes, crash))
		fmt.Fprintf(&b, "  - top CPU: before: %s; after the crash: %s; after the return: %s\n",
			topCPU(m.Crashes, before), topCPU(m.Crashes, crash), topCPU(m.Crashes, back))
	}
	return b.String()
}

// busyP50 is the median across crashes of the window pick takes of each
// crash's busy p50, over the crashes that measured it.
func busyP50(crashes []benchutil.FailoverCrash, pick func(benchutil.FailoverCrash) benchutil.Window) string {
	var v []float64
	for _, c := range crashes {
		if h := pick(c).Host; h.BusyP50 > 0 {
			v = append(v, h.BusyP50)
		}
	}
	return percentP50(v)
}

// lateBusyP50 is the median across the crashes whose window pick takes
// had late failures of their busy median at those failures.
func lateBusyP50(crashes []benchutil.FailoverCrash, pick func(benchutil.FailoverCrash) benchutil.Window) string {
	var v []float64
	late := false
	for _, c := range crashes {
		w := pick(c)
		if lateCount(w) == 0 {
			continue
		}
		late = true
		if w.Host.LateBusyP50 > 0 {
			v = append(v, w.Host.LateBusyP50)
		}
	}
	if !late {
		return "none late"
	}
	return percentP50(v)
}

func percentP50(v []float64) string {
	if len(v) == 0 {
		return "not measured"
	}
	return fmt.Sprintf("%.0f%%", benchutil.Percentile(v, 50)*100)
}

// loadP50 is the median across crashes of the 1-minute load average at
// the end of the window pick takes.
func loadP50(crashes []benchutil.FailoverCrash, pick func(benchutil.FailoverCrash) benchutil.Window) string {
	var v []float64
	for _, c := range crashes {
		if l := pick(c).Host.Load1; l > 0 {
			v = append(v, l)
		}
	}
	if len(v) == 0 {
		return "not measured"
	}
	return fmt.Sprintf("%.1f", benchutil.Percentile(v, 50))
}

// topCPU sums, by command, the CPU seconds of each crash's top commands in
// the window pick takes, and lists the first six: "etcd 31.2 s, kubelet
// 12.0 s".
func topCPU(crashes []benchutil.FailoverCrash, pick func(benchutil.FailoverCrash) benchutil.Window) string {
	sum := map[string]float64{}
	for _, c := range crashes {
		for _, t := range pick(c).Host.Top {
			sum[t.Comm] += t.Seconds
		}
	}
	if len(sum) == 0 {
		return "not measured"
	}
	comms := slices.SortedFunc(maps.Keys(sum), func(a, b string) int {
		return cmp.Or(cmp.Compare(sum[b], sum[a]), strings.Compare(a, b))
	})
	var parts []string
	for _, c := range comms[:min(6, len(comms))] {
		parts = append(parts, fmt.Sprintf("%s %.1f s", c, sum[c]))
	}
	return strings.Join(parts, ", ")
}

// column values of one setup's table row.
type column struct {
	failed, longest, last, late, p99, patientFailed, patientLast string
}

// columns computes a row's p50 / p90 / max values from the windows pick
// takes of each crash (the client's and the 2 s client's).
func columns(crashes []benchutil.FailoverCrash, patient bool, pick func(benchutil.FailoverCrash) (benchutil.Window, benchutil.Window)) column {
	var failed, longest, last, late, p99, pFailed, pLast []float64
	for _, c := range crashes {
		w, pw := pick(c)
		failed = append(failed, float64(w.Failed))
		longest = append(longest, w.Longest.Seconds())
		last = append(last, w.LastFailure.Seconds())
		late = append(late, float64(lateCount(w)))
		p99 = append(p99, w.OKp99.Seconds())
		pFailed = append(pFailed, float64(pw.Failed))
		pLast = append(pLast, pw.LastFailure.Seconds())
	}
	col := column{
		failed: benchutil.Spread(failed, "%.0f"), longest: benchutil.Spread(longest, "%.2f"), last: benchutil.Spread(last, "%.2f"),
		late: benchutil.Spread(late, "%.0f"), p99: benchutil.Spread(p99, "%.2f"),
		patientFailed: benchutil.Spread(pFailed, "%.0f"), patientLast: benchutil.Spread(pLast, "%.2f") + " s",
	}
	if !patient {
		col.patientFailed, col.patientLast = "not run", "not run"
	}
	return col
}

// lateCount is how many of w's failures came StrayAfter or later after
// its fault. Reports written before Window.Late existed list those in
// Failures only, at most 20 of them.
func lateCount(w benchutil.Window) int {
	return max(w.Late, len(w.Strays()))
}

// lateKinds counts w's late failures by error, from the list when the
// report has no counts.
func lateKinds(w benchutil.Window) map[string]int {
	if w.LateKinds != nil {
		return w.LateKinds
	}
	kinds := map[string]int{}
	for _, f := range w.Strays() {
		kinds[f.Err]++
	}
	return kinds
}

func round(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
