// Command record adds one binary's turn of one round to the JSON report of
// `make bench-overhead` (benchutil.OverheadReport). run.sh, beside it,
// calls it after each turn, for both binaries it compares:
//
//	record -report overhead.json -date 2026-12-10 -commit abc1234 -base bb70cd0 \
//		-round 1 -binary after -apply-ms 93912 -reruns-ms 1990,2020,1950 <apply.json
//
// Its stdin is the JSON events of the turn's apply from nothing (`kubeha
// apply --output json`). From them it takes kubeadm's critical path
// (benchutil.CriticalPath: init, each control-plane join in turn, worker
// joins past the last of them) and the sum of every kubeadm command's
// duration (benchutil.KubeadmSum), for reference, and every phase's
// duration (benchutil.Phases). The apply's time outside the critical path
// is split into the verify phase's, which waits for the cluster to settle
// as kubeadm's commands never do, and the rest, kubeha's own; the ratio is
// also given without verify. The wall times are run.sh's. The first call creates the report with the run's date, commit
// and base; every later one must name the same ones, and a turn the report
// does not hold yet. The report is rewritten whole, through a temporary
// file and a rename. A line saying what the turn measured goes to stderr.
//
// It exits 1, saying why, and leaves the report as it was, when stdin is
// not JSON events or the events do not show the cluster built whole and
// verified: no figure is better than a wrong one.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/phases"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}

// run records the turn that args describe, from the apply's events on
// stdin, and writes the line about it to stderr.
func run(args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		path, rerunsMS string
		applyMS        int64
		head           benchutil.OverheadReport
		turn           benchutil.OverheadRound
	)
	fs.StringVar(&path, "report", "", "the JSON report to create or add to")
	fs.StringVar(&head.Date, "date", "", "the run's date (UTC, YYYY-MM-DD)")
	fs.StringVar(&head.Commit, "commit", "", "the commit the after binary is built from, -dirty for a changed tree")
	fs.StringVar(&head.Base, "base", "", "the commit the before binary is built from")
	fs.IntVar(&turn.Round, "round", 0, "the round, from 1")
	fs.StringVar(&turn.Binary, "binary", "", "after or before")
	fs.Int64Var(&applyMS, "apply-ms", 0, "the apply's wall time in milliseconds")
	fs.StringVar(&rerunsMS, "reruns-ms", "", "the no-change reruns' wall times in milliseconds, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if path == "" || head.Date == "" || head.Commit == "" || head.Base == "" {
		return errors.New("-report, -date, -commit and -base are all needed")
	}
	if turn.Round < 1 || (turn.Binary != benchutil.OverheadAfter && turn.Binary != benchutil.OverheadBefore) {
		return fmt.Errorf("-round %d -binary %q: want a round from 1 and %s or %s", turn.Round, turn.Binary, benchutil.OverheadAfter, benchutil.OverheadBefore)
	}
	if applyMS <= 0 {
		return fmt.Errorf("-apply-ms %d: want the apply's wall time", applyMS)
	}
	turn.ApplySeconds = seconds(applyMS)
	for _, f := range strings.Split(rerunsMS, ",") {
		ms, err := strconv.ParseInt(f, 10, 64)
		if err != nil || ms <= 0 {
			return fmt.Errorf("-reruns-ms %q: want milliseconds, comma-separated", rerunsMS)
		}
		turn.RerunSeconds = append(turn.RerunSeconds, seconds(ms))
	}

	evs, err := readEvents(stdin)
	if err != nil {
		return err
	}
	if err := verified(evs); err != nil {
		return err
	}
	critical, err := benchutil.CriticalPath(evs)
	if err != nil {
		return err
	}
	turn.CriticalPathSeconds = seconds(critical.Milliseconds())
	if turn.CriticalPathSeconds <= 0 {
		return errors.New("kubeadm's critical path is 0 ms")
	}
	turn.Ratio = turn.ApplySeconds / turn.CriticalPathSeconds
	turn.KubeadmSumSeconds = seconds(benchutil.KubeadmSum(evs).Milliseconds())
	turn.Phases = benchutil.Phases(evs)
	for _, p := range turn.Phases {
		if p.Phase == verifyPhase {
			turn.VerifySeconds = p.Seconds
		}
	}
	turn.OutsideSeconds = roundMS(turn.ApplySeconds - turn.CriticalPathSeconds)
	turn.OutsideRestSeconds = roundMS(turn.OutsideSeconds - turn.VerifySeconds)
	turn.RatioWithoutVerify = (turn.ApplySeconds - turn.VerifySeconds) / turn.CriticalPathSeconds

	if err := add(path, head, turn); err != nil {
		return err
	}
	var reruns, took []string
	for _, s := range turn.RerunSeconds {
		reruns = append(reruns, fmt.Sprintf("%.2f s", s))
	}
	for _, p := range turn.Phases {
		took = append(took, fmt.Sprintf("%s %.1f s", p.Phase, p.Seconds))
	}
	_, err = fmt.Fprintf(stderr, "round %d, %s: apply %.1f s, kubeadm's critical path %.1f s, ratio %.2f, outside the path %.1f s (verify %.1f s, the rest %.1f s), ratio without verify %.2f, kubeadm's commands summed %.1f s, no-change reruns %s; phases: %s\n",
		turn.Round, turn.Binary, turn.ApplySeconds, turn.CriticalPathSeconds, turn.Ratio, turn.OutsideSeconds, turn.VerifySeconds, turn.OutsideRestSeconds,
		turn.RatioWithoutVerify, turn.KubeadmSumSeconds, strings.Join(reruns, ", "), strings.Join(took, ", "))
	return err
}

// verifyPhase is the ID of the phase that waits for the cluster to settle.
var verifyPhase = phases.Verify{}.ID()

func seconds(ms int64) float64 { return float64(ms) / 1000 }

// roundMS is s rounded to the millisecond, the grid of every figure it is
// computed from, so that a difference reads 20.671, not 20.670999999999992.
func roundMS(s float64) float64 { return math.Round(s*1000) / 1000 }

// readEvents reads one JSON event a line.
func readEvents(r io.Reader) ([]events.Event, error) {
	var evs []events.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d is not a JSON event: %v", len(evs)+1, err)
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// verified fails unless evs show the apply's verify phase done and the run
// done: the apply's wall time then ends with every node Ready.
func verified(evs []events.Event) error {
	var phaseDone, runDone bool
	for _, e := range evs {
		phaseDone = phaseDone || e.Kind == events.PhaseDone && e.Phase == verifyPhase
		runDone = runDone || e.Kind == events.RunDone
	}
	if !phaseDone || !runDone {
		return fmt.Errorf("the events show no %s of phase %s and %s: the apply did not end verified", events.PhaseDone, verifyPhase, events.RunDone)
	}
	return nil
}

// add appends turn to the report at path, creating it with head's date,
// commit and base when there is none.
func add(path string, head benchutil.OverheadReport, turn benchutil.OverheadRound) error {
	r := head
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if r.Date != head.Date || r.Commit != head.Commit || r.Base != head.Base {
			return fmt.Errorf("%s is the run of %s, commit %s against %s, not of %s, commit %s against %s",
				path, r.Date, r.Commit, r.Base, head.Date, head.Commit, head.Base)
		}
	}
	for _, t := range r.Rounds {
		if t.Round == turn.Round && t.Binary == turn.Binary {
			return fmt.Errorf("%s already holds round %d of %s", path, turn.Round, turn.Binary)
		}
	}
	r.Rounds = append(r.Rounds, turn)
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
