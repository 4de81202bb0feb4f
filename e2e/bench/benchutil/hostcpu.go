package benchutil

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The host's CPU during a failover benchmark's windows: every harness
// machine is a container on the test host, so the host's /proc/stat counts
// the CPU all of them use together, and /proc/[pid]/stat each of their
// processes'. A late failure then says whether the host was busy when it
// came.

// clockTicks is the unit of /proc's CPU times: USER_HZ, which the kernel
// fixes at 100 for user space on every architecture Linux runs on, whatever
// its internal HZ (Go cannot ask sysconf(_SC_CLK_TCK) without cgo).
const clockTicks = 100

// topComms is how many commands HostCPU.Top keeps.
const topComms = 6

// CPUSample is the host's cumulative CPU time at one moment, in clock
// ticks summed over its CPUs, from /proc/stat's "cpu" line.
type CPUSample struct {
	At time.Time
	// Busy is Total less idle and iowait. Steal (time the hypervisor gave
	// to another guest) counts as busy: it was not available to the
	// machines, which is what a late request cares about.
	Busy, Total uint64
}

// ParseProcStat reads the aggregate "cpu" line of /proc/stat: "cpu  user
// nice system idle iowait irq softirq steal guest guest_nice". guest and
// guest_nice are already part of user and nice, so they are not added
// again; kernels older than 2.6.33 write fewer fields, which count as 0.
func ParseProcStat(data []byte) (busy, total uint64, err error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line %q is not the aggregate cpu line", line)
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range min(len(f)-1, len(v)) {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		total += v[i]
	}
	const idle, iowait = 3, 4
	return total - v[idle] - v[iowait], total, nil
}

// ParsePidStat reads /proc/[pid]/stat: the command name (comm) and the
// CPU time the process has used, utime+stime, in clock ticks. comm stands
// in parentheses and may itself hold spaces and ')', so it ends at the
// last ')'; the fields after it start with the third, state.
func ParsePidStat(data []byte) (comm string, ticks uint64, err error) {
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("stat %q: no (comm)", s)
	}
	f := strings.Fields(s[end+1:])
	const utime, stime = 14 - 3, 15 - 3 // fields 14 and 15, counted from state (3)
	if len(f) <= stime {
		return "", 0, fmt.Errorf("stat %q: %d fields after comm, want at least %d", s, len(f), stime+1)
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("stat utime: %w", err)
	}
	st, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("stat stime: %w", err)
	}
	return s[open+1 : end], u + st, nil
}

// ParseLoadAvg reads the 1-minute load average, the first field of
// /proc/loadavg.
func ParseLoadAvg(data []byte) (float64, error) {
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, errors.New("/proc/loadavg is empty")
	}
	return strconv.ParseFloat(f[0], 64)
}

// ProcSnapshot is the CPU time every process had used at one moment, and
// the host's load average then. ReadProcs takes it; TopCPU compares two.
// The zero value is a snapshot not taken.
type ProcSnapshot struct {
	At    time.Time
	Load1 float64
	procs map[int]procTicks
}

// procTicks is one process's comm and utime+stime.
type procTicks struct {
	comm  string
	ticks uint64
}

// ReadProcs reads /proc/loadavg and every /proc/[pid]/stat under proc
// (the host's "/proc"). A process that ends while it reads is left out.
// It reads a few hundred small files: call it at a window's edges, not
// in a loop.
func ReadProcs(proc string) (ProcSnapshot, error) {
	s := ProcSnapshot{At: time.Now(), procs: map[int]procTicks{}}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return ProcSnapshot{}, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // ended since the listing
		}
		if comm, ticks, err := ParsePidStat(data); err == nil {
			s.procs[pid] = procTicks{comm, ticks}
		}
	}
	data, err := os.ReadFile(filepath.Join(proc, "loadavg"))
	if err == nil {
		s.Load1, err = ParseLoadAvg(data)
	}
	return s, err
}

// CommCPU is the CPU time the processes of one command name used.
type CommCPU struct {
	Comm    string
	Seconds float64
}

// TopCPU is the n command names whose processes used the most CPU from
// start to end, most first, their processes summed (three etcd are one
// "etcd"). A process started in between counts whole. A process that
// ended in between is missed: /proc/stat's busy counts it, this does not.
// comm is what the kernel keeps of the name, at most 15 bytes
// ("kube-controller" for kube-controller-manager).
func TopCPU(start, end ProcSnapshot, n int) []CommCPU {
	byComm := map[string]uint64{}
	for pid, e := range end.procs {
		d := e.ticks
		// Not the same process when its time went back: the pid was reused.
		if s, ok := start.procs[pid]; ok && s.ticks <= e.ticks {
			d -= s.ticks
		}
		if d > 0 {
			byComm[e.comm] += d
		}
	}
	top := slices.SortedFunc(maps.Keys(byComm), func(a, b string) int {
		return cmp.Or(cmp.Compare(byComm[b], byComm[a]), strings.Compare(a, b))
	})
	var out []CommCPU
	for _, c := range top[:min(n, len(top))] {
		out = append(out, CommCPU{Comm: c, Seconds: roundTo(float64(byComm[c])/clockTicks, 100)})
	}
	return out
}

