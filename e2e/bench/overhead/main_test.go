package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// turn is one binary's turn: apply and critical path in seconds, the sum
// 5 s more than the path, the ratio as record computes it.
func turn(round int, binary string, apply, critical float64, reruns ...float64) benchutil.OverheadRound {
	return benchutil.OverheadRound{Round: round, Binary: binary, ApplySeconds: apply, CriticalPathSeconds: critical,
		Ratio: apply / critical, KubeadmSumSeconds: critical + 5, RerunSeconds: reruns}
}

// phased is t with the phases a turn records, their seconds given for the
// phases that are not kubeadm's, in the order facts, host-prep,
// load-balancer, upgrade, kube-proxy, routes, cni, verify, user-kubeconfig
// (0: skipped, absent); and the figures record computes from them.
func phased(t benchutil.OverheadRound, seconds ...float64) benchutil.OverheadRound {
	ids := []string{"facts", "host-prep", "load-balancer", "kubeadm-init", "upgrade", "join-control-plane", "join-workers",
		"kube-proxy", "routes", "cni", "verify", "user-kubeconfig"}
	kubeadm := []float64{16, 40, 30} // kubeadm-init, join-control-plane, join-workers
	for _, id := range ids {
		var s float64
		if benchutil.IsKubeadmPhase(id) {
			s, kubeadm = kubeadm[0], kubeadm[1:]
		} else {
			s, seconds = seconds[0], seconds[1:]
		}
		if s > 0 {
			t.Phases = append(t.Phases, benchutil.PhaseSeconds{Phase: id, Seconds: s})
		}
		if id == "verify" {
			t.VerifySeconds = s
		}
	}
	t.OutsideSeconds = t.ApplySeconds - t.CriticalPathSeconds
	t.OutsideRestSeconds = t.OutsideSeconds - t.VerifySeconds
	t.RatioWithoutVerify = (t.ApplySeconds - t.VerifySeconds) / t.CriticalPathSeconds
	return t
}

func report(turns ...benchutil.OverheadRound) benchutil.OverheadReport {
	return benchutil.OverheadReport{Date: "2026-12-10", Commit: "abc1234", Base: "bb70cd0", Rounds: turns}
}

// TestMarkdown compares Markdown's output with testdata/NAME.md line by
// line; go test -update rewrites the files.
func TestMarkdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    benchutil.OverheadReport
		// file, when set, is the report instead of r: a JSON report as
		// record wrote it.
		file string
	}{{
		name: "two-rounds",
		r: report(
			phased(turn(1, "after", 93.912, 84.003, 1.99, 2.02, 1.95), 0.8, 0.4, 2.4, 0.5, 0.3, 2.5, 1.1, 6.2, 0.1),
			phased(turn(1, "before", 72.3, 63.4, 1.83, 1.82, 1.5), 0.9, 0.5, 1.5, 0.6, 0.2, 2.6, 1.0, 5.1, 0.1),
			phased(turn(2, "after", 60.5, 58.7, 1.65, 1.66, 1.7), 0.7, 0.4, 1.6, 0.4, 0.3, 2.4, 1.2, 0.4, 0.1),
			phased(turn(2, "before", 47.2, 46.1, 1.62, 1.55, 1.46), 0.8, 0.3, 1.7, 0.5, 0.2, 2.5, 0.9, 0.3, 0.1)),
	}, {
		// Round 1's after turn skipped upgrade, round 2's routes: the
		// medians count 0 s for them, and upgrade, first seen in round
		// 2, still stands where the events put it.
		name: "three-rounds-dirty",
		r: func() benchutil.OverheadReport {
			r := report(
				phased(turn(1, "after", 70, 64, 1.8, 1.9, 2.0), 0.8, 0.4, 2.0, 0, 0.3, 2.5, 1.1, 3.0, 0.1),
				phased(turn(1, "before", 71, 63, 1.6, 1.7, 1.5), 0.9, 0.5, 2.2, 0.6, 0.2, 2.6, 1.0, 4.0, 0.1),
				phased(turn(2, "after", 66, 60, 1.7, 1.8, 1.9), 0.7, 0.4, 1.9, 0.4, 0.3, 0, 1.2, 2.0, 0.1),
				phased(turn(2, "before", 69, 62, 1.4, 1.5, 1.6), 0.8, 0.3, 2.1, 0.5, 0.2, 2.5, 0.9, 3.5, 0.1),
				phased(turn(3, "after", 75, 65, 2.1, 2.2, 2.3), 0.9, 0.5, 2.3, 0.6, 0.3, 2.7, 1.3, 4.0, 0.2),
				phased(turn(3, "before", 80, 66, 1.7, 1.8, 1.9), 1.0, 0.4, 2.4, 0.7, 0.3, 2.8, 1.1, 9.0, 0.1))
			r.Commit = "abc1234-dirty"
			return r
		}(),
	}, {
		// Turns recorded before the phases' durations were: "—" where
		// the figures from them would be, no phase medians.
		name: "no-phases",
		r: report(
			turn(1, "after", 70, 64, 1.8, 1.9, 2.0),
			turn(1, "before", 71, 63, 1.6, 1.7, 1.5)),
	}, {
		// The after turns without phases, the before turns with them:
		// each binary's medians are over the turns that have them.
		name: "mixed",
		r: report(
			turn(1, "after", 70, 64, 1.8),
			phased(turn(1, "before", 71, 63, 1.6), 0.9, 0.5, 2.2, 0.6, 0.2, 2.6, 1.0, 4.0, 0.1),
			turn(2, "after", 66, 60, 1.7),
			turn(2, "before", 69, 62, 1.4)),
	}, {
		// docs/bench/overhead.json as the run of 2026-12-03 wrote it.
		name: "old-report",
		file: "old-report.json",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if tc.file != "" {
				data, err := os.ReadFile(filepath.Join("testdata", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				r = benchutil.OverheadReport{}
				if err := json.Unmarshal(data, &r); err != nil {
					t.Fatal(err)
				}
			}
			golden := filepath.Join("testdata", tc.name+".md")
			got := Markdown(r)
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			compareLines(t, got, string(want))
		})
	}
}

