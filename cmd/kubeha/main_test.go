package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/state"
	"github.com/kubeha/kubeha/tui"
)

// step is a fake phase that records its runs in a shared log and can be
// told to fail or to block until cancelled.
type step struct {
	id      string
	mu      *sync.Mutex
	applied map[string]bool // host -> applied, shared across runs
	log     *[]string
	fail    string // host to fail on
	block   bool   // block until ctx ends
	blocked int    // hosts blocking now, under mu
	secret  string // emitted in output after registering it
}

func (s *step) ID() string    { return s.id }
func (s *step) Title() string { return "Step " + s.id }
func (s *step) Probe(ctx context.Context, env *phases.Env) (phases.Work, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := phases.Work{Targets: env.Cluster.HostNames(), Reasons: map[string]string{}}
	for _, h := range w.Targets {
		if !s.applied[s.id+"/"+h] {
			w.Pending = append(w.Pending, h)
			w.Reasons[h] = "missing"
		}
	}
	return w, nil
}

func (s *step) Run(ctx context.Context, env *phases.Env, w phases.Work) error {
	return phases.ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, h string) error {
		if s.secret != "" {
			env.Secrets.Add(s.secret)
			env.Log.ForHost(h).Line("stdout", "joining with token "+s.secret)
		}
		if s.block {
			s.mu.Lock()
			s.blocked++
			s.mu.Unlock()
			<-ctx.Done()
			return ctx.Err()
		}
		if h == s.fail {
			return errors.New("kubeadm join exited 1")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.applied[s.id+"/"+h] {
			s.applied[s.id+"/"+h] = true
			*s.log = append(*s.log, s.id+"/"+h)
		}
		return nil
	})
}

type harness struct {
	t       *testing.T
	dir     string
	inv     string
	steps   []*step
	log     []string
	applied map[string]bool
	mu      sync.Mutex
}

func newHarness(t *testing.T, ids ...string) *harness {
	h := &harness{t: t, dir: t.TempDir(), applied: map[string]bool{}}
	h.inv = filepath.Join(h.dir, "kubeha.yaml")
	if err := os.WriteFile(h.inv, inventory.Example, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		h.steps = append(h.steps, &step{id: id, mu: &h.mu, applied: h.applied, log: &h.log})
	}
	return h
}

// useExample makes examples/name the harness's inventory.
func (h *harness) useExample(name string) {
	h.t.Helper()
	example, err := os.ReadFile(filepath.Join("../../examples", name))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.inv, example, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) app() *app {
	return &app{
		terminal: tui.Terminal{},
		registry: func() []phases.Phase {
			out := make([]phases.Phase, len(h.steps))
			for i, s := range h.steps {
				out[i] = s
			}
			return out
		},
		connect: func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
			return nil, nil, nil
		},
	}
}

func (h *harness) run(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	args = append(args, "-i", h.inv, "--state-dir", filepath.Join(h.dir, "state"))
	code := run(ctx, args, strings.NewReader(""), &out, &errb, h.app())
	return code, out.String(), errb.String()
}

func TestExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 6 {
		t.Fatalf("want an example per load-balancer setup, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"inventory", "validate", "-i", f}, nil, &out, &errb, defaultApp())
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
		})
	}
}

func TestBrokenInventoriesExit2NamingThePath(t *testing.T) {
	files, _ := filepath.Glob("../../inventory/testdata/broken/*.yaml")
	if len(files) == 0 {
		t.Fatal("no broken inventories")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			want := strings.TrimPrefix(strings.SplitN(string(data), "\n", 2)[0], "# want: ")
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"inventory", "validate", "-i", f}, nil, &out, &errb, defaultApp())
			if code != exitUsage {
				t.Fatalf("exit %d, want 2", code)
			}
			if !strings.Contains(errb.String(), "  "+want+": ") {
				t.Fatalf("stderr does not name %s:\n%s", want, errb.String())
			}
		})
	}
}

