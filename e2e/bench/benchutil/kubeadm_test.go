package benchutil

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
)

// t0 is the start of every hand-built apply.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// kubeadm is the events of one host's turn in phase with a kubeadm command
// running from from to to (seconds after t0): the host's start, a line of
// kubeadm's, the "took" line as the scripts print it, and the host's end a
// little later (kubeha's waits after the command).
func kubeadm(phase, host string, from, to float64) []events.Event {
	verb := "join"
	if phase == "kubeadm-init" {
		verb = "init"
	}
	return []events.Event{
		{Time: at(from - 0.5), Kind: events.HostStarted, Phase: phase, Host: host},
		{Time: at(from + 0.1), Kind: events.Output, Phase: phase, Host: host, Stream: "stdout", Message: "[preflight] Running pre-flight checks"},
		{Time: at(to), Kind: events.Output, Phase: phase, Host: host, Stream: "stdout",
			Message: fmt.Sprintf("kubeadm %s took %d ms", verb, int64((to-from)*1000))},
		{Time: at(to + 2), Kind: events.HostDone, Phase: phase, Host: host},
	}
}

// apply is the events of the given turns, ordered by time as kubeha
// emits them.
func apply(turns ...[]events.Event) []events.Event {
	var evs []events.Event
	for _, t := range turns {
		evs = append(evs, t...)
	}
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].Time.Before(evs[j-1].Time); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	return evs
}

// Three masters: init 0-10 s, m2 joins 12-30 s, m3 32-50 s; the workers
// start joining at 12 s.
var (
	init1 = kubeadm("kubeadm-init", "m1", 0, 10)
	m2    = kubeadm("join-control-plane", "m2", 12, 30)
	m3    = kubeadm("join-control-plane", "m3", 32, 50)
)

func TestCriticalPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []events.Event
		want time.Duration
	}{{
		name: "workers ending before the last control-plane join add nothing",
		evs:  apply(init1, m2, m3, kubeadm("join-workers", "w1", 12, 20), kubeadm("join-workers", "w2", 12, 49)),
		want: 46 * time.Second,
	}, {
		name: "a worker ending after the last control-plane join adds its overhang",
		evs:  apply(init1, m2, m3, kubeadm("join-workers", "w1", 12, 20), kubeadm("join-workers", "w2", 12, 55)),
		want: 51 * time.Second,
	}, {
		name: "overlapping overhangs count once",
		evs:  apply(init1, m2, m3, kubeadm("join-workers", "w1", 12, 53), kubeadm("join-workers", "w2", 13, 55)),
		want: 51 * time.Second,
	}, {
		name: "a worker starting after the last control-plane join adds only its own time",
		evs:  apply(init1, m2, m3, kubeadm("join-workers", "w1", 52, 55)),
		want: 49 * time.Second,
	}, {
		name: "workers joining after the masters, with a gap between them",
		evs:  apply(init1, m2, m3, kubeadm("join-workers", "w1", 51, 54), kubeadm("join-workers", "w2", 56, 58)),
		want: 51 * time.Second,
	}, {
		name: "one master only: init, then the workers side by side",
		evs:  apply(init1, kubeadm("join-workers", "w1", 11, 20), kubeadm("join-workers", "w2", 11.5, 21)),
		want: 20 * time.Second,
	}, {
		name: "init alone",
		evs:  apply(init1),
		want: 10 * time.Second,
	}, {
		name: "other phases' output and hosts do not count",
		evs: apply(init1, m2, m3, kubeadm("join-workers", "w1", 12, 20), []events.Event{
			{Time: at(60), Kind: events.HostStarted, Phase: "verify", Host: "w1"},
			{Time: at(61), Kind: events.Output, Phase: "verify", Host: "w1", Message: "kubeadm join took 9000 ms"},
		}),
		want: 46 * time.Second,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CriticalPath(tc.evs)
			if err != nil || got != tc.want {
				t.Errorf("CriticalPath = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCriticalPathErrors(t *testing.T) {
	// drop returns evs without the events for which match is true.
	drop := func(evs []events.Event, match func(events.Event) bool) []events.Event {
		var out []events.Event
		for _, e := range evs {
			if !match(e) {
				out = append(out, e)
			}
		}
		return out
	}
	w1 := kubeadm("join-workers", "w1", 12, 20)
	for _, tc := range []struct {
		name string
		evs  []events.Event
		want []string // in the error
	}{{
		name: "a failed control-plane join",
		evs: apply(init1, m2, w1, []events.Event{
			{Time: at(31), Kind: events.HostStarted, Phase: "join-control-plane", Host: "m3"},
			{Time: at(40), Kind: events.Output, Phase: "join-control-plane", Host: "m3", Stream: "stderr", Message: "join failed: kubeadm reset to leave this host clean for a retry"},
			{Time: at(41), Kind: events.HostFailed, Phase: "join-control-plane", Host: "m3", Error: "exit status 1"},
			{Time: at(41), Kind: events.PhaseFailed, Phase: "join-control-plane", Error: "m3: exit status 1"},
		}),
		want: []string{"m3: join-control-plane failed: exit status 1"},
	}, {
		name: "a worker join without its took line",
		evs:  apply(init1, m2, m3, drop(kubeadm("join-workers", "w2", 12, 20), func(e events.Event) bool { return e.Kind == events.Output })),
		want: []string{"w2: join-workers ended without running kubeadm"},
	}, {
		name: "a join cut short",
		evs:  apply(init1, m2, drop(m3, func(e events.Event) bool { return e.Time.After(at(40)) })),
		want: []string{"m3: join-control-plane cut short"},
	}, {
		name: "no init: the cluster existed",
		evs:  apply(m2, m3, w1),
		want: []string{"0 kubeadm inits"},
	}, {
		name: "a phase that failed before any host",
		evs:  apply(init1, w1, []events.Event{{Time: at(11), Kind: events.PhaseFailed, Phase: "join-control-plane", Error: "probe: m2: connection refused"}}),
		want: []string{"join-control-plane failed: probe: m2: connection refused"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CriticalPath(tc.evs)
			if err == nil {
				t.Fatalf("CriticalPath = %v, no error", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestKubeadmSumAndTook(t *testing.T) {
	evs := apply(init1, m2, m3, kubeadm("join-workers", "w1", 12, 20))
	if got, want := KubeadmSum(evs), 54*time.Second; got != want {
		t.Errorf("KubeadmSum = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		e    events.Event
		want time.Duration
		ok   bool
	}{
		{"init", events.Event{Kind: events.Output, Message: "kubeadm init took 9798 ms"}, 9798 * time.Millisecond, true},
		{"join", events.Event{Kind: events.Output, Message: "kubeadm join took 6767 ms"}, 6767 * time.Millisecond, true},
		{"not output", events.Event{Kind: events.Info, Message: "kubeadm join took 6767 ms"}, 0, false},
		{"other command", events.Event{Kind: events.Output, Message: "kubeadm reset took 10 ms"}, 0, false},
		{"inside a longer line", events.Event{Kind: events.Output, Message: "note: kubeadm join took 10 ms"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := KubeadmTook(tc.e)
			if got != tc.want || ok != tc.ok {
				t.Errorf("KubeadmTook = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
