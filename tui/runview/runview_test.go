package runview

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/tui"
)

var update = flag.Bool("update", false, "rewrite the golden screens")

func newTestModel(t *testing.T) (Model, chan events.Event, chan Result, *bool) {
	t.Helper()
	evs := make(chan events.Event, 16)
	res := make(chan Result, 1)
	cancelled := false
	m := New([]Phase{{ID: "facts", Title: "Gather host facts"}, {ID: "host-prep", Title: "Prepare hosts"}, {ID: "kubeadm-init", Title: "kubeadm init"}},
		evs, res, func() { cancelled = true },
		Summary{Kubeconfig: ".kubeha/prod/admin.conf", Endpoint: "k8s-api:16443", Resume: "kubeha apply -i kubeha.yaml",
			FailedHosts: func(error) []string { return []string{"m1"} }})
	clock := time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }
	return m, evs, res, &cancelled
}

func send(t *testing.T, m Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		nm, _ := m.Update(msg)
		m = nm.(Model)
	}
	return m
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui/runview -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

// The view follows the engine: phases change state, hosts get rows with
// their last line or an upload bar, the selected host's log is shown.
func TestEventsDriveTheView(t *testing.T) {
	m, _, _, _ := newTestModel(t)
	m = send(t, m,
		eventMsg{Kind: events.PhaseStarted, Phase: "facts"},
		eventMsg{Kind: events.HostStarted, Phase: "facts", Host: "m1"},
		eventMsg{Kind: events.HostStarted, Phase: "facts", Host: "w1"},
		eventMsg{Kind: events.Info, Phase: "facts", Host: "m1", Message: "debian 12, systemd"},
		eventMsg{Kind: events.HostDone, Phase: "facts", Host: "m1", Duration: 300 * time.Millisecond},
		eventMsg{Kind: events.HostDone, Phase: "facts", Host: "w1", Duration: 400 * time.Millisecond},
		eventMsg{Kind: events.PhaseDone, Phase: "facts", Duration: 400 * time.Millisecond},
		eventMsg{Kind: events.PhaseSkipped, Phase: "host-prep", Message: "up to date: journal and hosts agree"},
		eventMsg{Kind: events.PhaseStarted, Phase: "kubeadm-init"},
		eventMsg{Kind: events.HostStarted, Phase: "kubeadm-init", Host: "m1"},
		eventMsg{Kind: events.Output, Phase: "kubeadm-init", Host: "m1", Message: "[init] Using Kubernetes version: v1.37.2"},
		eventMsg{Kind: events.Output, Phase: "kubeadm-init", Host: "m1", Message: "[certs] Using certificateDir folder"},
		eventMsg{Kind: events.HostStarted, Phase: "kubeadm-init", Host: "w1"},
		eventMsg{Kind: events.Progress, Phase: "kubeadm-init", Host: "w1", Name: "images/etcd.tar", Bytes: 50, Total: 100},
	)
	v := m.View()
	for _, want := range []string{"✓ facts", "– host-prep", "up to date", "kubeadm-init         kubeadm init", "> ", "m1", "[certs] Using certificateDir folder", "log: m1", "images/etcd.tar"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	golden(t, "running", v)

	// j selects w1: its log (empty) replaces m1's.
	m = send(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("j")})
	if v := m.View(); !strings.Contains(v, "log: w1") || strings.Contains(v[strings.Index(v, "log: "):], "[certs]") {
		t.Errorf("after j the log should be w1's:\n%s", v)
	}
}

// Each event read re-arms the reader: the command Update returns reads the
// next event from the channel.
func TestReaderReArms(t *testing.T) {
	m, evs, _, _ := newTestModel(t)
	_, cmd := m.Update(eventMsg{Kind: events.PhaseStarted, Phase: "facts"})
	if cmd == nil {
		t.Fatal("no command to read the next event")
	}
	evs <- events.Event{Kind: events.PhaseDone, Phase: "facts"}
	if got, ok := cmd().(eventMsg); !ok || got.Kind != events.PhaseDone {
		t.Fatalf("the re-armed command read %#v", got)
	}
}

