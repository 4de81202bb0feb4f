// Command overhead turns the JSON report of `make bench-overhead`
// (benchutil.OverheadReport, written by run.sh beside it) into
// docs/performance.md's generated section, the lines between
// "<!-- bench-overhead -->" and "<!-- /bench-overhead -->" (another name
// with -section): a line saying what ran, when and at which commits, every
// round's figures for both binaries, and each binary's medians, its phases'
// too.
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
	return benchutil.Publish(out, doc, section, Markdown(r))
}

// Markdown is the report as docs/performance.md shows it. The prose
// around the section says what the columns measure. A turn recorded
// before the phases' durations were (HasPhases) shows "—" for the figures
// computed from them, and its binary's phase medians leave it out.
func Markdown(r benchutil.OverheadReport) string {
	rounds := 0
	var binaries []string // in the order they first ran
	old := false          // a turn without its phases' durations
	for _, t := range r.Rounds {
		rounds = max(rounds, t.Round)
		if !slices.Contains(binaries, t.Binary) {
			binaries = append(binaries, t.Binary)
		}
		old = old || !t.HasPhases()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "`BASE=%s ROUNDS=%d make bench-overhead`, %s, commit %s against BASE %s. After: kubeha built from the tree at %s; before: built at %s. Each round, the two in turn apply from nothing until verify sees every node Ready, apply three times with nothing to change, and reset.\n\n",
		r.Base, rounds, r.Date, r.Commit, r.Base, r.Commit, r.Base)
	b.WriteString("| round | binary | apply | kubeadm's critical path | ratio (target ≤ 1.10) | verify (waiting for Ready) | the rest outside the critical path | ratio without verify's wait | kubeadm's commands summed | no-change reruns |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range r.Rounds {
		has := t.HasPhases()
		fmt.Fprintf(&b, "| %d | %s | %.1f s | %.1f s | %.2f | %s | %s | %s | %.1f s | %s |\n",
			t.Round, t.Binary, t.ApplySeconds, t.CriticalPathSeconds, t.Ratio,
			figure(has, "%.1f s", t.VerifySeconds), figure(has, "%.1f s", t.OutsideRestSeconds), figure(has, "%.2f", t.RatioWithoutVerify),
			t.KubeadmSumSeconds, reruns(t.RerunSeconds))
	}
	b.WriteString("\nVerify waits for the cluster to settle (every node Ready, every kube-system pod Running), which kubeadm's commands never wait for, so the table shows both ratios, apply / critical path and (apply − verify) / critical path; apply less the critical path is verify's time plus the rest, kubeha's own: its other phases, its steps around kubeadm's commands, the gaps between phases.")
	if old {
		b.WriteString(" —: recorded before the turns held their phases' durations.")
	}
	b.WriteString("\n\nMedians per binary (of an even count, the mean of the middle two); the rerun median is over all of the binary's reruns:\n\n")
	commits := map[string]string{benchutil.OverheadAfter: r.Commit, benchutil.OverheadBefore: r.Base}
	turns := map[string][]benchutil.OverheadRound{} // each binary's turns with their phases
	for _, bin := range binaries {
		var apply, ratio, without, rerun []float64
		for _, t := range r.Rounds {
			if t.Binary != bin {
				continue
			}
			apply = append(apply, t.ApplySeconds)
			ratio = append(ratio, t.Ratio)
			rerun = append(rerun, t.RerunSeconds...)
			if t.HasPhases() {
				without = append(without, t.RatioWithoutVerify)
				turns[bin] = append(turns[bin], t)
			}
		}
		fmt.Fprintf(&b, "- %s (%s): median apply %.1f s, median ratio %.2f, median ratio without verify's wait %s, median no-change rerun %.2f s\n",
			bin, commits[bin], benchutil.Median(apply), benchutil.Median(ratio), figure(len(without) > 0, "%.2f", benchutil.Median(without)), benchutil.Median(rerun))
	}
	if len(turns) == 0 {
		return b.String()
	}
	b.WriteString("\nMedian seconds of each phase but kubeadm's (kubeadm-init, join-control-plane, join-workers), in the order they ran; a phase a turn skipped counts 0 s in it:\n\n")
	for _, bin := range binaries {
		if len(turns[bin]) == 0 {
			continue
		}
		var f []string
		for _, p := range phaseMedians(turns[bin]) {
			f = append(f, fmt.Sprintf("%s %.1f s", p.Phase, p.Seconds))
		}
		fmt.Fprintf(&b, "- %s (%s): %s\n", bin, commits[bin], strings.Join(f, ", "))
	}
	return b.String()
}

// figure is v in format, or "—" when the turn does not hold it.
func figure(has bool, format string, v float64) string {
	if !has {
		return "—"
	}
	return fmt.Sprintf(format, v)
}

// phaseMedians is the median of each phase's seconds over turns, but for
// the phases that run kubeadm, in the order the turns ran them: a phase
// one turn skipped stands after the one it follows in the others. A turn
// without a phase counts 0 s for it.
func phaseMedians(turns []benchutil.OverheadRound) []benchutil.PhaseSeconds {
	var order []string
	for _, t := range turns {
		at := 0 // where the turn's next new phase goes
		for _, p := range t.Phases {
			if benchutil.IsKubeadmPhase(p.Phase) {
				continue
			}
			if i := slices.Index(order, p.Phase); i >= 0 {
				at = i + 1
				continue
			}
			order = slices.Insert(order, at, p.Phase)
			at++
		}
	}
	var out []benchutil.PhaseSeconds
	for _, id := range order {
		var v []float64
		for _, t := range turns {
			s := 0.0
			for _, p := range t.Phases {
				if p.Phase == id {
					s += p.Seconds
				}
			}
			v = append(v, s)
		}
		out = append(out, benchutil.PhaseSeconds{Phase: id, Seconds: benchutil.Median(v)})
	}
	return out
}

func reruns(s []float64) string {
	var f []string
	for _, v := range s {
		f = append(f, fmt.Sprintf("%.2f s", v))
	}
	return strings.Join(f, ", ")
}