func TestApplyJSONLinesParse(t *testing.T) {
	h := newHarness(t, "a", "b")
	code, out, errs := h.run(context.Background(), "apply", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	kinds := map[events.Kind]int{}
	for _, l := range lines {
		var e events.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		if e.Time.IsZero() {
			t.Fatalf("event without time: %q", l)
		}
		kinds[e.Kind]++
	}
	if kinds[events.PhaseDone] != 2 || kinds[events.HostDone] != 12 || kinds[events.RunDone] != 1 {
		t.Fatalf("event counts %v", kinds)
	}
}

func TestPlainFoldsUnlessVerbose(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOK  int // per-host done lines
		summary []string
	}{
		{"folded", nil, 0, []string{"phase a: 6 done", "phase b: 5 done, 1 failed (k4)", "  k4: kubeadm join exited 1", "[b] k4: FAILED: kubeadm join exited 1"}},
		{"-v", []string{"-v"}, 11, []string{"phase a: 6 done", "phase b: 5 done, 1 failed (k4)", "[b] k4: FAILED: kubeadm join exited 1"}},
		{"--verbose", []string{"--verbose"}, 11, []string{"phase b: 5 done, 1 failed (k4)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "a", "b")
			h.steps[1].fail = "k4"
			code, out, errs := h.run(context.Background(), append([]string{"apply", "--output", "plain"}, tt.args...)...)
			if code != exitFailed {
				t.Fatalf("exit %d, want 1: %s", code, errs)
			}
			out = duration.ReplaceAllString(out, "")
			if n := strings.Count(out, ": ok\n"); n != tt.wantOK {
				t.Errorf("%d per-host done lines, want %d:\n%s", n, tt.wantOK, out)
			}
			for _, l := range tt.summary {
				if !hasLine(out, l) {
					t.Errorf("lacks the line %q:\n%s", l, out)
				}
			}
		})
	}
}

func TestFailureThenResumeAndJournalMode(t *testing.T) {
	h := newHarness(t, "a", "b", "c")
	h.steps[1].fail = "k4"
	code, out, errs := h.run(context.Background(), "apply", "--output", "plain")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1", code)
	}
	if strings.Count(errs, "kubeadm join exited 1") != 1 || !strings.Contains(errs, "phase b") || !strings.Contains(errs, "k4") {
		t.Fatalf("the error must be printed once with phase and host:\n%s", errs)
	}
	if !strings.Contains(out, "[b] k4: FAILED") {
		t.Fatalf("plain output lacks the failed host:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(h.dir, "state", "prod", "state.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal: %v %v", err, fi)
	}
	h.steps[1].fail = ""
	before := len(h.log)
	code, out, errs = h.run(context.Background(), "apply", "--output", "plain")
	if code != 0 {
		t.Fatalf("resume exit %d: %s", code, errs)
	}
	for _, r := range h.log[before:] {
		if strings.HasPrefix(r, "a/") || (strings.HasPrefix(r, "b/") && r != "b/k4") {
			t.Fatalf("resume redid %s", r)
		}
	}
	if !strings.Contains(out, "--- [a] skipped") {
		t.Fatalf("resume should say a was skipped:\n%s", out)
	}
	var j state.Journal
	data, _ := os.ReadFile(filepath.Join(h.dir, "state", "prod", "state.json"))
	json.Unmarshal(data, &j)
	for _, id := range []string{"a", "b", "c"} {
		if j.Phases[id] == nil || j.Phases[id].Status != state.StatusDone {
			t.Fatalf("journal after resume: %s", data)
		}
	}
}