// q asks before stopping a running apply; y cancels; the view quits once
// the run has ended.
func TestQuitAsksThenCancels(t *testing.T) {
	m, _, _, cancelled := newTestModel(t)
	m = send(t, m, eventMsg{Kind: events.PhaseStarted, Phase: "facts"}, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if !strings.Contains(m.View(), "Stop the apply?") || *cancelled {
		t.Fatalf("q must ask first:\n%s", m.View())
	}
	m = send(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")})
	if strings.Contains(m.View(), "Stop the apply?") || *cancelled {
		t.Fatal("n must not cancel")
	}
	m = send(t, m, tea.KeyMsg{Type: tea.KeyCtrlC}, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
	if !*cancelled || !strings.Contains(m.View(), "stopping") {
		t.Fatalf("y must cancel the run:\n%s", m.View())
	}
	nm, cmd := m.Update(Result{Err: errors.New("interrupted")})
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("the view must quit when the stopped run ends")
	}
	if nm.(Model).Err() == nil {
		t.Fatal("the run's error is kept for the exit code")
	}
}

// The end: the summary on success; on failure the error, the hosts and the
// command that resumes.
func TestEndScreens(t *testing.T) {
	m, _, _, _ := newTestModel(t)
	ok := send(t, m, eventMsg{Kind: events.PhaseDone, Phase: "facts"}, Result{})
	golden(t, "success", ok.View())
	if !strings.Contains(ok.View(), "kubectl --kubeconfig .kubeha/prod/admin.conf get nodes") {
		t.Errorf("success lacks the next command:\n%s", ok.View())
	}
	bad := send(t, m, eventMsg{Kind: events.PhaseFailed, Phase: "kubeadm-init", Error: "m1: kubeadm init exited 1"}, Result{Err: errors.New("phase kubeadm-init: m1: kubeadm init exited 1")})
	golden(t, "failure", bad.View())
	for _, want := range []string{"✗ phase kubeadm-init", "failed on  m1", "resume      kubeha apply -i kubeha.yaml"} {
		if !strings.Contains(bad.View(), want) {
			t.Errorf("failure lacks %q:\n%s", want, bad.View())
		}
	}
	if _, cmd := bad.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")}); cmd == nil || cmd() != tea.Quit() {
		t.Error("q after the end quits at once")
	}
}

func TestSinkStopsWhenDone(t *testing.T) {
	ch := make(chan events.Event)
	done := make(chan struct{})
	s := NewSink(ch, done)
	close(done)
	finished := make(chan struct{})
	go func() { s.Emit(events.Event{Kind: events.Info}); close(finished) }()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Emit blocked after the view was gone")
	}
}

