package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
)

// manyHosts is a run over n hosts: host-prep, where every host writes a
// file and uploads one, then join-workers, where w17 and w42 fail with a
// two-line error, w5 warns and w1's kubeadm prints a line.
func manyHosts(n int) []events.Event {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("w%d", i+1)
	}
	evs := []events.Event{{Kind: events.RunStarted, Message: "2 phases on 200 hosts"}}
	evs = append(evs, events.Event{Kind: events.PhaseStarted, Phase: "host-prep", Message: "Prepare hosts"})
	for _, h := range hosts {
		evs = append(evs,
			events.Event{Kind: events.HostStarted, Phase: "host-prep", Host: h},
			events.Event{Kind: events.Info, Phase: "host-prep", Host: h, Message: "wrote /etc/sysctl.d/99-kubeha.conf"},
			events.Event{Kind: events.Progress, Phase: "host-prep", Host: h, Name: "kubeadm", Bytes: 100, Total: 100},
			events.Event{Kind: events.HostDone, Phase: "host-prep", Host: h})
	}
	evs = append(evs, events.Event{Kind: events.PhaseDone, Phase: "host-prep"})
	evs = append(evs, events.Event{Kind: events.PhaseStarted, Phase: "join-workers", Message: "Join worker nodes"},
		events.Event{Kind: events.Info, Phase: "join-workers", Message: "created a bootstrap token"})
	for _, h := range hosts {
		evs = append(evs, events.Event{Kind: events.HostStarted, Phase: "join-workers", Host: h})
		switch h {
		case "w1":
			evs = append(evs, events.Event{Kind: events.Output, Phase: "join-workers", Host: h, Stream: "stdout", Message: "This node has joined the cluster"})
		case "w5":
			evs = append(evs, events.Event{Kind: events.Warning, Phase: "join-workers", Host: h, Message: "swap is on"})
		}
		if h == "w17" || h == "w42" {
			evs = append(evs, events.Event{Kind: events.HostFailed, Phase: "join-workers", Host: h, Error: h + ": kubeadm join exited 1\nerror execution phase preflight"})
			continue
		}
		evs = append(evs, events.Event{Kind: events.HostDone, Phase: "join-workers", Host: h})
	}
	evs = append(evs, events.Event{Kind: events.PhaseFailed, Phase: "join-workers", Error: "w17: kubeadm join exited 1\nw42: kubeadm join exited 1"})
	return evs
}

