package conformance

import (
	"fmt"
	"strings"
)

// Markdown is the report as docs/conformance.md's generated section: when,
// on what and how long; the count of each outcome; then every spec that did
// not pass, with why. Passed specs are counted, not listed.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s at commit %s: Kubernetes %s, %s; focus `%s`; %.0f minutes.",
		r.Date, r.Commit, r.KubeVersion, r.Cluster, r.Focus, r.Seconds/60)
	if r.Disruption != "" {
		fmt.Fprintf(&b, " During the run: %s.", r.Disruption)
	}
	if r.VIPTakeovers != nil {
		// A takeover is a host entering keepalived's MASTER state: a
		// starved backup's claim that the holder's advert undoes within
		// the second counts too (its gratuitous ARPs went out).
		switch len(r.VIPTakeovers) {
		case 0:
			b.WriteString(" No host took the VIP.")
		case 1:
			fmt.Fprintf(&b, " A host took the VIP once: %s.", r.VIPTakeovers[0])
		default:
			fmt.Fprintf(&b, " Hosts took the VIP %d times (each entering keepalived's MASTER state, claims undone within the second included): %s.", len(r.VIPTakeovers), strings.Join(r.VIPTakeovers, ", "))
		}
	}
	b.WriteString("\n\n| outcome | specs |\n|---|---|\n")
	states := []string{"passed", "failed", "timedout", "panicked", "interrupted", "aborted", "skipped", "not run"}
	seen := map[string]bool{}
	for _, s := range states {
		seen[s] = true
		if n := r.Count(s); n > 0 || s == "passed" || s == "failed" {
			fmt.Fprintf(&b, "| %s | %d |\n", s, n)
		}
	}
	for _, s := range r.Specs {
		if !seen[s.State] {
			seen[s.State] = true
			fmt.Fprintf(&b, "| %s | %d |\n", s.State, r.Count(s.State))
		}
	}
	fmt.Fprintf(&b, "| all [Conformance] specs of the suite | %d |\n", len(r.Specs))
	if len(r.SuiteFailures) > 0 {
		b.WriteString("\nFailures outside any spec:\n\n")
		for _, f := range r.SuiteFailures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	// Specs left out by the focus are one line, not hundreds.
	focusOut := 0
	var rows []string
	for _, s := range r.Specs {
		if s.State == "passed" {
			continue
		}
		if s.State == "not run" && s.Reason == "not in the focus" {
			focusOut++
			continue
		}
		reason := strings.ReplaceAll(s.Reason, "|", `\|`)
		rows = append(rows, fmt.Sprintf("| %s | %s | %s |", strings.ReplaceAll(s.Name, "|", `\|`), s.State, reason))
	}
	if len(rows) > 0 {
		b.WriteString("\nEvery spec that did not pass:\n\n| spec | outcome | why |\n|---|---|---|\n")
		b.WriteString(strings.Join(rows, "\n") + "\n")
	}
	if focusOut > 0 {
		// A focused run names what it ran.
		var passed []string
		for _, s := range r.Specs {
			if s.State == "passed" {
				passed = append(passed, fmt.Sprintf("- %s (%.1f s)", s.Name, s.Seconds))
			}
		}
		if len(passed) > 0 {
			b.WriteString("\nPassed:\n\n" + strings.Join(passed, "\n") + "\n")
		}
		fmt.Fprintf(&b, "\n%d specs were outside this run's focus.\n", focusOut)
	}
	return b.String()
}
