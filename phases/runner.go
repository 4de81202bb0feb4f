package phases

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/state"
)

// Selection narrows the phase list. Skip wins over Only; From starts at a
// phase and keeps the order. Unknown IDs are an error.
type Selection struct {
	Skip  []string
	Only  []string
	From  string
	Force []string
}

// Select returns the phases of all that sel keeps, in order.
func Select(all []Phase, sel Selection) ([]Phase, error) {
	known := map[string]bool{}
	var ids []string
	for _, p := range all {
		known[p.ID()] = true
		ids = append(ids, p.ID())
	}
	check := func(flag string, list []string) error {
		for _, id := range list {
			if !known[id] {
				return &UnknownPhaseError{Flag: flag, ID: id, Known: ids}
			}
		}
		return nil
	}
	if err := check("--skip-phases", sel.Skip); err != nil {
		return nil, err
	}
	if err := check("--only", sel.Only); err != nil {
		return nil, err
	}
	if err := check("--force", sel.Force); err != nil {
		return nil, err
	}
	if sel.From != "" {
		if err := check("--from", []string{sel.From}); err != nil {
			return nil, err
		}
	}
	in := func(list []string, id string) bool {
		for _, x := range list {
			if x == id {
				return true
			}
		}
		return false
	}
	var out []Phase
	started := sel.From == ""
	for _, p := range all {
		started = started || p.ID() == sel.From
		switch {
		case !started, in(sel.Skip, p.ID()), len(sel.Only) > 0 && !in(sel.Only, p.ID()):
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// UnknownPhaseError names a phase ID that is not in the registry.
type UnknownPhaseError struct {
	Flag  string
	ID    string
	Known []string
}

func (e *UnknownPhaseError) Error() string {
	return fmt.Sprintf("%s: unknown phase %q; phases are: %s", e.Flag, e.ID, strings.Join(e.Known, ", "))
}

// JournalStore persists the journal. *state.Store implements it.
type JournalStore interface {
	Save(*state.Journal) error
}

// Runner executes phases in order against one cluster.
type Runner struct {
	Phases  []Phase
	Cluster *inventory.Cluster
	Events  events.Sink
	Secrets *events.Secrets
	Hosts   Hosts
	// Facts are the hosts' facts for the run (a new FactStore per run).
	Facts *FactStore
	// ControlPlane is the run's control-plane client (controlplane.New).
	ControlPlane *controlplane.Client
	Concurrency  int
	// UploadConcurrency bounds concurrent bulk uploads (artifacts); 0 means 5.
	UploadConcurrency int
	Journal           *state.Journal
	Store             JournalStore
	// RemoveNodes lets the remove-nodes phase take out of the cluster the
	// nodes the inventory no longer lists (apply --remove-nodes): it
	// destroys, so it is never the default.
	RemoveNodes bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// jmu guards Journal while overlapping phases run.
	jmu sync.Mutex
}

// Overlapper is a phase that may run at the same time as the phase just
// before it: worker joins beside the control-plane joins, since both need
// only a finished first control-plane node and an endpoint that routes to
// ready apiservers. Each keeps its own events, journal record and errors.
type Overlapper interface {
	// Overlaps is the ID of the phase this one may run beside, when that
	// phase comes just before it in the selection.
	Overlaps() string
}

// journal runs fn on the journal under its lock and saves it.
func (r *Runner) journal(fn func(j *state.Journal)) error {
	r.jmu.Lock()
	defer r.jmu.Unlock()
	fn(r.Journal)
	return r.Store.Save(r.Journal)
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) env(p Phase) *Env { return r.envFor(p.ID()) }

// envFor is the Env of the step named id: a phase, or a step of the run
// itself such as joinCredentialsID.
func (r *Runner) envFor(id string) *Env {
	log := events.Emitter{Sink: r.Events, Phase: id}
	var cp *controlplane.Client
	if r.ControlPlane != nil {
		cp = r.ControlPlane.For(log)
	}
	var hooks []JoinHooker
	for _, p := range r.Phases {
		if h, ok := p.(JoinHooker); ok {
			hooks = append(hooks, h)
		}
	}
	return &Env{
		hooks:        hooks,
		Cluster:      r.Cluster,
		ControlPlane: cp,
		Log:          log,
		Secrets:      r.Secrets,
		Concurrency:  r.Concurrency,
		UploadConcurrency: func() int {
			if r.UploadConcurrency > 0 {
				return r.UploadConcurrency
			}
			return 5
		}(),
		Hosts:       r.Hosts,
		Facts:       r.Facts,
		results:     &hostResults{},
		RemoveNodes: r.RemoveNodes,
		Former: func() []inventory.Host {
			r.jmu.Lock()
			defer r.jmu.Unlock()
			if r.Journal == nil {
				return nil
			}
			return r.Journal.Former(r.Cluster.Spec.Hosts)
		}(),
		forget: func(name string) error {
			return r.journal(func(j *state.Journal) { j.Forget(name) })
		},
	}
}

// Apply runs the selected phases. For each: probe the hosts; skip the phase
// only when the journal records it done with the same inputs AND the probe
// finds nothing pending; otherwise run it, on the pending hosts when the
// journal vouches for the rest, else on every target (guarded scripts make
// that harmless). Forced phases always run on every target.
//
// The journal is saved before and after each phase, so an interruption at
// any point leaves it consistent: a phase cut short is recorded as running
// or interrupted and is re-run next time. A cancelled ctx returns an error
// wrapping ErrInterrupted; a failed phase returns a *PhaseError.
func (r *Runner) Apply(ctx context.Context, sel Selection) error {
	selected, err := Select(r.Phases, sel)
	if err != nil {
		return err
	}
	force := map[string]bool{}
	for _, id := range sel.Force {
		force[id] = true
	}
	runStart := time.Now()
	// An inventory that changes the etcd the cluster was built with is
	// refused before anything, the journal's hosts included, changes.
	r.jmu.Lock()
	adoptEtcdRecord(r.Cluster, r.Journal)
	err = checkEtcdUnchanged(r.Cluster, r.Journal)
	r.jmu.Unlock()
	if err != nil {
		return err
	}
	// Every host of the inventory is remembered before any phase touches
	// it: once the inventory drops it, the journal is how kubeha still
	// reaches it to take it out.
	if err := r.journal(func(j *state.Journal) { j.Remember(r.Cluster.Spec.Hosts) }); err != nil {
		return err
	}
	r.Events.Emit(events.Event{Kind: events.RunStarted, Message: fmt.Sprintf("%d phases on %d hosts", len(selected), len(r.Cluster.Spec.Hosts))})
	p, err := r.applySelected(ctx, selected, force)
	if r.ControlPlane != nil {
		// Join credentials outlive no run: whatever happened, the bootstrap
		// tokens and uploaded certificates are deleted before the run's
		// last event (a later run makes its own), after Ctrl-C too, within
		// a bounded time.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		r.envFor(joinCredentialsID).ControlPlane.Revoke(rctx)
		cancel()
	}
	if err != nil {
		r.Events.Emit(events.Event{Kind: events.RunFailed, Phase: p, Error: err.Error(), Duration: time.Since(runStart)})
		return err
	}
	r.Events.Emit(events.Event{Kind: events.RunDone, Duration: time.Since(runStart)})
	return nil
}

// applySelected runs the selected phases in order, a phase that overlaps
// the one before it beside that one, and stops at the first failure, which
// it returns with the failed phase's ID.
func (r *Runner) applySelected(ctx context.Context, selected []Phase, force map[string]bool) (string, error) {
	for i := 0; i < len(selected); i++ {
		p := selected[i]
		var err error
		if o, ok := next(selected, i).(Overlapper); ok && o.Overlaps() == p.ID() {
			q := selected[i+1]
			i++
			var errQ error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); errQ = r.applyOne(ctx, q, force[q.ID()]) }()
			err = r.applyOne(ctx, p, force[p.ID()])
			wg.Wait()
			if err == nil && errQ != nil {
				p, err = q, errQ
			} else if errQ != nil {
				err = errors.Join(err, errQ)
			}
		} else {
			err = r.applyOne(ctx, p, force[p.ID()])
		}
		if err != nil {
			return p.ID(), err
		}
	}
	return "", nil
}

// next is the phase after i in ps, or nil.
func next(ps []Phase, i int) Phase {
	if i+1 < len(ps) {
		return ps[i+1]
	}
	return nil
}

func (r *Runner) applyOne(ctx context.Context, p Phase, forced bool) error {
	id := p.ID()
	if ctx.Err() != nil {
		return fmt.Errorf("before phase %s: %w", id, ErrInterrupted)
	}
	env := r.env(p)
	hash, err := InputsHash(p, r.Cluster)
	if err != nil {
		return &PhaseError{Phase: id, Err: err}
	}
	start := time.Now()
	w, err := safeProbe(ctx, p, env)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("probing phase %s: %w", id, ErrInterrupted)
		}
		env.Log.Emit(events.Event{Kind: events.PhaseFailed, Error: "probe: " + err.Error()})
		return &PhaseError{Phase: id, Err: fmt.Errorf("probe: %w", err)}
	}
	r.jmu.Lock()
	confirmed := r.Journal.Done(id, hash)
	prev := r.Journal.Phases[id]
	wasDone := prev != nil && prev.Status == state.StatusDone
	r.jmu.Unlock()
	if len(w.Targets) == 0 {
		// No host concerns the phase (no bundle, no routes wanted, CNI
		// none): nothing to run, whatever the journal says.
		env.Log.Emit(events.Event{Kind: events.PhaseSkipped, Message: "no host needs this phase with this inventory"})
		return r.journal(func(j *state.Journal) {
			j.Phases[id] = &state.PhaseRecord{Status: state.StatusDone, InputsHash: hash, Started: r.now(), Finished: r.now()}
		})
	}
	switch {
	case forced:
		w = w.AllPending("forced")
	case confirmed && w.Done():
		env.Log.Emit(events.Event{Kind: events.PhaseSkipped, Message: "up to date: journal and hosts agree"})
		return nil
	case !confirmed:
		reason := "not recorded as done"
		if wasDone {
			reason = "inputs changed since it was done"
		}
		w = w.AllPending(reason)
	}

	rec := &state.PhaseRecord{Status: state.StatusRunning, InputsHash: hash, Started: r.now()}
	if err := r.journal(func(j *state.Journal) {
		j.Phases[id] = rec
		if _, ok := p.(EtcdMaker); ok && j.Etcd == nil {
			// From now on the etcd exists as the inventory says it.
			j.Etcd = etcdRecord(r.Cluster)
		}
	}); err != nil {
		return &PhaseError{Phase: id, Err: err}
	}
	env.Log.Emit(events.Event{Kind: events.PhaseStarted, Message: p.Title()})
	runErr := safeRun(ctx, p, env, w)
	var status string
	saveErr := r.journal(func(*state.Journal) {
		rec.Hosts = env.results.records()
		rec.Finished = r.now()
		switch {
		case runErr == nil && ctx.Err() == nil:
			rec.Status = state.StatusDone
		case ctx.Err() != nil:
			rec.Status = state.StatusInterrupted
		default:
			rec.Status = state.StatusFailed
			rec.Error = runErr.Error()
		}
		status = rec.Status
	})
	switch status {
	case state.StatusDone:
		env.Log.Emit(events.Event{Kind: events.PhaseDone, Duration: time.Since(start)})
	case state.StatusInterrupted:
		env.Log.Emit(events.Event{Kind: events.PhaseFailed, Error: "interrupted", Duration: time.Since(start), Cancelled: true})
		return fmt.Errorf("phase %s: %w", id, ErrInterrupted)
	default:
		env.Log.Emit(events.Event{Kind: events.PhaseFailed, Error: runErr.Error(), Duration: time.Since(start)})
		return &PhaseError{Phase: id, Err: runErr}
	}
	if saveErr != nil {
		return &PhaseError{Phase: id, Err: saveErr}
	}
	return nil
}