// HostSampler reads the host's CPU counters (/proc/stat) at a steady
// interval, on one goroutine, from StartHostSampler until its context
// ends or Stop.
type HostSampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples []CPUSample // written by the goroutine only, read after done
	err     error       // the first failed read
}

// StartHostSampler reads proc's stat file (proc is the host's "/proc") at
// once and then every every until ctx ends or Stop is called. Each read
// is one small file, so a 100 ms interval costs the clients nothing
// noticeable.
func StartHostSampler(ctx context.Context, proc string, every time.Duration) *HostSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &HostSampler{cancel: cancel, done: make(chan struct{})}
	path := filepath.Join(proc, "stat")
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			data, err := os.ReadFile(path)
			at := time.Now()
			var busy, total uint64
			if err == nil {
				busy, total, err = ParseProcStat(data)
			}
			if err == nil {
				s.samples = append(s.samples, CPUSample{At: at, Busy: busy, Total: total})
			} else if s.err == nil {
				s.err = err
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling, waits for its goroutine and returns the samples
// in the order they were taken, and the first read that failed. It may be
// called more than once (deferred, and again for the samples).
func (s *HostSampler) Stop() ([]CPUSample, error) {
	s.cancel()
	<-s.done
	return s.samples, s.err
}

// HostCPU is the host's CPU over a Window. Its zero value is "not
// measured" (reports written before it existed).
type HostCPU struct {
	// BusyP50 and BusyMax are the median and the highest busy fraction
	// (0-1, CPUSample.Busy of Total) of the host's CPU over the window's
	// sampling intervals (about 100 ms each).
	BusyP50, BusyMax float64
	// LateBusyP50 is the median, over every failure StrayAfter or later
	// after the window's fault (all of them, not only those Failures
	// lists), of the busy fraction over the second before it failed: 0
	// when there was none or none could be measured.
	LateBusyP50 float64 `json:",omitempty"`
	// Top are the commands that used the most CPU from the window's start
	// to its end, most first (TopCPU).
	Top []CommCPU `json:",omitempty"`
	// Load1 is the host's 1-minute load average at the window's end.
	Load1 float64 `json:",omitempty"`
}

// AddHostCPU fills in w, which Summarize made of probes for the window
// [from, from+length), the host's CPU over it: w.Host from samples (a
// HostSampler's, covering the window) and from the process snapshots
// start and end taken at its edges (zero ones leave Top and Load1 out),
// and each of w.Failures' HostBusy.
//
// A failure's busy fraction is the host's over the second before the
// request failed (sent plus took: the whole request and the 800 ms or so
// before it), from the last sample at or before that second's start to the
// first at or after its end; 0 when the samples do not cover it.
func AddHostCPU(w *Window, probes []Probe, from time.Time, length time.Duration, samples []CPUSample, start, end ProcSnapshot) {
	to := from.Add(length)
	var busy []float64
	for i := 1; i < len(samples); i++ {
		if at := samples[i].At; at.After(from) && !at.After(to) {
			if b, ok := busyBetween(samples[i-1], samples[i]); ok {
				busy = append(busy, b)
			}
		}
	}
	w.Host.BusyP50, w.Host.BusyMax = roundTo(Percentile(busy, 50), 1000), roundTo(Percentile(busy, 100), 1000)
	atFailure := map[time.Duration]float64{}
	var late []float64
	for _, p := range probes {
		if p.Err == "" || p.Sent.Before(from) || !p.Sent.Before(to) {
			continue
		}
		failed := p.Sent.Add(p.Took)
		b, ok := busyOver(samples, failed.Add(-time.Second), failed)
		if !ok {
			continue
		}
		at := p.Sent.Sub(from)
		atFailure[at] = roundTo(b, 1000)
		if at >= StrayAfter {
			late = append(late, b)
		}
	}
	for i, f := range w.Failures {
		w.Failures[i].HostBusy = atFailure[f.At]
	}
	w.Host.LateBusyP50 = roundTo(Percentile(late, 50), 1000)
	if !start.At.IsZero() && !end.At.IsZero() {
		w.Host.Top = TopCPU(start, end, topComms)
		w.Host.Load1 = end.Load1
	}
}

// busyOver is the host's busy fraction from the last sample at or before
// from to the first at or after to; false when the samples do not reach
// that far either way. samples are in the order taken.
func busyOver(samples []CPUSample, from, to time.Time) (float64, bool) {
	// The first sample after from, and the first at or after to.
	i := sort.Search(len(samples), func(i int) bool { return samples[i].At.After(from) })
	j := sort.Search(len(samples), func(i int) bool { return !samples[i].At.Before(to) })
	if i == 0 || j == len(samples) {
		return 0, false
	}
	return busyBetween(samples[i-1], samples[j])
}

// busyBetween is the busy fraction of the host's CPU time from a to b,
// within [0, 1]: busy can go back by a tick when the kernel corrects
// iowait. False when no time passed.
func busyBetween(a, b CPUSample) (float64, bool) {
	if b.Total <= a.Total {
		return 0, false
	}
	f := (float64(b.Busy) - float64(a.Busy)) / float64(b.Total-a.Total)
	return min(max(f, 0), 1), true
}

// roundTo rounds v to 1/per (per 1000: a tenth of a percent).
func roundTo(v, per float64) float64 { return math.Round(v*per) / per }
