package benchutil

// OverheadReport is what `make bench-overhead` (e2e/bench/overhead/run.sh)
// measured: kubeha built from the working tree ("after") and at a baseline
// commit ("before"), alternating on the `make demo` machines. It is written
// to docs/bench/overhead.json, and docs/performance.md's bench-overhead
// section is generated from it (go run ./e2e/bench/overhead).
type OverheadReport struct {
	// Date (UTC, YYYY-MM-DD) and Commit are the run's start: Commit is
	// `git rev-parse --short HEAD`, with "-dirty" when the working tree,
	// which the after binary is built from, differed from it.
	Date   string `json:"date"`
	Commit string `json:"commit"`
	// Base is the commit the before binary is built from.
	Base string `json:"base"`
	// Rounds are every binary's turn in every round, in the order they ran.
	Rounds []OverheadRound `json:"rounds"`
}

// The binaries an OverheadRound names.
const (
	OverheadAfter  = "after"
	OverheadBefore = "before"
)

// OverheadRound is one binary's turn in one round: an apply from nothing on
// reset machines, three applies with nothing to change, a reset.
type OverheadRound struct {
	Round  int    `json:"round"`
	Binary string `json:"binary"` // OverheadAfter or OverheadBefore
	// ApplySeconds is the apply's wall time, from its start until it
	// exits after its verify phase saw every node Ready.
	ApplySeconds float64 `json:"applySeconds"`
	// CriticalPathSeconds is kubeadm's critical path in the apply's
	// events (CriticalPath), and Ratio is ApplySeconds over it.
	CriticalPathSeconds float64 `json:"criticalPathSeconds"`
	Ratio               float64 `json:"ratio"`
	// KubeadmSumSeconds is every kubeadm command's duration added up
	// (KubeadmSum): a reference figure that counts overlapping time twice.
	KubeadmSumSeconds float64 `json:"kubeadmSumSeconds"`
	// RerunSeconds are the wall times of the applies with nothing to
	// change that followed, in order.
	RerunSeconds []float64 `json:"rerunSeconds"`

	// Phases are the apply's phases that ran to their end, each with its
	// duration (Phases), in the order they ran; a skipped phase is absent.
	// Reports recorded before there was this field (the run of
	// 2026-12-03) have none, nor the figures below: HasPhases tells.
	Phases []PhaseSeconds `json:"phaseSeconds,omitempty"`
	// OutsideSeconds is ApplySeconds less CriticalPathSeconds: the time
	// the apply spent outside kubeadm's critical path. It is
	// VerifySeconds, the verify phase's duration, mostly spent waiting
	// for every node to be Ready and every kube-system pod Running, which
	// kubeadm's commands never wait for, plus OutsideRestSeconds: kubeha's
	// other phases, its work around kubeadm's commands in the kubeadm
	// phases, and the gaps between phases.
	OutsideSeconds     float64 `json:"outsideSeconds,omitempty"`
	VerifySeconds      float64 `json:"verifySeconds,omitempty"`
	OutsideRestSeconds float64 `json:"outsideRestSeconds,omitempty"`
	// RatioWithoutVerify is ApplySeconds less VerifySeconds over
	// CriticalPathSeconds: Ratio without the wait for the cluster to
	// settle.
	RatioWithoutVerify float64 `json:"ratioWithoutVerify,omitempty"`
}

// HasPhases says whether the turn holds its phases' durations and the
// figures computed from them, which older reports lack: their zero
// values then mean "not recorded", not 0 s.
func (t OverheadRound) HasPhases() bool { return len(t.Phases) > 0 }