// TestCancelledReadsAsCancelled: when the run is cancelled, a host whose
// step was cut short and its phase read as cancelled (⏸ and the word), not
// as failures (✗ and the error); a host that failed before the cancel
// stays a failure, and so does one that failed in an earlier step of the
// phase. The end screen says interrupted, not failed, and counts each
// failed or cancelled phase's hosts in the very line the plain renderer
// prints at that phase's end.
func TestCancelledReadsAsCancelled(t *testing.T) {
	const ph = "host-prep"
	ev := func(k events.Kind, host string, d time.Duration) eventMsg {
		return eventMsg{Kind: k, Phase: ph, Host: host, Duration: d}
	}
	cut := func(host string, d time.Duration) eventMsg {
		return eventMsg{Kind: events.HostFailed, Phase: ph, Host: host, Duration: d, Cancelled: true,
			Error: host + `: "apt-get install" cut short: context canceled`}
	}
	failed := func(host string) eventMsg {
		return eventMsg{Kind: events.HostFailed, Phase: ph, Host: host, Duration: 2 * time.Second,
			Error: host + ": apt-get install exited 100"}
	}
	key := func(k string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)} }
	facts := []tea.Msg{
		eventMsg{Kind: events.PhaseStarted, Phase: "facts"},
		eventMsg{Kind: events.HostStarted, Phase: "facts", Host: "m1"},
		eventMsg{Kind: events.HostStarted, Phase: "facts", Host: "w1"},
		eventMsg{Kind: events.HostDone, Phase: "facts", Host: "m1", Duration: 300 * time.Millisecond},
		eventMsg{Kind: events.HostDone, Phase: "facts", Host: "w1", Duration: 400 * time.Millisecond},
		eventMsg{Kind: events.PhaseDone, Phase: "facts", Duration: 400 * time.Millisecond},
	}
	prepStarted := []tea.Msg{
		eventMsg{Kind: events.PhaseStarted, Phase: ph, Message: "Prepare hosts"},
		ev(events.HostStarted, "m1", 0), ev(events.HostStarted, "w1", 0), ev(events.HostStarted, "w2", 0),
	}
	interrupted := eventMsg{Kind: events.PhaseFailed, Phase: ph, Error: "interrupted", Duration: 3 * time.Second, Cancelled: true}
	seq := func(parts ...[]tea.Msg) []tea.Msg { return slices.Concat(parts...) }
	tests := []struct {
		name     string
		msgs     []tea.Msg
		err      string   // the run's error
		failedOn []string // the hosts the error names
		want     string   // the whole screen
	}{
		{
			name: "stopped while hosts are busy",
			msgs: seq(facts, prepStarted, []tea.Msg{
				ev(events.HostDone, "m1", 1200*time.Millisecond),
				key("q"), key("y"),
				cut("w2", 3*time.Second), cut("w1", 3100*time.Millisecond), interrupted,
				key("j"),
			}),
			err: "phase host-prep: interrupted",
			want: `kubeha apply  0s  ? help  q quit

✓ facts                400ms
⏸ host-prep            cancelled
· kubeadm-init        

hosts  ↑/↓ select
  ✓ m1         host-prep             1.2s  
> ⏸ w1         host-prep             3.1s  cancelled
  ⏸ w2         host-prep               3s  cancelled

log: w1  1 lines  b/f scroll
  cancelled: w1: "apt-get install" cut short: context canceled

⏸ phase host-prep: interrupted
  phase host-prep: 1 done, 2 cancelled (w1, w2)
  resume      kubeha apply -i kubeha.yaml
press q to leave
`,
		},
		{
			name: "a failure before the stop",
			msgs: seq(facts, prepStarted, []tea.Msg{
				failed("m1"),
				key("q"), key("y"),
				cut("w1", 3*time.Second), cut("w2", 3*time.Second), interrupted,
			}),
			err: "phase host-prep: interrupted",
			want: `kubeha apply  0s  ? help  q quit

✓ facts                400ms
⏸ host-prep            cancelled
· kubeadm-init        

hosts  ↑/↓ select
> ✗ m1         host-prep               2s  m1: apt-get install exited 100
  ⏸ w1         host-prep               3s  cancelled
  ⏸ w2         host-prep               3s  cancelled

log: m1  1 lines  b/f scroll
  ! m1: apt-get install exited 100

⏸ phase host-prep: interrupted
  phase host-prep: 0 done, 1 failed (m1), 2 cancelled (w1, w2)
  resume      kubeha apply -i kubeha.yaml
press q to leave
`,
		},
		{
			name: "stopped between two phases",
			msgs: seq(facts, []tea.Msg{key("q"), key("y")}),
			err:  "before phase host-prep: interrupted",
			want: `kubeha apply  0s  ? help  q quit

✓ facts                400ms
· host-prep           
· kubeadm-init        

hosts  ↑/↓ select
> ✓ m1         facts                300ms  
  ✓ w1         facts                400ms  

log: m1  0 lines  b/f scroll

⏸ before phase host-prep: interrupted
  resume      kubeha apply -i kubeha.yaml
press q to leave
`,
		},
		{
			name: "a failure, not stopped",
			msgs: seq(facts, prepStarted, []tea.Msg{
				ev(events.HostDone, "m1", 1200*time.Millisecond), ev(events.HostDone, "w2", 1500*time.Millisecond), failed("w1"),
				eventMsg{Kind: events.PhaseFailed, Phase: ph, Error: "w1: apt-get install exited 100", Duration: 2 * time.Second},
			}),
			err:      "phase host-prep: w1: apt-get install exited 100",
			failedOn: []string{"w1"},
			want: `kubeha apply  0s  ? help  q quit

✓ facts                400ms
✗ host-prep            w1: apt-get install exited 100
· kubeadm-init        

hosts  ↑/↓ select
> ✓ m1         host-prep             1.2s  
  ✗ w1         host-prep               2s  w1: apt-get install exited 100
  ✓ w2         host-prep             1.5s  

log: m1  0 lines  b/f scroll

✗ phase host-prep: w1: apt-get install exited 100
  phase host-prep: 2 done, 1 failed (w1)
  failed on  w1
  resume      kubeha apply -i kubeha.yaml
press q to leave
`,
		},
		{
			name: "failed in one step, done in the next",
			msgs: seq(facts, prepStarted, []tea.Msg{
				ev(events.HostDone, "m1", 1200*time.Millisecond), ev(events.HostDone, "w2", 1500*time.Millisecond), failed("w1"),
				ev(events.HostStarted, "w1", 0), ev(events.HostDone, "w1", 500*time.Millisecond),
				eventMsg{Kind: events.PhaseFailed, Phase: ph, Error: "w1: apt-get install exited 100", Duration: 2 * time.Second},
			}),
			err:      "phase host-prep: w1: apt-get install exited 100",
			failedOn: []string{"w1"},
			want: `kubeha apply  0s  ? help  q quit

✓ facts                400ms
✗ host-prep            w1: apt-get install exited 100
· kubeadm-init        

hosts  ↑/↓ select
> ✓ m1         host-prep             1.2s  
  ✗ w1         host-prep            500ms  w1: apt-get install exited 100
  ✓ w2         host-prep             1.5s  

log: m1  0 lines  b/f scroll

✗ phase host-prep: w1: apt-get install exited 100
  phase host-prep: 2 done, 1 failed (w1)
  failed on  w1
  resume      kubeha apply -i kubeha.yaml
press q to leave
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, _, _ := newTestModel(t)
			m.summary.FailedHosts = func(error) []string { return tt.failedOn }
			m = send(t, m, tt.msgs...)
			m = send(t, m, Result{Err: errors.New(tt.err)})
			got := m.View()
			if got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}

			// The plain renderer, fed the same events, counts the
			// phase's hosts in the line the view shows, or in none
			// when the view shows none.
			var b bytes.Buffer
			p := tui.NewPlain(&b, false)
			for _, msg := range tt.msgs {
				if e, ok := msg.(eventMsg); ok {
					p.Emit(events.Event(e))
				}
			}
			counts := func(out, indent string) (lines []string) {
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, indent+"phase "+ph+": ") {
						lines = append(lines, strings.TrimPrefix(l, indent))
					}
				}
				return lines
			}
			if plain, view := counts(b.String(), ""), counts(got, "  "); !slices.Equal(plain, view) {
				t.Errorf("the plain renderer counts %q, the view %q", plain, view)
			}
		})
	}
}

// TestCancelledIsNotRed: in colour, a cancelled host, phase and run are
// drawn in yellow, as the plain renderer draws them, and a failed one in
// red; whole lines, escapes included.
func TestCancelledIsNotRed(t *testing.T) {
	prev := lipgloss.ColorProfile()
	lipgloss.SetColorProfile(termenv.ANSI)
	t.Cleanup(func() { lipgloss.SetColorProfile(prev) })
	const ph = "host-prep"
	m, _, _, _ := newTestModel(t)
	m.summary.FailedHosts = func(error) []string { return nil }
	m = send(t, m,
		eventMsg{Kind: events.PhaseStarted, Phase: ph},
		eventMsg{Kind: events.HostStarted, Phase: ph, Host: "m1"},
		eventMsg{Kind: events.HostStarted, Phase: ph, Host: "w1"},
		eventMsg{Kind: events.HostFailed, Phase: ph, Host: "m1", Duration: 2 * time.Second, Error: "m1: apt-get install exited 100"},
		eventMsg{Kind: events.HostFailed, Phase: ph, Host: "w1", Duration: 3 * time.Second, Cancelled: true, Error: "w1: context canceled"},
		eventMsg{Kind: events.PhaseFailed, Phase: ph, Error: "interrupted", Cancelled: true},
		Result{Err: errors.New("phase host-prep: interrupted")},
	)
	lines := strings.Split(m.View(), "\n")
	for _, want := range []string{
		"\x1b[33m⏸\x1b[0m host-prep           \x1b[33m cancelled\x1b[0m",
		"> \x1b[31m✗\x1b[0m m1         host-prep               2s  \x1b[2mm1: apt-get install exited 100\x1b[0m",
		"  \x1b[33m⏸\x1b[0m w1         host-prep               3s  \x1b[2mcancelled\x1b[0m",
		"\x1b[33m⏸ phase host-prep: interrupted\x1b[0m",
		"  \x1b[31mphase host-prep: 0 done, 1 failed (m1), 1 cancelled (w1)\x1b[0m",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q in:\n%q", want, lines)
		}
	}
}
