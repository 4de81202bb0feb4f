// Package events is the one stream through which kubeha's library code tells
// the outside world what it is doing. Library packages emit events and never
// print; cmd/kubeha and tui choose how to show them (plain lines, JSON lines,
// the terminal UI). docs/events.md documents the JSON form.
package events

import (
	"sync"
	"time"
)

// Kind says what happened. The string values are part of the JSON contract.
type Kind string

// Event kinds.
const (
	RunStarted   Kind = "run-started"
	RunDone      Kind = "run-done"
	RunFailed    Kind = "run-failed"
	PhaseStarted Kind = "phase-started"
	PhaseDone    Kind = "phase-done"
	PhaseFailed  Kind = "phase-failed"
	PhaseSkipped Kind = "phase-skipped"
	HostStarted  Kind = "host-started"
	HostDone     Kind = "host-done"
	HostFailed   Kind = "host-failed"
	Output       Kind = "output"
	Progress     Kind = "progress"
	Warning      Kind = "warning"
	Info         Kind = "info"
	// PlanChange is one change a phase would make on a host (kubeha plan).
	PlanChange Kind = "plan"
)

// Event is one thing that happened. Only the fields that fit the kind are
// set. Every text field has been through redaction before a Sink's reader
// sees it (see Redacting).
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     Kind          `json:"kind"`
	Phase    string        `json:"phase,omitempty"`
	Host     string        `json:"host,omitempty"`
	Message  string        `json:"message,omitempty"`
	Stream   string        `json:"stream,omitempty"` // "stdout" or "stderr" for Output
	Name     string        `json:"name,omitempty"`   // what Progress counts, e.g. a file name
	Bytes    int64         `json:"bytes,omitempty"`  // Progress: done so far
	Total    int64         `json:"total,omitempty"`  // Progress: expected, 0 if unknown
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"durationNs,omitempty"`
	// Cancelled marks a host-failed or phase-failed event whose step was
	// cut short because the run was cancelled (Ctrl-C, SIGTERM), not
	// because it failed on its own: the journal records it as interrupted
	// and the next run does it again. Readers show it as such, not as N
	// failures to look into.
	Cancelled bool `json:"cancelled,omitempty"`
}

// Sink receives events. Implementations must be safe for concurrent use:
// phases emit from one goroutine per host.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink. The function must itself be safe for
// concurrent use.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = SinkFunc(func(Event) {})

// Recorder keeps every event in memory, for tests and for summaries.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Emit records e.
func (r *Recorder) Emit(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of what was recorded so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Tee sends each event to every sink in order.
func Tee(sinks ...Sink) Sink {
	return SinkFunc(func(e Event) {
		for _, s := range sinks {
			s.Emit(e)
		}
	})
}

// Stamped fills Time on events that lack it, so emitters need not.
func Stamped(s Sink, now func() time.Time) Sink {
	return SinkFunc(func(e Event) {
		if e.Time.IsZero() {
			e.Time = now()
		}
		s.Emit(e)
	})
}

// Emitter is a convenience around a Sink for one phase and host, so call
// sites stay one line. The zero Emitter discards.
type Emitter struct {
	Sink  Sink
	Phase string
	Host  string
}

// ForHost returns an emitter for the same phase on host.
func (em Emitter) ForHost(host string) Emitter {
	em.Host = host
	return em
}

// Emit sends e with the emitter's phase and host filled in where unset.
func (em Emitter) Emit(e Event) {
	if em.Sink == nil {
		return
	}
	if e.Phase == "" {
		e.Phase = em.Phase
	}
	if e.Host == "" {
		e.Host = em.Host
	}
	em.Sink.Emit(e)
}

// Info emits an Info event.
func (em Emitter) Info(msg string) { em.Emit(Event{Kind: Info, Message: msg}) }

// Warn emits a Warning event.
func (em Emitter) Warn(msg string) { em.Emit(Event{Kind: Warning, Message: msg}) }

// Line emits one line of command output.
func (em Emitter) Line(stream, line string) {
	em.Emit(Event{Kind: Output, Stream: stream, Message: line})
}

// Progress emits byte progress for name.
func (em Emitter) Progress(name string, done, total int64) {
	em.Emit(Event{Kind: Progress, Name: name, Bytes: done, Total: total})
}
