package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kubeha/kubeha/events"
)

// maxNamed is how many hosts a phase's summary line names for each count;
// the rest are counted, so the line stays one line on a large cluster.
const maxNamed = 10

// tally is what the plain renderer keeps of one phase's per-host steps
// (host-started to host-done or host-failed), to say at the phase's end
// how many hosts are done, failed or still pending, and which.
type tally struct {
	state map[string]hostState
	order []string // hosts in the order they first started
	// folded holds, per host, the info lines not printed while the host
	// was in a step: replayed at the phase's end when the phase worked on
	// one host only, where they cost nothing and say something.
	folded map[string][]string
}

type hostState struct {
	status string // "pending", "done" or "failed"
	err    string // the error of the host's last failed step
}

func newTally() *tally {
	return &tally{state: map[string]hostState{}, folded: map[string][]string{}}
}

// inStep reports whether host has started a step that has not ended.
func (t *tally) inStep(host string) bool {
	return t.state[host].status == "pending"
}

// record updates host's state for a host-started, host-done or
// host-failed event. A host failed in one step stays failed for the phase.
func (t *tally) record(e events.Event) {
	s, seen := t.state[e.Host]
	if !seen {
		t.order = append(t.order, e.Host)
	}
	switch {
	case e.Kind == events.HostFailed:
		s = hostState{status: "failed", err: e.Error}
	case s.status == "failed":
	case e.Kind == events.HostStarted:
		s.status = "pending"
	case e.Kind == events.HostDone:
		s.status = "done"
	}
	t.state[e.Host] = s
}

// replay returns the folded info lines of a phase that worked on one host
// only, and nothing otherwise.
func (t *tally) replay() []string {
	if len(t.order) != 1 {
		return nil
	}
	return t.folded[t.order[0]]
}

// summary returns the lines printed at the phase's end: the count line,
// then each failed host's error in full, continuation lines indented. It
// returns nothing for a phase that ran no per-host step.
func (t *tally) summary(phase string) (lines []string, failed bool) {
	if len(t.order) == 0 {
		return nil, false
	}
	hosts := slices.Clone(t.order)
	slices.SortFunc(hosts, naturalCompare)
	by := map[string][]string{}
	for _, h := range hosts {
		st := t.state[h].status
		by[st] = append(by[st], h)
	}
	line := fmt.Sprintf("phase %s: %d done", phase, len(by["done"]))
	for _, st := range []string{"failed", "pending"} {
		if n := len(by[st]); n > 0 {
			line += fmt.Sprintf(", %d %s (%s)", n, st, nameList(by[st]))
		}
	}
	lines = append(lines, line)
	for _, h := range by["failed"] {
		// Errors from the ssh package already start with the host.
		msg := strings.TrimPrefix(t.state[h].err, h+": ")
		lines = append(lines, "  "+h+": "+strings.ReplaceAll(msg, "\n", "\n    "))
	}
	return lines, len(by["failed"]) > 0
}

// nameList joins hosts, naming at most maxNamed of them.
func nameList(hosts []string) string {
	if len(hosts) <= maxNamed {
		return strings.Join(hosts, ", ")
	}
	return strings.Join(hosts[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(hosts)-maxNamed)
}

// naturalCompare orders host names with their digit runs compared as
// numbers, so w2 comes before w10; names equal that way (w01, w1) are
// ordered as strings.
func naturalCompare(a, b string) int {
	if c := naturalOrder(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func naturalOrder(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:da], 10, 64)
			nb, _ := strconv.ParseUint(b[:db], 10, 64)
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
