package phases

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/state"
)

// HostError is a failure on one host. Errors from ForEachHost are always
// HostErrors joined with errors.Join, so callers can list failed hosts.
type HostError struct {
	Host string
	Err  error
}

// Error names the host once: errors from the ssh package already start
// with it.
func (e *HostError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, e.Host+": ") {
		return msg
	}
	return e.Host + ": " + msg
}
func (e *HostError) Unwrap() error { return e.Err }

// FailedHosts returns the hosts named by the HostErrors inside err.
func FailedHosts(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		// A joined error first: errors.As would stop at its first match.
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if h, ok := err.(*HostError); ok {
			out = append(out, h.Host)
			return
		}
		// Through single wrappers (a PhaseError) down to a join.
		if u := errors.Unwrap(err); u != nil {
			walk(u)
		}
	}
	walk(err)
	return out
}

// ForEachHost runs fn on each host with at most limit running at once (limit
// <= 0 means env.Concurrency). Every host is attempted even when others fail,
// unless ctx is cancelled; each start and end is emitted as an event and
// recorded for the journal. The result is errors.Join of *HostError, in host
// order, or nil.
func ForEachHost(ctx context.Context, env *Env, hosts []string, limit int, fn func(ctx context.Context, host string) error) error {
	if limit <= 0 {
		limit = env.Concurrency
	}
	return fanOut(ctx, hosts, limit, func(ctx context.Context, h string) error {
		log := env.Log.ForHost(h)
		start := time.Now()
		log.Emit(events.Event{Kind: events.HostStarted})
		err := fn(ctx, h)
		d := time.Since(start)
		if err != nil {
			// A step that ends in error once the run is cancelled was cut
			// short by that, whatever the error says (a killed remote
			// command, a closed session): it is not this host's failure.
			// A deadline that ran out is a failure, not an interruption.
			cancelled := errors.Is(ctx.Err(), context.Canceled)
			log.Emit(events.Event{Kind: events.HostFailed, Error: err.Error(), Duration: d, Cancelled: cancelled})
			if cancelled {
				env.results.set(h, state.StatusInterrupted, err)
			} else {
				env.results.set(h, state.StatusFailed, err)
			}
			return err
		}
		log.Emit(events.Event{Kind: events.HostDone, Duration: d})
		env.results.set(h, state.StatusDone, nil)
		return nil
	})
}

// fanOut runs fn on each host, at most limit at once (at least one). Every
// host is attempted unless ctx ends first; the result is errors.Join of
// *HostError, in host order, or nil.
func fanOut(ctx context.Context, hosts []string, limit int, fn func(ctx context.Context, host string) error) error {
	if limit <= 0 {
		limit = 1
	}
	errs := make([]error, len(hosts))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = &HostError{Host: h, Err: ctx.Err()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, h); err != nil {
				errs[i] = &HostError{Host: h, Err: err}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ProbeEach runs fn on each host with env.Concurrency at once, like
// ForEachHost but silently and without journal records: probes only read.
func ProbeEach(ctx context.Context, env *Env, hosts []string, fn func(ctx context.Context, host string) error) error {
	return fanOut(ctx, hosts, env.Concurrency, fn)
}

// ProbePending builds a Work over targets: check returns, per host, why it
// still needs the phase ("" when it does not). Hosts are checked in
// parallel; Pending keeps the targets' order.
func ProbePending(ctx context.Context, env *Env, targets []string, check func(ctx context.Context, host string) (string, error)) (Work, error) {
	w := Work{Targets: targets, Reasons: map[string]string{}}
	var mu sync.Mutex
	err := ProbeEach(ctx, env, targets, func(ctx context.Context, host string) error {
		why, err := check(ctx, host)
		if err != nil || why == "" {
			return err
		}
		mu.Lock()
		w.Reasons[host] = why
		mu.Unlock()
		return nil
	})
	for _, h := range targets {
		if _, ok := w.Reasons[h]; ok {
			w.Pending = append(w.Pending, h)
		}
	}
	return w, err
}

// hostResults collects per-host outcomes of one phase run for the journal.
type hostResults struct {
	mu sync.Mutex
	m  map[string]*state.HostRecord
}

func (r *hostResults) set(host, status string, err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*state.HostRecord{}
	}
	rec := &state.HostRecord{Status: status, Finished: time.Now().UTC()}
	if err != nil {
		rec.Error = err.Error()
	}
	r.m[host] = rec
}

func (r *hostResults) records() map[string]*state.HostRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m
}

// PhaseError is a phase that failed. It is what `kubeha apply` prints once,
// at the end, and maps to exit code 1.
type PhaseError struct {
	Phase string
	Err   error
}

func (e *PhaseError) Error() string {
	hosts := FailedHosts(e.Err)
	if len(hosts) == 0 {
		return fmt.Sprintf("phase %s: %v", e.Phase, e.Err)
	}
	return fmt.Sprintf("phase %s failed on %d host(s):\n%v", e.Phase, len(hosts), e.Err)
}

func (e *PhaseError) Unwrap() error { return e.Err }

// ErrInterrupted means the run was cancelled (Ctrl-C, SIGTERM). The journal
// is consistent and `kubeha apply` continues where it stopped.
var ErrInterrupted = errors.New("interrupted")