// compareLines reports every line of got that differs from want's, by
// number.
func compareLines(t *testing.T, got, want string) {
	t.Helper()
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, gl, wl)
		}
	}
	if len(g) != len(w) {
		t.Errorf("%d lines, want %d", len(g), len(w))
	}
}

// TestRun pins that -doc rewrites only the marked section, and that a
// report short of what the section states writes nothing.
func TestRun(t *testing.T) {
	const doc = "# Performance\n\n<!-- bench-overhead -->\nNot run yet.\n<!-- /bench-overhead -->\n\nHistory.\n"
	// One turn with its phases, one without: both come through the JSON.
	full := report(phased(turn(1, "after", 70, 64, 1.8), 0.8, 0.4, 2.0, 0.5, 0.3, 2.5, 1.1, 3.0, 0.1), turn(1, "before", 71, 63, 1.6))
	for _, tc := range []struct {
		name    string
		r       benchutil.OverheadReport
		section string
		want    string // the doc after the run
		wantErr string
	}{
		{name: "the section replaced", r: full, section: "bench-overhead",
			want: "# Performance\n\n<!-- bench-overhead -->\n" + Markdown(full) + "<!-- /bench-overhead -->\n\nHistory.\n"},
		{name: "no such section", r: full, section: "bench-scale", want: doc, wantErr: `want one "<!-- bench-scale -->" line`},
		{name: "no rounds", r: report(), section: "bench-overhead", want: doc, wantErr: "lacks its date, commit, base or rounds"},
		{name: "no base", r: func() benchutil.OverheadReport { r := full; r.Base = ""; return r }(), section: "bench-overhead", want: doc,
			wantErr: "lacks its date, commit, base or rounds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "performance.md")
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			err = run(bytes.NewReader(data), nil, path, tc.section)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("run = %v, want an error containing %q", err, tc.wantErr)
			}
			got, _ := os.ReadFile(path)
			compareLines(t, string(got), tc.want)
		})
	}
}

// TestStdout pins that without -doc the section goes to stdout.
func TestStdout(t *testing.T) {
	r := report(turn(1, "after", 70, 64, 1.8))
	data, _ := json.Marshal(r)
	var out strings.Builder
	if err := run(bytes.NewReader(data), &out, "", "bench-overhead"); err != nil {
		t.Fatal(err)
	}
	compareLines(t, out.String(), Markdown(r))
}

// TestDocSection pins that docs/performance.md has the section `make
// bench-overhead` writes.
func TestDocSection(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "performance.md"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := benchutil.ReplaceSection(string(doc), "bench-overhead", ""); err != nil {
		t.Error(err)
	}
}
