// Command failover turns `make bench-failover`'s JSON report
// (benchutil.FailoverReport) into docs/failover.md's table: for each
// setup, p50 / p90 / max across its crashes of the failed requests, the
// longest run of failures and the time from the crash to the last failure,
// the same for the crashed host's return, and every failure later than
// benchutil.StrayAfter, which needs explaining.
//
//	go run ./e2e/bench/failover -doc docs/failover.md < report.json
//
// With -doc, the table replaces what stands between the file's
// "<!-- bench-failover -->" and "<!-- /bench-failover -->" lines (another
// name with -section); without it, the table goes to stdout.
package main

import (
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
	table := Table(r)
	if doc == "" {
		_, err := io.WriteString(out, table)
		return err
	}
	return benchutil.WriteSection(doc, section, table)
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
	return b.String()
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
