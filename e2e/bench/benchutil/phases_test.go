package benchutil

import (
	"reflect"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
)

func TestPhases(t *testing.T) {
	done := func(phase string, s float64, d time.Duration) events.Event {
		return events.Event{Time: at(s), Kind: events.PhaseDone, Phase: phase, Duration: d}
	}
	for _, tc := range []struct {
		name string
		evs  []events.Event
		want []PhaseSeconds
	}{{
		name: "done phases in the order they ended, to the millisecond",
		evs: []events.Event{
			{Time: at(0), Kind: events.RunStarted},
			{Time: at(0.1), Kind: events.PhaseStarted, Phase: "facts"},
			done("facts", 0.9, 812345678*time.Nanosecond),
			{Time: at(1), Kind: events.HostDone, Phase: "host-prep", Host: "m1", Duration: time.Second},
			done("host-prep", 1.3, 400*time.Millisecond),
			done("verify", 40, 39900*time.Millisecond),
			{Time: at(40), Kind: events.RunDone, Duration: 40 * time.Second},
		},
		want: []PhaseSeconds{{"facts", 0.812}, {"host-prep", 0.4}, {"verify", 39.9}},
	}, {
		name: "skipped and failed phases are absent",
		evs: []events.Event{
			{Time: at(1), Kind: events.PhaseSkipped, Phase: "etcd-cluster", Message: "no host needs this phase with this inventory"},
			done("kubeadm-init", 14, 13*time.Second),
			{Time: at(20), Kind: events.PhaseFailed, Phase: "join-workers", Error: "w1: boom", Duration: 6 * time.Second},
		},
		want: []PhaseSeconds{{"kubeadm-init", 13}},
	}, {
		name: "no events",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Phases(tc.evs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Phases = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsKubeadmPhase(t *testing.T) {
	for phase, want := range map[string]bool{
		"kubeadm-init": true, "join-control-plane": true, "join-workers": true,
		"upgrade": false, "verify": false, "": false,
	} {
		if got := IsKubeadmPhase(phase); got != want {
			t.Errorf("IsKubeadmPhase(%q) = %v, want %v", phase, got, want)
		}
	}
}