// PhasePlan is what one phase would do.
type PhasePlan struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Skip    bool     `json:"skip"`
	Why     string   `json:"why"`
	Changes []Change `json:"changes,omitempty"`
}

// Plan probes the selected phases and describes what Apply would do,
// changing nothing. Later phases often depend on earlier ones having run, so
// a phase's plan assumes the hosts as they are now.
func (r *Runner) Plan(ctx context.Context, sel Selection) ([]PhasePlan, error) {
	selected, err := Select(r.Phases, sel)
	if err != nil {
		return nil, err
	}
	if err := checkEtcdUnchanged(r.Cluster, r.Journal); err != nil {
		return nil, err
	}
	var out []PhasePlan
	for _, p := range selected {
		env := r.env(p)
		hash, err := InputsHash(p, r.Cluster)
		if err != nil {
			return nil, &PhaseError{Phase: p.ID(), Err: err}
		}
		w, err := safeProbe(ctx, p, env)
		if err != nil {
			return nil, &PhaseError{Phase: p.ID(), Err: fmt.Errorf("probe: %w", err)}
		}
		pp := PhasePlan{ID: p.ID(), Title: p.Title()}
		confirmed := r.Journal.Done(p.ID(), hash)
		switch {
		case confirmed && w.Done():
			pp.Skip, pp.Why = true, "up to date"
			out = append(out, pp)
			env.Log.Emit(events.Event{Kind: events.PhaseSkipped, Message: pp.Why})
			continue
		case !confirmed:
			w = w.AllPending("not recorded as done with these inputs")
			pp.Why = "journal does not confirm it: runs on every target host"
		default:
			pp.Why = fmt.Sprintf("%d of %d hosts have work left", len(w.Pending), len(w.Targets))
		}
		if pl, ok := p.(Planner); ok {
			pp.Changes, err = pl.Plan(ctx, env, w)
			if err != nil {
				return nil, &PhaseError{Phase: p.ID(), Err: fmt.Errorf("plan: %w", err)}
			}
		} else {
			for _, h := range w.Pending {
				pp.Changes = append(pp.Changes, Change{Host: h, What: w.Reasons[h]})
			}
		}
		for _, c := range pp.Changes {
			env.Log.ForHost(c.Host).Emit(events.Event{Kind: events.PlanChange, Message: c.What})
		}
		out = append(out, pp)
	}
	return out, nil
}

