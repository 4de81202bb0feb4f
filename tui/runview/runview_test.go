package runview

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubeha/kubeha/events"
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
