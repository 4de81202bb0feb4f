package phases

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/state"
)

// world is the fake hosts' state shared by fake phases: which phase has
// been applied on which host. Probes read it, runs write it, like real
// phases read and write real hosts.
type world struct {
	mu      sync.Mutex
	applied map[string]map[string]bool // phase -> host -> done
	log     []string                   // "phase/host" in the order runs happened
}

func newWorld() *world { return &world{applied: map[string]map[string]bool{}} }

func (w *world) done(phase, host string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied[phase][host]
}

func (w *world) apply(phase, host string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.applied[phase] == nil {
		w.applied[phase] = map[string]bool{}
	}
	w.applied[phase][host] = true
	w.log = append(w.log, phase+"/"+host)
}

func (w *world) runs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

type fakePhase struct {
	id     string
	w      *world
	hosts  []string
	failOn map[string]error                             // host -> error on Run
	hook   func(ctx context.Context, host string) error // runs before applying
}

var _ Phase = (*fakePhase)(nil)

func (f *fakePhase) ID() string    { return f.id }
func (f *fakePhase) Title() string { return "Fake " + f.id }

func (f *fakePhase) Probe(ctx context.Context, env *Env) (Work, error) {
	w := Work{Targets: f.hosts, Reasons: map[string]string{}}
	for _, h := range f.hosts {
		if !f.w.done(f.id, h) {
			w.Pending = append(w.Pending, h)
			w.Reasons[h] = "not applied"
		}
	}
	return w, nil
}

func (f *fakePhase) Run(ctx context.Context, env *Env, w Work) error {
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, h string) error {
		if f.hook != nil {
			if err := f.hook(ctx, h); err != nil {
				return err
			}
		}
		if err := f.failOn[h]; err != nil {
			return err
		}
		if f.w.done(f.id, h) {
			return nil // guarded, like a real remote script
		}
		f.w.apply(f.id, h)
		return nil
	})
}

type memStore struct {
	saves int
	last  []byte
}

func (m *memStore) Save(j *state.Journal) error {
	m.saves++
	m.last = []byte(fmt.Sprint(len(j.Phases)))
	return nil
}

func testCluster() *inventory.Cluster {
	c := &inventory.Cluster{Metadata: inventory.Metadata{Name: "t"}}
	for _, h := range []string{"m1", "m2", "w1"} {
		c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: h})
	}
	return c
}

func fakes(w *world, ids ...string) []Phase {
	var out []Phase
	for _, id := range ids {
		out = append(out, &fakePhase{id: id, w: w, hosts: []string{"m1", "m2", "w1"}})
	}
	return out
}

func newRunner(ps []Phase, j *state.Journal, rec *events.Recorder) *Runner {
	if j == nil {
		j = &state.Journal{Phases: map[string]*state.PhaseRecord{}}
	}
	return &Runner{Phases: ps, Cluster: testCluster(), Events: rec, Concurrency: 2, Journal: j, Store: &memStore{}}
}

