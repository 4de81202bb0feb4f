package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
)

// result is what a successful run measured, with what it ran: the date
// (UTC) and short commit at its start, and its options.
type result struct {
	date, commit string
	options
	// measured holds a measurement per row name, one figure a round.
	measured map[string]*measurement
}

// rows are the table's row names, in its order; a run leaves out the
// ones it skipped.
func (r result) rows() []string {
	return []string{"kubeha host-prep", r.psshLabel(), r.ansibleLabel(), "kubeha render",
		"kubeha host-prep + render", "kubeha no-op rerun", "bare connect+true"}
}

func (r result) med(name string) float64 {
	if m := r.measured[name]; m != nil {
		return benchutil.Median(m.wall)
	}
	return 0
}

// medRSS is the median of the rounds' peak RSS that have one, 0 if none.
func (r result) medRSS(name string) float64 {
	m := r.measured[name]
	if m == nil {
		return 0
	}
	var known []float64
	for _, v := range m.rssMB {
		if v > 0 {
			known = append(known, v)
		}
	}
	return benchutil.Median(known)
}

func rss(mb float64) string {
	if mb <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MB", mb)
}

// markdown is the run's results as docs/performance.md takes them, the
// same text the bench prints: a line saying when, at which commit and at
// what size it ran, the table of medians, the ratios and targets, and
// every round's figures. The doc's prose says what each row does.
func (r result) markdown() string {
	var b strings.Builder
	n := r.masters + r.workers
	fmt.Fprintf(&b, "%s, commit %s: %d masters + %d workers = %d hosts (Tier-1 hosts, real sshd), %d at once, %d rounds, medians.\n\n",
		r.date, r.commit, r.masters, r.workers, n, r.forks, r.rounds)
	b.WriteString("| measurement | wall time | peak RSS |\n|---|---|---|\n")
	for _, name := range r.rows() {
		if r.measured[name] != nil {
			fmt.Fprintf(&b, "| %s | %.2f s | %s |\n", name, r.med(name), rss(r.medRSS(name)))
		}
	}

	k := r.med("kubeha host-prep")
	var ratios []string
	if !r.skipPSSH {
		ratios = append(ratios, fmt.Sprintf("kubeha host-prep vs pssh: %.2fx faster (target ≥ 1.5x)", r.med(r.psshLabel())/k))
	}
	if !r.skipAnsible {
		ratios = append(ratios, fmt.Sprintf("vs Ansible without fact gathering: %.1fx faster (target ≥ 10x)", r.med(r.ansibleLabel())/k))
	}
	ratios = append(ratios, fmt.Sprintf("no-op rerun / bare connect+true: %.2f (target ≤ 1.5)", r.med("kubeha no-op rerun")/r.med("bare connect+true")))
	fmt.Fprintf(&b, "\n%s; kubeha host-prep peak RSS %.1f MB (target < 150 MB).\n", strings.Join(ratios, "; "), r.medRSS("kubeha host-prep"))
	both := "kubeha host-prep + render"
	fmt.Fprintf(&b, "\nkubeha host-prep + render at %d hosts: %.2f s, peak RSS %.1f MB", n, r.med(both), r.medRSS(both))
	if r.baseline > 0 {
		fmt.Fprintf(&b, ", %.2fx the %.2f s given for 203 hosts (target at 1000 hosts: ≤ 5x, RSS < 200 MB)", r.med(both)/r.baseline, r.baseline)
	}
	b.WriteString(".\n\nEach round, wall time and peak RSS:\n\n| measurement |")
	for i := range r.rounds {
		fmt.Fprintf(&b, " round %d |", i+1)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", r.rounds) + "\n")
	for _, name := range r.rows() {
		m := r.measured[name]
		if m == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s |", name)
		for i, wall := range m.wall {
			fmt.Fprintf(&b, " %.2f s, %s |", wall, rss(m.rssMB[i]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// publish prints r's Markdown to out and, with -doc, writes it into the
// doc's section. bench calls it once, after every round passed its checks.
func publish(out io.Writer, r result) error {
	md := r.markdown()
	if _, err := io.WriteString(out, "\n"+md); err != nil {
		return err
	}
	if r.doc == "" {
		return nil
	}
	if err := benchutil.WriteSection(r.doc, r.section, md); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "results written to %s, section %s\n", r.doc, r.section)
	return nil
}

// checkSection fails unless doc has the section name for the results to
// go to, so that a run which cannot write them fails before it measures.
func checkSection(doc, name string) error {
	if name == "" {
		return errors.New("-doc needs -section")
	}
	text, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	if _, err := benchutil.ReplaceSection(string(text), name, ""); err != nil {
		return fmt.Errorf("%s: %w", doc, err)
	}
	return nil
}