func TestSelectionFlagsAndPhaseCommand(t *testing.T) {
	h := newHarness(t, "a", "b", "c")
	if code, _, errs := h.run(context.Background(), "apply", "--skip-phases", "nope"); code != exitUsage || !strings.Contains(errs, `unknown phase "nope"`) {
		t.Fatalf("unknown phase: exit %d %s", code, errs)
	}
	if code, _, errs := h.run(context.Background(), "phase", "b", "--output", "plain"); code != 0 {
		t.Fatalf("phase b: %d %s", code, errs)
	}
	for _, r := range h.log {
		if !strings.HasPrefix(r, "b/") {
			t.Fatalf("phase b ran %s", r)
		}
	}
	if code, _, _ := h.run(context.Background(), "apply", "--concurrency", "0"); code != exitUsage {
		t.Fatalf("--concurrency 0: exit %d", code)
	}
	if code, _, _ := h.run(context.Background(), "apply", "--no-such-flag"); code != exitUsage {
		t.Fatalf("bad flag: exit %d", code)
	}
	// The installer without a terminal says what to do instead.
	if code, _, stderr := h.run(context.Background(), "tui"); code != exitUsage || !strings.Contains(stderr, "kubeha inventory init") {
		t.Fatalf("tui without a terminal: exit %d, %q", code, stderr)
	}
}

func TestLockContention(t *testing.T) {
	h := newHarness(t, "a")
	s, err := state.Open(filepath.Join(h.dir, "state"), "prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, _, errs := h.run(context.Background(), "apply")
	if code != exitFailed || !strings.Contains(errs, "holds") || !strings.Contains(errs, "lock") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if len(h.log) != 0 {
		t.Fatal("a run went ahead without the lock")
	}
}

func TestInterruptExits3AndResumes(t *testing.T) {
	h := newHarness(t, "a", "b")
	h.steps[1].block = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var code int
	var errs string
	go func() { code, _, errs = h.run(ctx, "apply", "--output", "plain"); close(done) }()
	// Wait for phase a to finish and b to start blocking, then "Ctrl-C".
	for {
		h.mu.Lock()
		n := len(h.log)
		h.mu.Unlock()
		if n == 6 { // phase a done on all six hosts
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if code != exitInterrupted || !strings.Contains(errs, "run the same command again") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	h.steps[1].block = false
	if code, _, errs := h.run(context.Background(), "apply"); code != 0 {
		t.Fatalf("resume: %d %s", code, errs)
	}
}

// TestInterruptReadsAsCancelled: Ctrl-C while every host is in a step
// prints no host as FAILED; the plain output says which hosts were cut
// short and that the phase was cancelled, and stderr says once that the
// run was interrupted and how to go on. Durations are left out of the
// comparison.
func TestInterruptReadsAsCancelled(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut []string
	}{
		{name: "folded", args: []string{"apply", "--output", "plain"}, wantOut: []string{
			"kubeha: 2 phases on 6 hosts",
			"==> [a] Step a",
			"phase a: 6 done",
			"<== [a] done",
			"==> [b] Step b",
			"phase b: 0 done, 6 cancelled (k1, k2, k3, k4, k5, k6)",
			"<== [b] cancelled",
		}},
		{name: "with -v", args: []string{"apply", "--output", "plain", "-v"}, wantOut: []string{
			"kubeha: 2 phases on 6 hosts",
			"==> [a] Step a",
			"[a] k1: ok", "[a] k2: ok", "[a] k3: ok", "[a] k4: ok", "[a] k5: ok", "[a] k6: ok",
			"phase a: 6 done",
			"<== [a] done",
			"==> [b] Step b",
			"[b] k1: cancelled", "[b] k2: cancelled", "[b] k3: cancelled",
			"[b] k4: cancelled", "[b] k5: cancelled", "[b] k6: cancelled",
			"phase b: 0 done, 6 cancelled (k1, k2, k3, k4, k5, k6)",
			"<== [b] cancelled",
		}},
	}
	duration := regexp.MustCompile(` in [0-9.]+(ns|µs|ms|s)\b`)
	hostLine := regexp.MustCompile(`^\[[a-z]+\] k[0-9]+: `)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "a", "b")
			h.steps[1].block = true
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				code      int
				out, errs string
			}
			res := make(chan result, 1)
			go func() {
				code, out, errs := h.run(ctx, tt.args...)
				res <- result{code, out, errs}
			}()
			// "Ctrl-C" once every host is in phase b's step.
			for {
				h.mu.Lock()
				n := h.steps[1].blocked
				h.mu.Unlock()
				if n == 6 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			r := <-res
			if r.code != exitInterrupted {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitInterrupted, r.errs)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(r.out, "\n"), "\n") {
				got = append(got, duration.ReplaceAllString(l, ""))
			}
			// The hosts end their steps in any order: each run of host
			// lines is compared sorted.
			for i := 0; i < len(got); {
				j := i
				for j < len(got) && hostLine.MatchString(got[j]) {
					j++
				}
				slices.Sort(got[i:j])
				i = max(j, i+1)
			}
			if !slices.Equal(got, tt.wantOut) {
				t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantOut, "\n"))
			}
			wantErr := "kubeha: phase b: interrupted\nThe journal is consistent; run the same command again to continue.\n"
			if r.errs != wantErr {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.errs, wantErr)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const token = "abcdef.0123456789abcdef"
	for _, mode := range []string{"plain", "json"} {
		h := newHarness(t, "a")
		h.steps[0].secret = token
		code, out, errs := h.run(context.Background(), "apply", "--output", mode)
		if code != 0 {
			t.Fatalf("%s: exit %d %s", mode, code, errs)
		}
		if strings.Contains(out+errs, token) || strings.Contains(out+errs, "0123456789abcdef") {
			t.Fatalf("%s output contains the token:\n%s", mode, out)
		}
		if !strings.Contains(out, "joining with token ***") {
			t.Fatalf("%s: output line missing:\n%s", mode, out)
		}
	}
}