func phaseOrder(runs []string) []string {
	var out []string
	for _, r := range runs {
		p, _, _ := strings.Cut(r, "/")
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}

func TestSelect(t *testing.T) {
	all := fakes(newWorld(), "a", "b", "c", "d")
	tests := []struct {
		name    string
		sel     Selection
		want    []string
		wantErr string
	}{
		{"all", Selection{}, []string{"a", "b", "c", "d"}, ""},
		{"skip", Selection{Skip: []string{"b", "d"}}, []string{"a", "c"}, ""},
		{"only keeps order", Selection{Only: []string{"c", "a"}}, []string{"a", "c"}, ""},
		{"skip wins over only", Selection{Only: []string{"a", "b"}, Skip: []string{"b"}}, []string{"a"}, ""},
		{"from", Selection{From: "c"}, []string{"c", "d"}, ""},
		{"from and skip", Selection{From: "b", Skip: []string{"c"}}, []string{"b", "d"}, ""},
		{"unknown skip", Selection{Skip: []string{"x"}}, nil, `--skip-phases: unknown phase "x"; phases are: a, b, c, d`},
		{"unknown only", Selection{Only: []string{"y"}}, nil, "--only: unknown phase"},
		{"unknown from", Selection{From: "z"}, nil, "--from: unknown phase"},
		{"unknown force", Selection{Force: []string{"q"}}, nil, "--force: unknown phase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(all, tt.sel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range got {
				ids = append(ids, p.ID())
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Fatalf("got %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestApplyRunsInOrderAndRecords(t *testing.T) {
	w := newWorld()
	var rec events.Recorder
	r := newRunner(fakes(w, "a", "b", "c"), nil, &rec)
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	if got := phaseOrder(w.runs()); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("order %v", got)
	}
	for _, id := range []string{"a", "b", "c"} {
		pr := r.Journal.Phases[id]
		if pr == nil || pr.Status != state.StatusDone || len(pr.Hosts) != 3 {
			t.Fatalf("journal for %s: %+v", id, pr)
		}
	}
	// A second run changes nothing and says so.
	before := len(w.runs())
	rec2 := &events.Recorder{}
	r.Events = rec2
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	if len(w.runs()) != before {
		t.Fatalf("second apply did work: %v", w.runs()[before:])
	}
	skipped := 0
	for _, e := range rec2.Events() {
		if e.Kind == events.PhaseSkipped {
			skipped++
		}
	}
	if skipped != 3 {
		t.Fatalf("want 3 skipped events, got %d", skipped)
	}
}

func TestFailureInTheMiddleThenResume(t *testing.T) {
	w := newWorld()
	ps := fakes(w, "a", "b", "c")
	boom := errors.New("disk full")
	ps[1].(*fakePhase).failOn = map[string]error{"m2": boom}
	var rec events.Recorder
	r := newRunner(ps, nil, &rec)
	err := r.Apply(context.Background(), Selection{})
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "b" || !errors.Is(err, boom) {
		t.Fatalf("want PhaseError for b wrapping boom, got %v", err)
	}
	if got := FailedHosts(err); !reflect.DeepEqual(got, []string{"m2"}) {
		t.Fatalf("failed hosts %v", got)
	}
	if !strings.Contains(err.Error(), "m2: disk full") {
		t.Fatalf("error does not name the host: %v", err)
	}
	if w.done("c", "m1") {
		t.Fatal("phase c ran after b failed")
	}
	// The other hosts of b were still attempted and recorded.
	if !w.done("b", "m1") || !w.done("b", "w1") {
		t.Fatal("a failure on one host stopped the others")
	}
	if st := r.Journal.Phases["b"]; st.Status != state.StatusFailed || st.Hosts["m2"].Status != state.StatusFailed || st.Hosts["m1"].Status != state.StatusDone {
		t.Fatalf("journal for b: %+v", st)
	}

	// Fix the fault and resume: a is skipped, b finishes, c runs.
	ps[1].(*fakePhase).failOn = nil
	before := len(w.runs())
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	got := w.runs()[before:]
	want := []string{"b/m2", "c/m1", "c/m2", "c/w1"}
	if !sameSet(got, want) {
		t.Fatalf("resume did %v, want %v", got, want)
	}
	for _, r := range got {
		if strings.HasPrefix(r, "a/") {
			t.Fatal("resume re-applied phase a")
		}
	}
}

func TestJournalAloneDoesNotSkip(t *testing.T) {
	// The journal says done, but a host lost the work (rebuilt machine):
	// the probe wins and only that host is redone.
	w := newWorld()
	ps := fakes(w, "a")
	r := newRunner(ps, nil, &events.Recorder{})
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	delete(w.applied["a"], "m2")
	w.mu.Unlock()
	before := len(w.runs())
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	if got := w.runs()[before:]; !reflect.DeepEqual(got, []string{"a/m2"}) {
		t.Fatalf("got %v, want only a/m2", got)
	}
}

func TestChangedInputsRerunOnAllTargets(t *testing.T) {
	w := newWorld()
	ps := fakes(w, "a")
	var calls []string
	var mu sync.Mutex
	ps[0].(*fakePhase).hook = func(_ context.Context, h string) error {
		mu.Lock()
		calls = append(calls, h)
		mu.Unlock()
		return nil
	}
	r := newRunner(ps, nil, &events.Recorder{})
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	calls = nil
	r.Cluster.Spec.Network.PodSubnet = "10.1.0.0/16"
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	if !sameSet(calls, []string{"m1", "m2", "w1"}) {
		t.Fatalf("changed inputs should run every target, ran %v", calls)
	}
}

func TestForceRerunsADonePhase(t *testing.T) {
	w := newWorld()
	ps := fakes(w, "a", "b")
	ran := 0
	ps[1].(*fakePhase).hook = func(context.Context, string) error { ran++; return nil }
	r := newRunner(ps, nil, &events.Recorder{})
	r.Concurrency = 1
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	ran = 0
	if err := r.Apply(context.Background(), Selection{Force: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if ran != 3 {
		t.Fatalf("forced phase ran on %d hosts, want 3", ran)
	}
}

func TestCancellationLeavesJournalConsistent(t *testing.T) {
	w := newWorld()
	ps := fakes(w, "a", "b", "c")
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel while phase b works on its first host.
	ps[1].(*fakePhase).hook = func(ctx context.Context, h string) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	store := &memStore{}
	r := newRunner(ps, nil, &events.Recorder{})
	r.Store = store
	err := r.Apply(ctx, Selection{})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("want ErrInterrupted, got %v", err)
	}
	if got := r.Journal.Phases["b"].Status; got != state.StatusInterrupted {
		t.Fatalf("b recorded as %s", got)
	}
	if r.Journal.Phases["c"] != nil {
		t.Fatal("c started after cancellation")
	}
	if r.Journal.Phases["a"].Status != state.StatusDone {
		t.Fatal("a lost its done record")
	}
	// Resume with a live context completes b and c and leaves a alone.
	ps[1].(*fakePhase).hook = nil
	before := len(w.runs())
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	for _, run := range w.runs()[before:] {
		if strings.HasPrefix(run, "a/") {
			t.Fatalf("resume redid %s", run)
		}
	}
	if !w.done("c", "w1") || !w.done("b", "m1") {
		t.Fatal("resume did not finish")
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	var mu sync.Mutex
	cur, peak := 0, 0
	hosts := make([]string, 50)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d", i)
	}
	env := &Env{Concurrency: 7, Log: events.Emitter{Sink: events.Discard}, results: &hostResults{}}
	gate := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			gate <- struct{}{}
		}
	}()
	err := ForEachHost(context.Background(), env, hosts, 0, func(ctx context.Context, h string) error {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		<-gate
		mu.Lock()
		cur--
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if peak > 7 || peak < 2 {
		t.Fatalf("peak concurrency %d, want 2..7", peak)
	}
}

func TestPlanChangesNothing(t *testing.T) {
	w := newWorld()
	var rec events.Recorder
	r := newRunner(fakes(w, "a", "b"), nil, &rec)
	plan, err := r.Plan(context.Background(), Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.runs()) != 0 {
		t.Fatal("plan ran something")
	}
	if len(plan) != 2 || len(plan[0].Changes) != 3 || plan[0].Changes[0].Host != "m1" {
		t.Fatalf("plan %+v", plan)
	}
}

func TestResetRunsCleanUpInReverse(t *testing.T) {
	w := newWorld()
	var order []string
	ps := []Phase{
		&cleanPhase{fakePhase{id: "a", w: w}, &order},
		&fakePhase{id: "b", w: w},
		&cleanPhase{fakePhase{id: "c", w: w}, &order},
	}
	r := newRunner(ps, nil, &events.Recorder{})
	r.Journal.Phases["a"] = &state.PhaseRecord{Status: state.StatusDone}
	if err := r.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(order, []string{"c", "a"}) {
		t.Fatalf("cleanup order %v", order)
	}
	if r.Journal.Phases["a"] != nil {
		t.Fatal("journal kept a cleaned-up phase")
	}
}

// TestResetTearsDownFirst: the phase that made the hosts nodes is torn
// down (kubeadm reset) before any phase's CleanUp, later phases' included,
// because until the kubelet stops it recreates what they remove.
func TestResetTearsDownFirst(t *testing.T) {
	w := newWorld()
	var order []string
	ps := []Phase{
		&cleanPhase{fakePhase{id: "prep", w: w}, &order},
		&tearPhase{cleanPhase{fakePhase{id: "init", w: w}, &order}, nil},
		&cleanPhase{fakePhase{id: "cni", w: w}, &order},
	}
	r := newRunner(ps, nil, &events.Recorder{})
	if err := r.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"teardown init", "cni", "init", "prep"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("reset order %v, want %v", order, want)
	}
}

// TestResetStopsWhenTearDownFails: with a kubelet or pod possibly still
// running, no CleanUp may race with it; the error says what to do.
func TestResetStopsWhenTearDownFails(t *testing.T) {
	w := newWorld()
	var order []string
	ps := []Phase{
		&cleanPhase{fakePhase{id: "prep", w: w}, &order},
		&tearPhase{cleanPhase{fakePhase{id: "init", w: w}, &order}, errors.New("m1: pod containers still running")},
		&cleanPhase{fakePhase{id: "cni", w: w}, &order},
	}
	r := newRunner(ps, nil, &events.Recorder{})
	err := r.Reset(context.Background())
	if err == nil || !strings.HasSuffix(err.Error(), "nothing else was undone: fix what the teardown names and run kubeha reset again") {
		t.Fatalf("err %v", err)
	}
	if want := []string{"teardown init"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("reset order %v, want %v", order, want)
	}
}

type tearPhase struct {
	cleanPhase
	err error
}

func (p *tearPhase) TearDown(ctx context.Context, env *Env) error {
	*p.order = append(*p.order, "teardown "+p.id)
	return p.err
}

type cleanPhase struct {
	fakePhase
	order *[]string
}

func (c *cleanPhase) CleanUp(ctx context.Context, env *Env) error {
	*c.order = append(*c.order, c.id)
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestFailedHostsListsEveryHost(t *testing.T) {
	err := errors.Join(&HostError{Host: "a", Err: errors.New("x")}, &HostError{Host: "b", Err: errors.New("b: y")})
	if got := FailedHosts(err); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("got %v", got)
	}
	if msg := err.Error(); strings.Count(msg, "b: ") != 1 {
		t.Fatalf("host named twice: %q", msg)
	}
	// Inside a PhaseError, as Apply returns it: every host still.
	if got := FailedHosts(&PhaseError{Phase: "facts", Err: err}); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("through a PhaseError: got %v", got)
	}
}

// noTargets is a phase that concerns no host with this inventory; its Run
// must never be called (it would fail, like a phase with no config).
type noTargets struct{ ran bool }

func (*noTargets) ID() string    { return "none" }
func (*noTargets) Title() string { return "No targets" }
func (*noTargets) Probe(context.Context, *Env) (Work, error) {
	return Work{Reasons: map[string]string{}}, nil
}
func (n *noTargets) Run(context.Context, *Env, Work) error { n.ran = true; panic("Run called") }

func TestPhaseWithoutTargetsIsNotRun(t *testing.T) {
	p := &noTargets{}
	var rec events.Recorder
	r := newRunner([]Phase{p}, nil, &rec)
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	if p.ran || r.Journal.Phases["none"].Status != state.StatusDone {
		t.Fatalf("ran=%v journal=%+v", p.ran, r.Journal.Phases["none"])
	}
}

type panicky struct{ fakePhase }

func (*panicky) Run(context.Context, *Env, Work) error { panic("boom") }

func TestPanicInAPhaseIsAnError(t *testing.T) {
	w := newWorld()
	p := &panicky{fakePhase{id: "p", w: w, hosts: []string{"m1"}}}
	r := newRunner([]Phase{p}, nil, &events.Recorder{})
	err := r.Apply(context.Background(), Selection{})
	var pe *PhaseError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "internal error in phase p") {
		t.Fatalf("want a PhaseError naming the phase, got %v", err)
	}
	if r.Journal.Phases["p"].Status != state.StatusFailed {
		t.Fatalf("journal %+v", r.Journal.Phases["p"])
	}
}

// overlapping is a fake phase that may run beside the phase named after.
type overlapping struct {
	*fakePhase
	after string
}

func (o overlapping) Overlaps() string { return o.after }

// A phase that overlaps the one before it runs at the same time: here each
// waits for the other to have started, which would deadlock (and time out)
// if they ran one after the other. Both are journaled; the overlapping
// one's failure is the run's error.
func TestOverlappingPhasesRunTogether(t *testing.T) {
	w := newWorld()
	started := map[string]chan struct{}{"cp": make(chan struct{}), "workers": make(chan struct{})}
	var once sync.Map
	waitFor := func(me, other string) func(ctx context.Context, host string) error {
		return func(ctx context.Context, host string) error {
			if _, loaded := once.LoadOrStore(me, true); !loaded {
				close(started[me])
			}
			select {
			case <-started[other]:
				return nil
			case <-time.After(10 * time.Second):
				return fmt.Errorf("%s: %s never started alongside", me, other)
			}
		}
	}
	cp := &fakePhase{id: "cp", w: w, hosts: []string{"m2"}, hook: waitFor("cp", "workers")}
	workers := &fakePhase{id: "workers", w: w, hosts: []string{"w1"}, hook: waitFor("workers", "cp"),
		failOn: map[string]error{"w1": errors.New("w1 powered off")}}
	rec := &events.Recorder{}
	r := newRunner([]Phase{fakes(w, "init")[0], cp, overlapping{workers, "cp"}, fakes(w, "verify")[0]}, nil, rec)
	err := r.Apply(context.Background(), Selection{})
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "workers" || !strings.Contains(err.Error(), "w1 powered off") {
		t.Fatalf("want the workers phase's error, got %v", err)
	}
	if st := r.Journal.Phases["cp"]; st == nil || st.Status != state.StatusDone {
		t.Fatalf("cp: %+v", st)
	}
	if st := r.Journal.Phases["workers"]; st == nil || st.Status != state.StatusFailed {
		t.Fatalf("workers: %+v", st)
	}
	if w.done("verify", "m1") {
		t.Fatal("verify ran after a failed phase")
	}
	// Not beside the phase it names (here: cp skipped): it runs alone,
	// after the phase before it.
	w2 := newWorld()
	order := []Phase{fakes(w2, "init")[0], overlapping{fakes(w2, "workers")[0].(*fakePhase), "cp"}}
	if err := newRunner(order, nil, &events.Recorder{}).Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	if got := phaseOrder(w2.runs()); !reflect.DeepEqual(got, []string{"init", "workers"}) {
		t.Fatalf("order %v", got)
	}
}

// failures is what recorded events say failed: kind, phase, host, and
// whether the event marks the step as cancelled rather than failed.
func failures(rec *events.Recorder) []string {
	var out []string
	for _, e := range rec.Events() {
		if e.Kind == events.HostFailed || e.Kind == events.PhaseFailed {
			out = append(out, fmt.Sprintf("%s %s %s cancelled=%v", e.Kind, e.Phase, e.Host, e.Cancelled))
		}
	}
	return out
}

// TestCancelledStepsAreNotFailures: a host step that ends in error because
// the run was cancelled (Ctrl-C) is reported and recorded as cut short,
// not as that host's failure; a step that fails on its own, or runs out of
// a deadline, is a failure as before.
func TestCancelledStepsAreNotFailures(t *testing.T) {
	var busy atomic.Int32
	tests := []struct {
		name string
		// hook runs on each host of phase b; cancel cancels the run.
		hook         func(ctx context.Context, host string, cancel func()) error
		wantErr      string
		wantFailures []string
		wantHosts    map[string]string // journal: host -> status in phase b
	}{
		{
			name: "Ctrl-C while every host is busy",
			hook: func(ctx context.Context, _ string, cancel func()) error {
				// The last host to start presses Ctrl-C, so that all
				// three are in their step when it comes.
				if busy.Add(1) == 3 {
					cancel()
				}
				<-ctx.Done()
				return fmt.Errorf("kubeadm join cut short: %w", ctx.Err())
			},
			wantErr: "phase b: interrupted",
			wantFailures: []string{
				"host-failed b m1 cancelled=true", "host-failed b m2 cancelled=true", "host-failed b w1 cancelled=true",
				"phase-failed b  cancelled=true",
			},
			wantHosts: map[string]string{"m1": state.StatusInterrupted, "m2": state.StatusInterrupted, "w1": state.StatusInterrupted},
		},
		{
			name: "a host fails on its own",
			hook: func(_ context.Context, h string, _ func()) error {
				if h == "m2" {
					return errors.New("kubeadm join exited 1")
				}
				return nil
			},
			wantErr:      "phase b failed on 1 host(s):\nm2: kubeadm join exited 1",
			wantFailures: []string{"host-failed b m2 cancelled=false", "phase-failed b  cancelled=false"},
			wantHosts:    map[string]string{"m1": state.StatusDone, "m2": state.StatusFailed, "w1": state.StatusDone},
		},
		{
			name: "a host's own deadline runs out",
			hook: func(ctx context.Context, h string, _ func()) error {
				if h != "w1" {
					return nil
				}
				dctx, stop := context.WithTimeout(ctx, time.Millisecond)
				defer stop()
				<-dctx.Done()
				return fmt.Errorf("wait for the kubelet: %w", dctx.Err())
			},
			wantErr:      "phase b failed on 1 host(s):\nw1: wait for the kubelet: context deadline exceeded",
			wantFailures: []string{"host-failed b w1 cancelled=false", "phase-failed b  cancelled=false"},
			wantHosts:    map[string]string{"m1": state.StatusDone, "m2": state.StatusDone, "w1": state.StatusFailed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			ps := fakes(w, "a", "b")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ps[1].(*fakePhase).hook = func(ctx context.Context, h string) error { return tt.hook(ctx, h, cancel) }
			var rec events.Recorder
			r := newRunner(ps, nil, &rec)
			r.Concurrency = 3
			err := r.Apply(ctx, Selection{})
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if got := failures(&rec); !sameSet(got, tt.wantFailures) {
				t.Errorf("failures %q, want %q", got, tt.wantFailures)
			}
			got := map[string]string{}
			for h, hr := range r.Journal.Phases["b"].Hosts {
				got[h] = hr.Status
			}
			if !reflect.DeepEqual(got, tt.wantHosts) {
				t.Errorf("journal hosts %v, want %v", got, tt.wantHosts)
			}
		})
	}
}

// cancellingTear is a teardown cut short by Ctrl-C.
type cancellingTear struct {
	cleanPhase
	cancel func()
}

func (p *cancellingTear) TearDown(ctx context.Context, env *Env) error {
	*p.order = append(*p.order, "teardown "+p.id)
	p.cancel()
	return fmt.Errorf("m1: kubeadm reset: %w", ctx.Err())
}

// TestResetInterruptedDuringTearDown: Ctrl-C during the teardown ends the
// reset as interrupted, with the step shown as cancelled; it is not a
// failed teardown with something to fix, and nothing is cleaned up after.
func TestResetInterruptedDuringTearDown(t *testing.T) {
	w := newWorld()
	var order []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps := []Phase{
		&cleanPhase{fakePhase{id: "prep", w: w}, &order},
		&cancellingTear{cleanPhase{fakePhase{id: "init", w: w}, &order}, cancel},
		&cleanPhase{fakePhase{id: "cni", w: w}, &order},
	}
	var rec events.Recorder
	r := newRunner(ps, nil, &rec)
	err := r.Reset(ctx)
	if err == nil || err.Error() != "reset: interrupted" || !errors.Is(err, ErrInterrupted) {
		t.Fatalf("error %v, want reset: interrupted", err)
	}
	if want := []string{"phase-failed init  cancelled=true"}; !reflect.DeepEqual(failures(&rec), want) {
		t.Errorf("failures %q, want %q", failures(&rec), want)
	}
	if want := []string{"teardown init"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("reset order %v, want %v", order, want)
	}
}
