package benchutil

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/phases"
)

// tookRE is the line the kubeadm-init and kubeadm-join scripts
// (scripts/templates/phases/kubeadm-*.sh.tmpl) print right after kubeadm
// has ended well, with the duration the host measured around it.
var tookRE = regexp.MustCompile(`^kubeadm (init|join) took (\d+) ms$`)

// The phases that run kubeadm init and join.
var (
	initPhase       = phases.InitControlPlane{}.ID()
	masterJoinPhase = phases.JoinControlPlane{}.ID()
	workerJoinPhase = phases.JoinWorkers{}.ID()
)

// KubeadmTook is the duration of a kubeadm init or join that e reports, and
// whether e is such a report: an output event "kubeadm init took N ms" or
// "kubeadm join took N ms".
func KubeadmTook(e events.Event) (time.Duration, bool) {
	m := tookRE.FindStringSubmatch(e.Message)
	if e.Kind != events.Output || m == nil {
		return 0, false
	}
	ms, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// KubeadmSum adds up the durations of every kubeadm init and join evs
// report. Worker joins run beside the control-plane joins, so the sum counts
// overlapping time: it is a reference figure, not a duration of the apply.
func KubeadmSum(evs []events.Event) time.Duration {
	var sum time.Duration
	for _, e := range evs {
		if d, ok := KubeadmTook(e); ok {
			sum += d
		}
	}
	return sum
}

// kubeadmRun is one kubeadm init or join that ended well, on kubeha's
// clock.
type kubeadmRun struct {
	phase, host string
	start, end  time.Time
	took        time.Duration
}

// CriticalPath is the time kubeadm itself needs, at the least, to build the
// cluster whose apply evs are the events of (kubeha apply --output json,
// in the order emitted): kubeadm init's duration, plus each control-plane
// join's (they run one at a time, after init), plus the time during which
// a worker join ran after the last of those had ended (worker joins run
// beside the control-plane joins; time they overlap counts once).
//
// Each kubeadm command's end is the time of its "took" output event, which
// kubeha stamps as it reads the line the host prints right after kubeadm
// exits; its start is that time less the duration the host measured. Both
// lag the host by the same transport delay, so the commands of different
// hosts compare on one clock.
//
// It is an error, not a figure, when evs do not show a whole build: no
// kubeadm init (the cluster existed before this apply), or a host of the
// init or join phases that failed, was cut short, or ended without a
// kubeadm command (already joined), or one of those phases failed.
func CriticalPath(evs []events.Event) (time.Duration, error) {
	runs, err := kubeadmRuns(evs)
	if err != nil {
		return 0, err
	}
	var inits, masters, workers []kubeadmRun
	for _, r := range runs {
		switch r.phase {
		case initPhase:
			inits = append(inits, r)
		case masterJoinPhase:
			masters = append(masters, r)
		default:
			workers = append(workers, r)
		}
	}
	if len(inits) != 1 {
		return 0, fmt.Errorf("%d kubeadm inits in this apply's events, want 1 (none: the cluster existed before it)", len(inits))
	}
	path, last := inits[0].took, inits[0].end
	for _, r := range masters {
		path += r.took
		if r.end.After(last) {
			last = r.end
		}
	}
	return path + overhang(workers, last), nil
}

// overhang is how long any of runs was running after last: the length of
// the union of the runs' intervals cut at last.
func overhang(runs []kubeadmRun, last time.Time) time.Duration {
	type span struct{ from, to time.Time }
	var spans []span
	for _, r := range runs {
		if r.end.After(last) {
			spans = append(spans, span{latest(r.start, last), r.end})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	var total time.Duration
	var reached time.Time // the end of the union so far
	for _, s := range spans {
		from := latest(s.from, reached)
		if s.to.After(from) {
			total += s.to.Sub(from)
			reached = s.to
		}
	}
	return total
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// kubeadmRuns reads each kubeadm init and join from evs, or the errors that
// say the events do not show every host of those phases running one to
// its end.
func kubeadmRuns(evs []events.Event) ([]kubeadmRun, error) {
	type key struct{ phase, host string }
	pending := map[key]bool{} // started, no kubeadm command ended yet
	var runs []kubeadmRun
	var errs []error
	for _, e := range evs {
		if e.Phase != initPhase && e.Phase != masterJoinPhase && e.Phase != workerJoinPhase {
			continue
		}
		k := key{e.Phase, e.Host}
		if took, ok := KubeadmTook(e); ok {
			runs = append(runs, kubeadmRun{phase: e.Phase, host: e.Host, start: e.Time.Add(-took), end: e.Time, took: took})
			delete(pending, k)
			continue
		}
		switch e.Kind {
		case events.HostStarted:
			pending[k] = true
		case events.HostDone:
			if pending[k] {
				errs = append(errs, fmt.Errorf("%s: %s ended without running kubeadm", e.Host, e.Phase))
			}
			delete(pending, k)
		case events.HostFailed:
			errs = append(errs, fmt.Errorf("%s: %s failed: %s", e.Host, e.Phase, e.Error))
			delete(pending, k)
		case events.PhaseFailed:
			errs = append(errs, fmt.Errorf("%s failed: %s", e.Phase, e.Error))
		}
	}
	var cut []string
	for k := range pending {
		cut = append(cut, k.host+": "+k.phase)
	}
	sort.Strings(cut)
	for _, c := range cut {
		errs = append(errs, fmt.Errorf("%s cut short: no end in the events", c))
	}
	return runs, errors.Join(errs...)
}