func TestInventoryShowAndInit(t *testing.T) {
	h := newHarness(t)
	code, out, _ := h.run(context.Background(), "inventory", "show")
	if code != 0 || !strings.Contains(out, "virtualRouterID: 51") || !strings.Contains(out, "dnsDomain: cluster.local") {
		t.Fatalf("show: %d\n%s", code, out)
	}
	if code, _, errs := h.run(context.Background(), "inventory", "init"); code != exitUsage || !strings.Contains(errs, "--force") {
		t.Fatalf("init over an existing file: %d %s", code, errs)
	}
	// Forced over the file, its mode is kept; a new file is 0600.
	if code, _, errs := h.run(context.Background(), "inventory", "init", "--force"); code != 0 {
		t.Fatalf("init --force: %d %s", code, errs)
	}
	if fi, err := os.Stat(h.inv); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("init --force over a 0644 file: %v %v", fi, err)
	}
	if err := os.Remove(h.inv); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := h.run(context.Background(), "inventory", "init"); code != 0 {
		t.Fatalf("init: %d %s", code, errs)
	}
	if fi, err := os.Stat(h.inv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("init of a new file: %v %v, want mode 0600", fi, err)
	}
	if b, err := os.ReadFile(h.inv); err != nil || !bytes.Equal(b, inventory.Example) {
		t.Fatalf("init wrote %q, %v", b, err)
	}
}

// TestRenderWithNothingToWrite: an inventory whose hosts get no rendered
// file (no load balancer) says so and exits 0. What render must never
// write outside DIR is TestRenderNeverWritesOutsideDir's.
func TestRenderWithNothingToWrite(t *testing.T) {
	h := newHarness(t, "a")
	out := filepath.Join(h.dir, "rendered")
	code, stdout, errs := h.run(context.Background(), "render", "-o", out)
	if code != 0 || !slices.Contains(strings.Split(stdout, "\n"), "rendered 0 files for 6 hosts into "+out) {
		t.Fatalf("render: %d %s %s", code, stdout, errs)
	}
}