// Reset takes the hosts out of the cluster and undoes every phase: first
// TearDown of the phase that made them nodes (the kubelet stops, the pods
// go), then CleanUp of every phase that has one, in reverse order, and it
// forgets the journal. It goes on past a failing step so that as much as
// possible is undone, and returns every error. It ends by saying, per host,
// what it left as it was.
func (r *Runner) Reset(ctx context.Context) error {
	var errs []error
	step := func(p Phase, title string, do func(context.Context, *Env) error) {
		env := r.env(p)
		env.Log.Emit(events.Event{Kind: events.PhaseStarted, Message: title})
		start := time.Now()
		if err := do(ctx, env); err != nil {
			if ctx.Err() != nil {
				// Cut short, not failed: nothing to fix, and the checks
				// below end the reset as interrupted.
				env.Log.Emit(events.Event{Kind: events.PhaseFailed, Error: "interrupted", Cancelled: true})
				return
			}
			env.Log.Emit(events.Event{Kind: events.PhaseFailed, Error: err.Error()})
			errs = append(errs, &PhaseError{Phase: p.ID(), Err: err})
			return
		}
		env.Log.Emit(events.Event{Kind: events.PhaseDone, Duration: time.Since(start)})
		delete(r.Journal.Phases, p.ID())
	}
	for i := len(r.Phases) - 1; i >= 0; i-- {
		if t, ok := r.Phases[i].(TearDowner); ok {
			if ctx.Err() != nil {
				return fmt.Errorf("reset: %w", ErrInterrupted)
			}
			step(r.Phases[i], "Take the hosts out of the cluster: "+r.Phases[i].Title(), t.TearDown)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("reset: %w", ErrInterrupted)
	}
	if len(errs) > 0 {
		// While a kubelet or a pod may still run, the clean-ups would race
		// with it: stop here, say so, keep the journal as it is.
		return fmt.Errorf("%w; nothing else was undone: fix what the teardown names and run kubeha reset again", errors.Join(errs...))
	}
	for i := len(r.Phases) - 1; i >= 0; i-- {
		c, ok := r.Phases[i].(CleanerUpper)
		if !ok {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("reset: %w", ErrInterrupted)
		}
		step(r.Phases[i], "Undo: "+r.Phases[i].Title(), c.CleanUp)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("reset: %w", ErrInterrupted)
	}
	if len(errs) == 0 {
		// The cluster is gone: no host of it is kubeha's to remove any
		// more, and the next apply builds its etcd anew.
		r.Journal.Hosts = nil
		r.Journal.Etcd = nil
		env := r.envFor("reset")
		for _, h := range r.Cluster.Spec.Hosts {
			env.Log.ForHost(h.Name).Info("left on purpose: " + strings.Join(leftByReset(r.Cluster, h), "; "))
		}
	}
	if err := r.Store.Save(r.Journal); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// leftByReset names what kubeha reset leaves on host h on purpose: what
// kubeha did not make, and what it changed that only the operator should
// change back.
func leftByReset(c *inventory.Cluster, h inventory.Host) []string {
	out := []string{"packages and binaries (kubeadm, kubelet, kubectl, containerd, haproxy, keepalived, nginx: kubeha installs none from the network; a bundle's files stay for the next apply)"}
	if h.Role != inventory.RoleLoadBalancer {
		out = append(out, "container images in containerd", "the kubelet unit (inactive until kubeadm configures it again)")
		if c.Spec.CNI.Plugin == inventory.CNIManifest {
			out = append(out, "the node state of a manifest CNI other than flannel or calico (interfaces, files under /etc/cni/net.d and /var/lib/cni)")
		}
	}
	return append(out, "swap off and SELinux permissive where host-prep set them (turning them back on is the operator's call)",
		"kernel settings already applied (the sysctl file is gone, so a reboot restores the distribution's values)")
}

// InputsHash is the hash of what phase p depends on in c.
func InputsHash(p Phase, c *inventory.Cluster) (string, error) {
	var in any = c.Spec
	if ih, ok := p.(InputHasher); ok {
		in = ih.Inputs(c)
	}
	data, err := json.Marshal(struct {
		Phase  string
		Inputs any
	}{p.ID(), in})
	if err != nil {
		return "", fmt.Errorf("hash inputs: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8]), nil
}

// safeProbe and safeRun turn a panic in a phase into an error that names
// the phase, so a bug is reported like any failure (and the journal is
// saved) instead of as a stack trace. Panics in a phase's own goroutines
// are not caught here.
func safeProbe(ctx context.Context, p Phase, env *Env) (w Work, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in phase %s probe (please report it): %v", p.ID(), r)
		}
	}()
	return p.Probe(ctx, env)
}

func safeRun(ctx context.Context, p Phase, env *Env, w Work) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in phase %s (please report it): %v", p.ID(), r)
		}
	}()
	return p.Run(ctx, env, w)
}

// joinCredentialsID names, in events, the deletion of join credentials at
// the end of a run.
const joinCredentialsID = "join-credentials"
