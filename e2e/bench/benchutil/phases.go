package benchutil

import (
	"github.com/kubeha/kubeha/events"
)

// PhaseSeconds is how long one phase of an apply took, in seconds to the
// millisecond.
type PhaseSeconds struct {
	Phase   string  `json:"phase"` // the phase's ID, as in --skip-phases
	Seconds float64 `json:"seconds"`
}

// Phases is the duration of every phase that evs (kubeha apply --output
// json, in the order emitted) show ending well, in the order they ended,
// which is the order they ran. A phase that was skipped (its phase-skipped
// event: no host needs it, or it was up to date) or failed is absent, not
// 0.
//
// Each duration is the one the runner puts on the phase's phase-done
// event: from the start of the phase's probe, which runs before its
// phase-started event, to its end, on kubeha's clock. The probe is part
// of what the phase costs (load-balancer's and routes' probes ask every
// host over SSH), so the time stamps of phase-started and phase-done
// would leave it out.
func Phases(evs []events.Event) []PhaseSeconds {
	var ps []PhaseSeconds
	for _, e := range evs {
		if e.Kind == events.PhaseDone {
			ps = append(ps, PhaseSeconds{Phase: e.Phase, Seconds: float64(e.Duration.Milliseconds()) / 1000})
		}
	}
	return ps
}

// IsKubeadmPhase says whether phase is the ID of a phase that runs kubeadm
// init or join: the phases whose kubeadm commands CriticalPath adds up.
func IsKubeadmPhase(phase string) bool {
	return phase == initPhase || phase == masterJoinPhase || phase == workerJoinPhase
}
