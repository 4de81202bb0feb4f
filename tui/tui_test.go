package tui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestResolve(t *testing.T) {
	tests := []struct {
		name, flag string
		tty        bool
		env        map[string]string
		want       string
		color      bool
		wantErr    bool
	}{
		{"auto on a terminal", "auto", true, nil, ModeTTY, true, false},
		{"auto in a pipe", "auto", false, nil, ModePlain, false, false},
		{"auto in CI", "auto", true, map[string]string{"CI": "true"}, ModePlain, false, false},
		{"auto on a dumb terminal", "", true, map[string]string{"TERM": "dumb"}, ModePlain, false, false},
		{"NO_COLOR keeps tty but no colour", "auto", true, map[string]string{"NO_COLOR": "1"}, ModeTTY, false, false},
		{"json forced", "json", true, nil, ModeJSON, false, false},
		{"unknown", "xml", false, nil, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := Terminal{IsTerminal: tt.tty, Getenv: env(tt.env)}
			got, err := Resolve(tt.flag, term)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if got != tt.want {
				t.Fatalf("mode %q, want %q", got, tt.want)
			}
			if err == nil && Color(got, term) != tt.color {
				t.Fatalf("color %v, want %v", !tt.color, tt.color)
			}
		})
	}
}

func TestPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := NewPlain(&b, false)
	p.Emit(events.Event{Kind: events.PhaseStarted, Phase: "host-prep", Message: "Prepare hosts"})
	p.Emit(events.Event{Kind: events.Output, Phase: "host-prep", Host: "k1", Message: "swapoff -a"})
	p.Emit(events.Event{Kind: events.HostFailed, Phase: "host-prep", Host: "k2", Error: "exit 1\nmore"})
	p.Emit(events.Event{Kind: events.Progress, Phase: "artifacts", Host: "k1", Name: "kubeadm", Bytes: 50 << 20, Total: 100 << 20})
	p.Emit(events.Event{Kind: events.Progress, Phase: "artifacts", Host: "k1", Name: "kubeadm", Bytes: 60 << 20, Total: 100 << 20})
	p.Emit(events.Event{Kind: events.Progress, Phase: "artifacts", Host: "k1", Name: "kubeadm", Bytes: 100 << 20, Total: 100 << 20})
	p.Emit(events.Event{Kind: events.PhaseDone, Phase: "host-prep", Duration: 1500 * time.Millisecond})
	want := `==> [host-prep] Prepare hosts
[host-prep] k1 | swapoff -a
[host-prep] k2: FAILED: exit 1 …
[artifacts] k1: kubeadm 50.0 MiB / 100.0 MiB (50%)
[artifacts] k1: kubeadm 100.0 MiB / 100.0 MiB (100%)
phase host-prep: 0 done, 1 failed (k2)
  k2: exit 1
    more
<== [host-prep] done in 1.5s
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPlainColourOnlyWhenAsked(t *testing.T) {
	var b bytes.Buffer
	NewPlain(&b, true).Emit(events.Event{Kind: events.PhaseDone, Phase: "x"})
	if !strings.Contains(b.String(), "\x1b[") {
		t.Fatal("no colour with color=true")
	}
}

func TestJSONOneObjectPerLine(t *testing.T) {
	var b bytes.Buffer
	j := NewJSON(&b)
	j.Emit(events.Event{Kind: events.Output, Phase: "p", Host: "h", Message: "line with \"quotes\"\nand newline"})
	j.Emit(events.Event{Kind: events.PhaseDone, Phase: "p"})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d: %q", len(lines), b.String())
	}
	var e events.Event
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Host != "h" || !strings.Contains(e.Message, "newline") {
		t.Fatalf("%v %+v", err, e)
	}
}

func TestTerminalDrawsBars(t *testing.T) {
	var b bytes.Buffer
	p := NewTerminal(&b, false)
	p.Emit(events.Event{Kind: events.Progress, Phase: "artifacts", Host: "k1", Name: "kubelet", Bytes: 25 << 20, Total: 100 << 20})
	p.Emit(events.Event{Kind: events.Progress, Phase: "artifacts", Host: "k1", Name: "kubelet", Bytes: 100 << 20, Total: 100 << 20})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "25.00%") || !strings.Contains(lines[0], "kubelet") || !strings.Contains(lines[1], "100.00%") {
		t.Fatalf("bars:\n%s", b.String())
	}
	if !strings.ContainsAny(lines[0], "=>█") {
		t.Fatalf("no bar drawn: %q", lines[0])
	}
}
