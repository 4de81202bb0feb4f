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
// "<!-- bench-failover -->" and "<!-- /bench-failover -->" lines; without
// it, the table goes to stdout.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
)

const (
	beginMarker = "<!-- bench-failover -->"
	endMarker   = "<!-- /bench-failover -->"
)

func main() {
	doc := flag.String("doc", "", "the Markdown file whose marked section the table replaces")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *doc); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, doc string) error {
	var r benchutil.FailoverReport
	if err := json.NewDecoder(in).Decode(&r); err != nil {
		return fmt.Errorf("read the report: %w", err)
	}
	table := Table(r)
	if doc == "" {
		_, err := io.WriteString(out, table)
		return err
	}
	old, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	updated, err := replaceSection(string(old), table)
	if err != nil {
		return fmt.Errorf("%s: %w", doc, err)
	}
	tmp := doc + ".tmp"
	if err := os.WriteFile(tmp, []byte(updated), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, doc)
}

// replaceSection puts section between the markers of doc, which must
// each stand on a line of their own, once.
func replaceSection(doc, section string) (string, error) {
	begin := strings.Index(doc, "\n"+beginMarker+"\n")
	end := strings.Index(doc, "\n"+endMarker+"\n")
	if begin < 0 || end < begin || strings.Count(doc, beginMarker) != 1 || strings.Count(doc, endMarker) != 1 {
		return "", fmt.Errorf("want one %q line followed by one %q line", beginMarker, endMarker)
	}
	return doc[:begin+len(beginMarker)+2] + section + doc[end+1:], nil
}

// Table is the report as Markdown.
func Table(r benchutil.FailoverReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "`make bench-failover`, %s, commit %s. Client: %s. Each crash takes the host off the network (its link down) for %v, then brings it back for %v; p50 / p90 / max across the crashes:\n\n",
		r.Date, r.Commit, r.Client, r.Window, r.Window)
	b.WriteString("| setup | client | crashes | failed requests | longest run of failures | crash → last failure (target p90 ≤ 1 s, max ≤ 1.5 s) | failures later than 3 s | on the return: failed requests | on the return: last failure |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var strays []string
	before := 0
	for _, m := range r.Modes {
		var failed, longest, last, late, backFailed, backLast []float64
		for i, c := range m.Crashes {
			failed = append(failed, float64(c.Crash.Failed))
			longest = append(longest, c.Crash.Longest.Seconds())
			last = append(last, c.Crash.LastFailure.Seconds())
			late = append(late, float64(len(c.Crash.Strays())))
			backFailed = append(backFailed, float64(c.Failback.Failed))
			backLast = append(backLast, c.Failback.LastFailure.Seconds())
			before += c.Before.Failed
			for _, f := range c.Crash.Strays() {
				strays = append(strays, fmt.Sprintf("- %s, crash %d (%s): %s after the crash: `%s`", m.Mode, i+1, c.Victim, round(f.At), f.Err))
			}
			for _, f := range c.Failback.Strays() {
				strays = append(strays, fmt.Sprintf("- %s, crash %d (%s): %s after its return: `%s`", m.Mode, i+1, c.Victim, round(f.At), f.Err))
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s s | %s s | %s | %s | %s s |\n", m.Setup, m.Client, len(m.Crashes),
			benchutil.Spread(failed, "%.0f"), benchutil.Spread(longest, "%.2f"), benchutil.Spread(last, "%.2f"),
			benchutil.Spread(late, "%.0f"), benchutil.Spread(backFailed, "%.0f"), benchutil.Spread(backLast, "%.2f"))
	}
	if before > 0 {
		fmt.Fprintf(&b, "\n%d requests failed in the 2 s before a crash: the machine's or the client's, not the failover's.\n", before)
	}
	if len(strays) > 0 {
		fmt.Fprintf(&b, "\nFailures later than %v after a crash or a return:\n\n%s\n", benchutil.StrayAfter, strings.Join(strays, "\n"))
	}
	return b.String()
}

func round(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
