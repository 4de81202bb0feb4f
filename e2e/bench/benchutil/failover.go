package benchutil

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Probe is one request of a failover client: when it was sent and, if it
// failed, why ("" when it was answered 200).
type Probe struct {
	Sent time.Time
	Took time.Duration
	Err  string
}

// Failure is one failed request of a Window, timed from the window's
// start (the fault).
type Failure struct {
	At  time.Duration
	Err string
	// HostBusy is the busy fraction of the host's CPU over the second
	// before the request failed (AddHostCPU); 0 when not measured.
	HostBusy float64 `json:",omitempty"`
}

// Window is what a client saw in the window after a fault (a crash, or the
// crashed host's return).
type Window struct {
	Requests int
	Failed   int
	// Longest is the longest run of failures: from the first failed
	// request's sending to the sending of the next request answered, or to
	// the window's end when none was.
	Longest time.Duration
	// FirstFailure and LastFailure are when the first and the last failed
	// request of the window were sent, from the fault; 0 when none failed.
	// LastFailure is "how long until the service was whole again", as a
	// client that keeps asking feels it.
	FirstFailure, LastFailure time.Duration
	// Failures are the failed requests, at most maxFailures of them: the
	// first ones and then every one after StrayAfter (those need
	// explaining).
	Failures []Failure
	// Omitted counts the failures left out of Failures.
	Omitted int
	// Late counts the failures sent StrayAfter or later after the fault,
	// and LateKinds counts them by error: all of them, where Failures
	// lists at most maxFailures.
	Late      int
	LateKinds map[string]int `json:",omitempty"`
	// OKp99 is the 99th percentile of the answered requests' times: a
	// window whose answers come close to the client's timeout failed
	// requests by slowness, not by a missing backend.
	OKp99 time.Duration
	// Host is the host's CPU over the window (AddHostCPU): zero in
	// reports written before it was measured.
	Host HostCPU `json:",omitzero"`
}

// StrayAfter is when a failure stops being part of the failover itself: a
// failure later than this after the fault is listed in every report.
const StrayAfter = 3 * time.Second

// maxFailures bounds Window.Failures (a window of 30 s at 50 requests a
// second holds 1500 requests).
const maxFailures = 40

// Summarize is the Window of the probes sent in [from, from+length):
// probes must be in the order they were sent.
func Summarize(probes []Probe, from time.Time, length time.Duration) Window {
	var w Window
	end := from.Add(length)
	var runStart time.Time
	var took []float64
	for _, p := range probes {
		if p.Sent.Before(from) || !p.Sent.Before(end) {
			continue
		}
		w.Requests++
		at := p.Sent.Sub(from)
		if p.Err == "" {
			took = append(took, p.Took.Seconds())
			if !runStart.IsZero() {
				w.Longest = max(w.Longest, p.Sent.Sub(runStart))
				runStart = time.Time{}
			}
			continue
		}
		w.Failed++
		if w.Failed == 1 {
			w.FirstFailure = at
		}
		w.LastFailure = at
		if runStart.IsZero() {
			runStart = p.Sent
		}
		if at >= StrayAfter {
			w.Late++
			if w.LateKinds == nil {
				w.LateKinds = map[string]int{}
			}
			w.LateKinds[p.Err]++
		}
		if len(w.Failures) < maxFailures && (len(w.Failures) < maxFailures/2 || at >= StrayAfter) {
			w.Failures = append(w.Failures, Failure{At: at, Err: p.Err})
		} else {
			w.Omitted++
		}
	}
	if !runStart.IsZero() {
		w.Longest = max(w.Longest, end.Sub(runStart))
	}
	w.OKp99 = time.Duration(Percentile(took, 99) * float64(time.Second)).Round(time.Microsecond)
	return w
}

// Strays are the window's failures sent StrayAfter or later after the
// fault.
func (w Window) Strays() []Failure {
	var s []Failure
	for _, f := range w.Failures {
		if f.At >= StrayAfter {
			s = append(s, f)
		}
	}
	return s
}

// FailoverCrash is one crash of a failover benchmark: the host taken off
// the network, what the client saw after it went, and after it came back.
type FailoverCrash struct {
	Victim string
	// Led are the leader leases the victim held just before its crash
	// (kube-controller-manager, kube-scheduler): a new leader starts every
	// controller and lists every object again, on the same cores as the
	// apiservers. nil in reports written before 2026-12-04.
	Led []string `json:",omitempty"`
	// Takeovers are the VIP's moves from the crash to the end of the
	// return's window, as "m2 0.6s after the crash", from the holders'
	// keepalived journals: one is the failover; each other one cut every
	// connection through the VIP again. nil where nothing was looked at
	// (no keepalived, or a report written before 2026-12-04).
	Takeovers []string `json:",omitempty"`
	// Before is the short window before the crash: a failure there is the
	// machine's or the client's, not the failover's.
	Before   Window
	Crash    Window
	Failback Window
	// Proxies say, for each haproxy the requests may have gone through,
	// where its connections went over the crash's window: each server's
	// status at its end and the counters it gained (stot sessions, econ
	// connect errors, wretr retries, wredis redispatches, cli_abrt
	// connections the client gave up).
	Proxies []string
	// Patient is what the patient client (FailoverReport.PatientClient)
	// saw over the same windows.
	Patient PatientWindows
}

// PatientWindows are the patient client's windows of a crash.
type PatientWindows struct {
	Crash, Failback Window
}

// FailoverMode is one endpoint setup of a failover benchmark and its
// crashes.
type FailoverMode struct {
	Mode    string
	Setup   string // what runs where, in words
	Client  string // where the client runs and what it asks
	Crashes []FailoverCrash
}

// FailoverReport is `make bench-failover`'s output: docs/failover.md's
// table is generated from it.
type FailoverReport struct {
	Date, Commit string
	// Client describes the request every mode's client sends, and
	// PatientClient the second client's, which waits longer: its failures
	// are the endpoint's unavailability, not its slowness.
	Client, PatientClient string
	// Window is how long each crash, and each return, is watched.
	Window time.Duration
	Modes  []FailoverMode
}

// Percentile is the p-th percentile (0-100) of v by the nearest-rank
// method: the smallest value with at least p% of v at or below it. 0 for
// none. v is left as it is.
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Spread formats p50/p90/max of v with the given format for each value.
func Spread(v []float64, format string) string {
	return fmt.Sprintf(format+" / "+format+" / "+format, Percentile(v, 50), Percentile(v, 90), Percentile(v, 100))
}