func TestPlainFoldsHostSteps(t *testing.T) {
	tests := []struct {
		name    string
		verbose bool
		// want are lines that must be printed whole; absent must not be.
		want, absent []string
		maxLines     int
	}{
		{
			name: "without -v one summary per phase and what went wrong",
			want: []string{
				"phase host-prep: 200 done",
				"phase join-workers: 198 done, 2 failed (w17, w42)",
				"  w17: kubeadm join exited 1\n    error execution phase preflight",
				"  w42: kubeadm join exited 1\n    error execution phase preflight",
				"[join-workers] w17: FAILED: w17: kubeadm join exited 1 …",
				"[join-workers] w5: warning: swap is on",
				"[join-workers] w1 | This node has joined the cluster",
				"[join-workers]: created a bootstrap token",
				"==> [join-workers] Join worker nodes",
				"<== [host-prep] done",
				"!!! [join-workers] failed: w17: kubeadm join exited 1 …",
			},
			absent:   []string{"[host-prep] w1: ok", "[join-workers] w1: ok", "wrote /etc/sysctl.d", "kubeadm 100 B"},
			maxLines: 20,
		},
		{
			name:    "with -v the per-host lines are back",
			verbose: true,
			want: []string{
				"phase host-prep: 200 done",
				"phase join-workers: 198 done, 2 failed (w17, w42)",
				"  w17: kubeadm join exited 1\n    error execution phase preflight",
				"[host-prep] w1: ok",
				"[host-prep] w200: ok",
				"[host-prep] w7: wrote /etc/sysctl.d/99-kubeha.conf",
				"[host-prep] w7: kubeadm 100 B / 100 B (100%)",
				"[join-workers] w198: ok",
				"[join-workers] w5: warning: swap is on",
			},
			maxLines: 2000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			p := NewPlain(&b, false)
			p.Verbose = tt.verbose
			for _, e := range manyHosts(200) {
				p.Emit(e)
			}
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains("\n"+out, "\n"+w+"\n") {
					t.Errorf("lacks the line %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out, a) {
					t.Errorf("prints %q", a)
				}
			}
			if n := strings.Count(out, "\n"); n > tt.maxLines {
				t.Errorf("%d lines, want at most %d", n, tt.maxLines)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

func TestPlainSummaryCounts(t *testing.T) {
	ev := func(k events.Kind, host string) events.Event {
		return events.Event{Kind: k, Phase: "p", Host: host, Error: "boom"}
	}
	tests := []struct {
		name string
		evs  []events.Event
		want string // the lines after the last event, the phase's end
	}{
		{"no host step, no summary", []events.Event{{Kind: events.Info, Phase: "p", Message: "hi"}}, "<== [p] done\n"},
		{"a host still in its step is pending", []events.Event{
			ev(events.HostStarted, "a"), ev(events.HostStarted, "b"), ev(events.HostDone, "a"),
		}, "phase p: 1 done, 1 pending (b)\n<== [p] done\n"},
		{"failed in one step stays failed after the next", []events.Event{
			ev(events.HostStarted, "a"), ev(events.HostFailed, "a"), ev(events.HostStarted, "a"), ev(events.HostDone, "a"),
		}, "phase p: 0 done, 1 failed (a)\n  a: boom\n<== [p] done\n"},
		{"hosts named in natural order, at most ten", func() []events.Event {
			var evs []events.Event
			for i := 12; i >= 1; i-- {
				evs = append(evs, ev(events.HostStarted, fmt.Sprintf("w%d", i)))
			}
			return evs
		}(), "phase p: 0 done, 12 pending (w1, w2, w3, w4, w5, w6, w7, w8, w9, w10 and 2 more)\n<== [p] done\n"},
		{"a one-host phase keeps its info lines", []events.Event{
			ev(events.HostStarted, "m1"),
			{Kind: events.Info, Phase: "p", Host: "m1", Message: "admin kubeconfig saved to .kubeha/prod/admin.conf"},
			ev(events.HostDone, "m1"),
		}, "[p] m1: admin kubeconfig saved to .kubeha/prod/admin.conf\nphase p: 1 done\n<== [p] done\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			p := NewPlain(&b, false)
			for _, e := range tt.evs {
				p.Emit(e)
			}
			before := b.Len()
			p.Emit(events.Event{Kind: events.PhaseDone, Phase: "p"})
			if got := b.String()[before:]; got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestPlainCancelledSteps: when Ctrl-C cuts a phase short, the hosts that
// were busy read as cancelled, not as failures with an error each: folded,
// they are counted in the summary and have no line of their own; with -v
// each has a "cancelled" line; the phase ends as cancelled. A host that had
// failed before the cancel is still a failure, listed in full.
func TestPlainCancelledSteps(t *testing.T) {
	const phase = "join-workers"
	ev := func(k events.Kind, host string) events.Event { return events.Event{Kind: k, Phase: phase, Host: host} }
	cancelled := func(host string) events.Event {
		return events.Event{Kind: events.HostFailed, Phase: phase, Host: host, Cancelled: true,
			Error: host + `: "kubeadm join" cut short: context canceled`}
	}
	interrupted := []events.Event{
		{Kind: events.PhaseStarted, Phase: phase, Message: "Join worker nodes"},
		ev(events.HostStarted, "w1"), ev(events.HostStarted, "w2"), ev(events.HostStarted, "w3"),
		ev(events.HostDone, "w1"), cancelled("w3"), cancelled("w2"),
		{Kind: events.PhaseFailed, Phase: phase, Error: "interrupted", Cancelled: true},
		{Kind: events.RunFailed, Phase: phase, Error: "phase join-workers: interrupted"},
	}
	failedFirst := []events.Event{
		{Kind: events.PhaseStarted, Phase: phase, Message: "Join worker nodes"},
		ev(events.HostStarted, "w1"), ev(events.HostStarted, "w2"),
		{Kind: events.HostFailed, Phase: phase, Host: "w1", Error: "w1: kubeadm join exited 1"},
		cancelled("w2"),
		{Kind: events.PhaseFailed, Phase: phase, Error: "interrupted", Cancelled: true},
	}
	tests := []struct {
		name    string
		verbose bool
		evs     []events.Event
		want    string // the whole output
	}{
		{name: "folded", evs: interrupted, want: `==> [join-workers] Join worker nodes
phase join-workers: 1 done, 2 cancelled (w2, w3)
<== [join-workers] cancelled
`},
		{name: "with -v", verbose: true, evs: interrupted, want: `==> [join-workers] Join worker nodes
[join-workers] w1: ok
[join-workers] w3: cancelled
[join-workers] w2: cancelled
phase join-workers: 1 done, 2 cancelled (w2, w3)
<== [join-workers] cancelled
`},
		{name: "a failure before the cancel", evs: failedFirst, want: `==> [join-workers] Join worker nodes
[join-workers] w1: FAILED: w1: kubeadm join exited 1
phase join-workers: 0 done, 1 failed (w1), 1 cancelled (w2)
  w1: kubeadm join exited 1
<== [join-workers] cancelled
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			p := NewPlain(&b, false)
			p.Verbose = tt.verbose
			for _, e := range tt.evs {
				p.Emit(e)
			}
			if got := b.String(); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestJSONKeepsEveryEvent pins that folding is the plain renderer's alone:
// the JSON lines are every event, each exactly as encoding/json writes it.
func TestJSONKeepsEveryEvent(t *testing.T) {
	evs := manyHosts(200)
	var b bytes.Buffer
	j := NewJSON(&b)
	for _, e := range evs {
		j.Emit(e)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d JSON lines for %d events", len(lines), len(evs))
	}
	for i, e := range evs {
		want, _ := json.Marshal(e)
		if lines[i] != string(want) {
			t.Fatalf("line %d: %s, want %s", i, lines[i], want)
		}
	}
}
