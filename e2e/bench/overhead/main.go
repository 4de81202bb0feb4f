// Command overhead turns the JSON report of `make bench-overhead`
// (benchutil.OverheadReport, written by run.sh beside it) into
// docs/performance.md's generated section, the lines between
// "<!-- bench-overhead -->" and "<!-- /bench-overhead -->" (another name
// with -section): a line saying what ran, when and at which commits, every
// round's figures for both binaries, and each binary's medians.
//
//	go run ./e2e/bench/overhead -doc docs/performance.md <docs/bench/overhead.json
//
// Without -doc the section goes to stdout, as run.sh prints it.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
)

func main() {
	doc := flag.String("doc", "", "the Markdown file whose marked section the report replaces; stdout without it")
	section := flag.String("section", "bench-overhead", "the section's name: it stands between <!-- NAME --> and <!-- /NAME --> lines")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *doc, *section); err != nil {
		fmt.Fprintln(os.Stderr, "overhead:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, doc, section string) error {
	var r benchutil.OverheadReport
	if err := json.NewDecoder(in).Decode(&r); err != nil {
		return fmt.Errorf("read the report: %w", err)
	}
	if r.Date == "" || r.Commit == "" || r.Base == "" || len(r.Rounds) == 0 {
		return errors.New("the report lacks its date, commit, base or rounds")
	}
	md := Markdown(r)
	if doc == "" {
		_, err := io.WriteString(out, md)
		return err
	}
	return benchutil.WriteSection(doc, section, md)
}

// Markdown is the report as docs/performance.md shows it. The prose
// around the section says what the columns measure.
func Markdown(r benchutil.OverheadReport) string {
	rounds := 0
	var binaries []string // in the order they first ran
	for _, t := range r.Rounds {
		rounds = max(rounds, t.Round)
		if !slices.Contains(binaries, t.Binary) {
			binaries = append(binaries, t.Binary)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "`BASE=%s ROUNDS=%d make bench-overhead`, %s, commit %s against BASE %s. After: kubeha built from the tree at %s; before: built at %s. Each round, the two in turn apply from nothing until verify sees every node Ready, apply three times with nothing to change, and reset.\n\n",
		r.Base, rounds, r.Date, r.Commit, r.Base, r.Commit, r.Base)
	b.WriteString("| round | binary | apply | kubeadm's critical path | ratio (target ≤ 1.10) | kubeadm's commands summed | no-change reruns |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, t := range r.Rounds {
		fmt.Fprintf(&b, "| %d | %s | %.1f s | %.1f s | %.2f | %.1f s | %s |\n",
			t.Round, t.Binary, t.ApplySeconds, t.CriticalPathSeconds, t.Ratio, t.KubeadmSumSeconds, reruns(t.RerunSeconds))
	}
	b.WriteString("\nMedians per binary (of an even count, the mean of the middle two); the rerun median is over all of the binary's reruns:\n\n")
	commits := map[string]string{benchutil.OverheadAfter: r.Commit, benchutil.OverheadBefore: r.Base}
	for _, bin := range binaries {
		var apply, ratio, rerun []float64
		for _, t := range r.Rounds {
			if t.Binary == bin {
				apply = append(apply, t.ApplySeconds)
				ratio = append(ratio, t.Ratio)
				rerun = append(rerun, t.RerunSeconds...)
			}
		}
		fmt.Fprintf(&b, "- %s (%s): median apply %.1f s, median ratio %.2f, median no-change rerun %.2f s\n",
			bin, commits[bin], benchutil.Median(apply), benchutil.Median(ratio), benchutil.Median(rerun))
	}
	return b.String()
}

func reruns(s []float64) string {
	var f []string
	for _, v := range s {
		f = append(f, fmt.Sprintf("%.2f s", v))
	}
	return strings.Join(f, ", ")
}