// TestRenderNeverWritesOutsideDir plants symlinks in DIR that point out of
// it (issue 14): render must refuse them, write nothing outside, and leave
// no temporary files behind; a link to a file is replaced, not followed.
func TestRenderNeverWritesOutsideDir(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "kubeha.yaml")
	if err := os.WriteFile(inv, inventory.Example, 0o644); err != nil {
		t.Fatal(err)
	}
	render := func(out string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"render", "-i", inv, "-o", out}, nil, &stdout, &stderr, defaultApp())
		return code, stdout.String() + stderr.String()
	}
	empty := func(t *testing.T, dir string) {
		t.Helper()
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			t.Errorf("written outside DIR: %s", filepath.Join(dir, e.Name()))
		}
	}
	for _, tc := range []struct {
		name string
		link string // inside DIR, a symlink to a directory outside
	}{
		{"host directory", "k1"},
		{"nested directory", "k2/etc"},
		{"deep directory", "k3/etc/keepalived"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, outside := t.TempDir(), t.TempDir()
			os.MkdirAll(filepath.Dir(filepath.Join(out, tc.link)), 0o755)
			if err := os.Symlink(outside, filepath.Join(out, tc.link)); err != nil {
				t.Fatal(err)
			}
			code, output := render(out)
			if code == 0 {
				t.Errorf("render followed %s out of DIR: %s", tc.link, output)
			}
			if !strings.Contains(output, "outside") {
				t.Errorf("the error should say it refused to write outside DIR: %s", output)
			}
			empty(t, outside)
		})
	}
	t.Run("file link is replaced", func(t *testing.T) {
		out, outside := t.TempDir(), t.TempDir()
		target := filepath.Join(outside, "victim")
		os.WriteFile(target, []byte("keep\n"), 0o644)
		p := filepath.Join(out, "k1", "etc", "sysctl.d", "99-kubeha.conf")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if code, output := render(out); code != 0 {
			t.Fatalf("render: %d %s", code, output)
		}
		if b, _ := os.ReadFile(target); string(b) != "keep\n" {
			t.Fatalf("render wrote through a file link: %q", b)
		}
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("the link should be replaced by the rendered file: %v %v", fi, err)
		}
		filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.Contains(fi.Name(), ".tmp") {
				t.Errorf("temporary file left: %s", p)
			}
			return nil
		})
	})
}

// TestHelpListsThePhases: `kubeha apply --help` and `kubeha plan
// --help`, which take the same selection flags, list every phase of the
// registry, one "ID  Title" line each, in run order, and nothing else in
// that list.
func TestHelpListsThePhases(t *testing.T) {
	fake := newHarness(t, "a", "bb", "ccc").app()
	tests := []struct {
		name     string
		command  string
		registry func() []phases.Phase
	}{
		{"apply, fake phases", "apply", fake.registry},
		{"apply, kubeha's phases", "apply", phases.Registry},
		{"plan, fake phases", "plan", fake.registry},
		{"plan, kubeha's phases", "plan", phases.Registry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{tt.command, "--help"}, strings.NewReader(""), &out, &errb, &app{registry: tt.registry})
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			// The list is the block of lines after the header's blank line.
			_, after, ok := strings.Cut(out.String(), "'kubeha phase <id>' take):\n\n")
			if !ok {
				t.Fatalf("no phase list in:\n%s", out.String())
			}
			block, _, _ := strings.Cut(after, "\n\n")
			var got [][2]string
			for _, l := range strings.Split(block, "\n") {
				id, title, _ := strings.Cut(strings.TrimPrefix(l, "  "), "  ")
				got = append(got, [2]string{id, strings.TrimLeft(title, " ")})
			}
			var want [][2]string
			for _, p := range tt.registry() {
				want = append(want, [2]string{p.ID(), p.Title()})
			}
			if !slices.Equal(got, want) {
				t.Fatalf("phase lines:\n%q\nwant (ID, title) in registry order:\n%q", got, want)
			}
		})
	}
}
