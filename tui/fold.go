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

// Host step states, as HostSteps.Status returns them.
const (
	StepPending   = "pending" // in a step that has not ended
	StepDone      = "done"
	StepFailed    = "failed"
	StepCancelled = "cancelled" // its step was cut short by a cancelled run
)

// HostSteps counts one phase's hosts by how their per-host steps (from
// host-started to host-done or host-failed) ended. A host failed in one
// step stays failed for the phase; one whose step was cut short by a
// cancelled run (an event marked Cancelled) is cancelled unless it had
// failed before: it is not a failure to look into. The plain renderer's
// phase summary and the live view (tui/runview) both count with it, so the
// two say the same. It is not safe for concurrent use.
type HostSteps struct {
	state map[string]hostState
	order []string // hosts in the order they first started
}

type hostState struct {
	status string // StepPending, StepDone, StepFailed or StepCancelled
	err    string // the error of the host's last failed step
}

// NewHostSteps returns a HostSteps with no host.
func NewHostSteps() *HostSteps {
	return &HostSteps{state: map[string]hostState{}}
}

// Record updates the state of e's host for a host-started, host-done or
// host-failed event, and ignores other events.
func (s *HostSteps) Record(e events.Event) {
	if e.Kind != events.HostStarted && e.Kind != events.HostDone && e.Kind != events.HostFailed {
		return
	}
	st, seen := s.state[e.Host]
	if !seen {
		s.order = append(s.order, e.Host)
	}
	switch {
	case e.Kind == events.HostFailed && !e.Cancelled:
		st = hostState{status: StepFailed, err: e.Error}
	case st.status == StepFailed:
	case e.Kind == events.HostFailed:
		st.status = StepCancelled
	case e.Kind == events.HostStarted:
		st.status = StepPending
	case e.Kind == events.HostDone:
		st.status = StepDone
	}
	s.state[e.Host] = st
}

// Status is host's state in the phase, "" when no step of it was recorded.
func (s *HostSteps) Status(host string) string {
	return s.state[host].status
}

// Counts returns the line that counts the phase's hosts done, failed,
// cancelled and pending, naming the hosts of each count but done, as in
// "phase join-workers: 1 done, 2 cancelled (w2, w3)"; and the worst
// outcome among the hosts, StepFailed, else StepCancelled, else "". It
// returns "", "" when no host step was recorded.
func (s *HostSteps) Counts(phase string) (line, outcome string) {
	if len(s.order) == 0 {
		return "", ""
	}
	by := s.byStatus()
	line = fmt.Sprintf("phase %s: %d done", phase, len(by[StepDone]))
	for _, st := range []string{StepFailed, StepCancelled, StepPending} {
		if n := len(by[st]); n > 0 {
			line += fmt.Sprintf(", %d %s (%s)", n, st, nameList(by[st]))
		}
	}
	switch {
	case len(by[StepFailed]) > 0:
		outcome = StepFailed
	case len(by[StepCancelled]) > 0:
		outcome = StepCancelled
	}
	return line, outcome
}

// byStatus groups the hosts by state, each group in natural order.
func (s *HostSteps) byStatus() map[string][]string {
	hosts := slices.Clone(s.order)
	slices.SortFunc(hosts, naturalCompare)
	by := map[string][]string{}
	for _, h := range hosts {
		st := s.state[h].status
		by[st] = append(by[st], h)
	}
	return by
}

// tally is what the plain renderer keeps of one phase's per-host steps
// (host-started to host-done or host-failed), to say at the phase's end
// how many hosts are done, failed, cancelled or still pending, and which.
type tally struct {
	*HostSteps
	// folded holds, per host, the info lines not printed while the host
	// was in a step: replayed at the phase's end when the phase worked on
	// one host only, where they cost nothing and say something.
	folded map[string][]string
}

func newTally() *tally {
	return &tally{HostSteps: NewHostSteps(), folded: map[string][]string{}}
}

// inStep reports whether host has started a step that has not ended.
func (t *tally) inStep(host string) bool {
	return t.Status(host) == StepPending
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
// then each failed host's error in full, continuation lines indented; and
// the worst outcome among the hosts (see Counts). It returns nothing for a
// phase that ran no per-host step.
func (t *tally) summary(phase string) (lines []string, outcome string) {
	line, outcome := t.Counts(phase)
	if line == "" {
		return nil, ""
	}
	lines = append(lines, line)
	for _, h := range t.byStatus()[StepFailed] {
		// Errors from the ssh package already start with the host.
		msg := strings.TrimPrefix(t.state[h].err, h+": ")
		lines = append(lines, "  "+h+": "+strings.ReplaceAll(msg, "\n", "\n    "))
	}
	return lines, outcome
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
