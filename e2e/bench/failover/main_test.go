package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
)

func report() benchutil.FailoverReport {
	crash := func(failed int, longest, last time.Duration, strays ...benchutil.Failure) benchutil.FailoverCrash {
		return benchutil.FailoverCrash{
			Victim: "m1",
			Crash:  benchutil.Window{Requests: 1500, Failed: failed, Longest: longest, LastFailure: last, Failures: strays},
		}
	}
	return benchutil.FailoverReport{
		Date: "2026-12-03", Commit: "abc1234", Client: "GET /readyz", Window: 30 * time.Second,
		Modes: []benchutil.FailoverMode{{
			Mode: "masters", Setup: "keepalived+haproxy on the masters", Client: "test host",
			Crashes: []benchutil.FailoverCrash{
				crash(40, 800*time.Millisecond, 900*time.Millisecond),
				crash(50, 900*time.Millisecond, 2100*time.Millisecond, benchutil.Failure{At: 12340 * time.Millisecond, Err: "read: connection reset by peer"}),
			},
		}},
	}
}

func TestTable(t *testing.T) {
	got := Table(report())
	want := "`make bench-failover`, 2026-12-03, commit abc1234. Client: GET /readyz. Each crash takes the host off the network (its link down) for 30s, then brings it back for 30s; p50 / p90 / max across the crashes:\n" +
		"\n" +
		"| setup | client | crashes | failed requests | longest run of failures | crash → last failure (target p90 ≤ 1 s, max ≤ 1.5 s) | failures later than 3 s | on the return: failed requests | on the return: last failure |\n" +
		"|---|---|---|---|---|---|---|---|---|\n" +
		"| keepalived+haproxy on the masters | test host | 2 | 40 / 50 / 50 | 0.80 / 0.90 / 0.90 s | 0.90 / 2.10 / 2.10 s | 0 / 1 / 1 | 0 / 0 / 0 | 0.00 / 0.00 / 0.00 s |\n" +
		"\n" +
		"Failures later than 3s after a crash or a return:\n" +
		"\n" +
		"- masters, crash 2 (m1): 12.34s after the crash: `read: connection reset by peer`\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestReplaceSection(t *testing.T) {
	tests := []struct {
		name, doc, want string
		fails           bool
	}{
		{"replaced", "# F\n\n<!-- bench-failover -->\nold\ntable\n<!-- /bench-failover -->\n\nafter\n", "# F\n\n<!-- bench-failover -->\nNEW\n<!-- /bench-failover -->\n\nafter\n", false},
		{"empty section", "<!-- bench-failover -->\n<!-- /bench-failover -->\n", "", true}, // the begin marker must follow a newline
		{"no markers", "# F\n", "", true},
		{"reversed", "x\n<!-- /bench-failover -->\n<!-- bench-failover -->\n", "", true},
		{"twice", "x\n<!-- bench-failover -->\n<!-- /bench-failover -->\n<!-- bench-failover -->\n<!-- /bench-failover -->\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceSection(tt.doc, "NEW\n")
			if (err != nil) != tt.fails || got != tt.want {
				t.Errorf("got %q, %v; want %q, fails %v", got, err, tt.want, tt.fails)
			}
		})
	}
}

// run with -doc rewrites only the marked section of the file.
func TestRunDoc(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "failover.md")
	os.WriteFile(doc, []byte("# Failover\n<!-- bench-failover -->\nold\n<!-- /bench-failover -->\nend\n"), 0o644)
	data, _ := json.Marshal(report())
	if err := run(bytes.NewReader(data), nil, doc); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(doc)
	if want := "# Failover\n<!-- bench-failover -->\n" + Table(report()) + "<!-- /bench-failover -->\nend\n"; string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(string(got), "old") {
		t.Error("the old section is still there")
	}
}
