package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMarkdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    result
		want string
	}{
		{
			name: "203 hosts against pssh and Ansible",
			r: result{date: "2026-12-05", commit: "8f04303", options: options{masters: 3, workers: 200, forks: 50, rounds: 3},
				measured: map[string]*measurement{
					"kubeha host-prep":          {wall: []float64{5.1, 4.9, 5.0}, rssMB: []float64{44.1, 45.3, 44.8}},
					"pssh -p 50":                {wall: []float64{26.9, 26.4, 26.5}, rssMB: []float64{38.2, 38.0, 38.1}},
					"ansible-playbook -f 50":    {wall: []float64{80.2, 78.4, 79.9}, rssMB: []float64{85.9, 86.2, 85.1}},
					"kubeha render":             {wall: []float64{1.2, 1.1, 1.3}, rssMB: []float64{30.5, 30.1, 30.4}},
					"kubeha host-prep + render": {wall: []float64{6.3, 6.0, 6.3}, rssMB: []float64{44.1, 45.3, 44.8}},
					"kubeha no-op rerun":        {wall: []float64{3.03, 2.98, 3.1}, rssMB: []float64{37.0, 37.2, 0}},
					"bare connect+true":         {wall: []float64{2.39, 2.41, 2.35}, rssMB: []float64{20.1, 20.3, 20.2}},
				}},
			want: `2026-12-05, commit 8f04303: 3 masters + 200 workers = 203 hosts (Tier-1 hosts, real sshd), 50 at once, 3 rounds, medians.

| measurement | wall time | peak RSS |
|---|---|---|
| kubeha host-prep | 5.00 s | 44.8 MB |
| pssh -p 50 | 26.50 s | 38.1 MB |
| ansible-playbook -f 50 | 79.90 s | 85.9 MB |
| kubeha render | 1.20 s | 30.4 MB |
| kubeha host-prep + render | 6.30 s | 44.8 MB |
| kubeha no-op rerun | 3.03 s | 37.1 MB |
| bare connect+true | 2.39 s | 20.2 MB |

kubeha host-prep vs pssh: 5.30x faster (target ≥ 1.5x); vs Ansible without fact gathering: 16.0x faster (target ≥ 10x); no-op rerun / bare connect+true: 1.27 (target ≤ 1.5); kubeha host-prep peak RSS 44.8 MB (target < 150 MB).

kubeha host-prep + render at 203 hosts: 6.30 s, peak RSS 44.8 MB.

Each round, wall time and peak RSS:

| measurement | round 1 | round 2 | round 3 |
|---|---|---|---|
| kubeha host-prep | 5.10 s, 44.1 MB | 4.90 s, 45.3 MB | 5.00 s, 44.8 MB |
| pssh -p 50 | 26.90 s, 38.2 MB | 26.40 s, 38.0 MB | 26.50 s, 38.1 MB |
| ansible-playbook -f 50 | 80.20 s, 85.9 MB | 78.40 s, 86.2 MB | 79.90 s, 85.1 MB |
| kubeha render | 1.20 s, 30.5 MB | 1.10 s, 30.1 MB | 1.30 s, 30.4 MB |
| kubeha host-prep + render | 6.30 s, 44.1 MB | 6.00 s, 45.3 MB | 6.30 s, 44.8 MB |
| kubeha no-op rerun | 3.03 s, 37.0 MB | 2.98 s, 37.2 MB | 3.10 s, — |
| bare connect+true | 2.39 s, 20.1 MB | 2.41 s, 20.3 MB | 2.35 s, 20.2 MB |
`,
		},
		{
			name: "1000 hosts alone against a baseline",
			r: result{date: "2026-12-06", commit: "abc1234", options: options{masters: 3, workers: 997, forks: 50, rounds: 2,
				skipPSSH: true, skipAnsible: true, baseline: 6.3},
				measured: map[string]*measurement{
					"kubeha host-prep":          {wall: []float64{24.0, 25.0}, rssMB: []float64{120.5, 121.5}},
					"kubeha render":             {wall: []float64{5.0, 6.0}, rssMB: []float64{90.0, 91.0}},
					"kubeha host-prep + render": {wall: []float64{29.0, 31.0}, rssMB: []float64{120.5, 121.5}},
					"kubeha no-op rerun":        {wall: []float64{14.0, 15.0}, rssMB: []float64{100.0, 101.0}},
					"bare connect+true":         {wall: []float64{10.0, 12.0}, rssMB: []float64{60.0, 61.0}},
				}},
			want: `2026-12-06, commit abc1234: 3 masters + 997 workers = 1000 hosts (Tier-1 hosts, real sshd), 50 at once, 2 rounds, medians.

| measurement | wall time | peak RSS |
|---|---|---|
| kubeha host-prep | 24.50 s | 121.0 MB |
| kubeha render | 5.50 s | 90.5 MB |
| kubeha host-prep + render | 30.00 s | 121.0 MB |
| kubeha no-op rerun | 14.50 s | 100.5 MB |
| bare connect+true | 11.00 s | 60.5 MB |

no-op rerun / bare connect+true: 1.32 (target ≤ 1.5); kubeha host-prep peak RSS 121.0 MB (target < 150 MB).

kubeha host-prep + render at 1000 hosts: 30.00 s, peak RSS 121.0 MB, 4.76x the 6.30 s given for 203 hosts (target at 1000 hosts: ≤ 5x, RSS < 200 MB).

Each round, wall time and peak RSS:

| measurement | round 1 | round 2 |
|---|---|---|
| kubeha host-prep | 24.00 s, 120.5 MB | 25.00 s, 121.5 MB |
| kubeha render | 5.00 s, 90.0 MB | 6.00 s, 91.0 MB |
| kubeha host-prep + render | 29.00 s, 120.5 MB | 31.00 s, 121.5 MB |
| kubeha no-op rerun | 14.00 s, 100.0 MB | 15.00 s, 101.0 MB |
| bare connect+true | 10.00 s, 60.0 MB | 12.00 s, 61.0 MB |
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.markdown(); got != tc.want {
				t.Errorf("markdown:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestCheckSection(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "performance.md")
	text := "# Performance\n\n<!-- bench-scale -->\nNot run yet.\n<!-- /bench-scale -->\n"
	if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc, section, wantErr string
	}{
		{name: "the section is there", doc: doc, section: "bench-scale"},
		{name: "no section named", doc: doc, wantErr: "-doc needs -section"},
		{name: "the section is missing", doc: doc, section: "bench-scale-1000", wantErr: "want one \"<!-- bench-scale-1000 -->\" line"},
		{name: "no such file", doc: doc + ".gone", section: "bench-scale", wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSection(tc.doc, tc.section)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("checkSection(%q) = %v, want an error containing %q", tc.section, err, tc.wantErr)
			}
		})
	}
	if got, _ := os.ReadFile(doc); string(got) != text {
		t.Errorf("checkSection changed the doc:\n%s", got)
	}
}

func TestPublish(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "performance.md")
	text := "# Performance\n\n<!-- bench-scale -->\nNot run yet.\n<!-- /bench-scale -->\n\nProse.\n"
	if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := result{date: "2026-12-05", commit: "8f04303", options: options{masters: 1, workers: 0, forks: 1, rounds: 1,
		skipPSSH: true, skipAnsible: true, doc: doc, section: "bench-scale"},
		measured: map[string]*measurement{
			"kubeha host-prep":          {wall: []float64{1}, rssMB: []float64{10}},
			"kubeha host-prep + render": {wall: []float64{1}, rssMB: []float64{10}},
			"kubeha no-op rerun":        {wall: []float64{1}, rssMB: []float64{10}},
			"bare connect+true":         {wall: []float64{1}, rssMB: []float64{10}},
		}}
	var out strings.Builder
	if err := publish(&out, r); err != nil {
		t.Fatal(err)
	}
	md := r.markdown()
	if out.String() != "\n"+md {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), md)
	}
	want := "# Performance\n\n<!-- bench-scale -->\n" + md + "<!-- /bench-scale -->\n\nProse.\n"
	if got, _ := os.ReadFile(doc); string(got) != want {
		t.Errorf("doc:\n%s\nwant:\n%s", got, want)
	}
}

// TestDocSections pins that docs/performance.md has the sections the
// Makefile's bench-scale targets write.
func TestDocSections(t *testing.T) {
	for _, section := range []string{"bench-scale", "bench-scale-1000"} {
		if err := checkSection(filepath.Join("..", "..", "..", "docs", "performance.md"), section); err != nil {
			t.Error(err)
		}
	}
}
