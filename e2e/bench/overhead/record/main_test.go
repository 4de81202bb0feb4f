package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// initLine is m1's kubeadm init, 10 s ending at 10:00:10.
const initLine = `{"time":"2026-12-01T10:00:10Z","kind":"output","phase":"kubeadm-init","host":"m1","stream":"stdout","message":"kubeadm init took 10000 ms"}
`

// verifyLine is the verify phase's end.
const verifyLine = `{"time":"2026-12-01T10:00:39Z","kind":"phase-done","phase":"verify","durationNs":5000000000}
`

// apply is one master and one worker as kubeha apply --output json prints
// them, other kinds of lines between: facts, init, then the worker's 20 s
// join from 10:00:12.5, 2.5 s after init ended, which the path leaves out;
// then verify, 5 s of the apply's 6 s outside the path.
const apply = `{"time":"2026-12-01T10:00:00Z","kind":"run-started"}
{"time":"2026-12-01T10:00:00.1Z","kind":"phase-started","phase":"facts","message":"Gather host facts"}
{"time":"2026-12-01T10:00:01Z","kind":"phase-done","phase":"facts","durationNs":812000000}
` + initLine + `{"time":"2026-12-01T10:00:10.5Z","kind":"phase-done","phase":"kubeadm-init","durationNs":10400000000}
{"time":"2026-12-01T10:00:11Z","kind":"phase-skipped","phase":"join-control-plane","message":"no host needs this phase with this inventory"}
{"time":"2026-12-01T10:00:32.5Z","kind":"output","phase":"join-workers","host":"w1","stream":"stdout","message":"kubeadm join took 20000 ms"}
{"time":"2026-12-01T10:00:33Z","kind":"phase-done","phase":"join-workers","durationNs":21600000000}
` + verifyLine + `{"time":"2026-12-01T10:00:40Z","kind":"run-done","durationNs":40000000000}
`

// head is the run's flags every call repeats.
var head = []string{"-date", "2026-12-10", "-commit", "abc1234", "-base", "bb70cd0"}

// phasesJSON is apply's phases as the report holds them.
const phasesJSON = `      "phaseSeconds": [
        {
          "phase": "facts",
          "seconds": 0.812
        },
        {
          "phase": "kubeadm-init",
          "seconds": 10.4
        },
        {
          "phase": "join-workers",
          "seconds": 21.6
        },
        {
          "phase": "verify",
          "seconds": 5
        }
      ],
`

// round1After is the report after round 1's after turn: 36 s of apply over
// the 30 s path, 5 s of the 6 s outside it verify's.
const round1After = `{
  "date": "2026-12-10",
  "commit": "abc1234",
  "base": "bb70cd0",
  "rounds": [
    {
      "round": 1,
      "binary": "after",
      "applySeconds": 36,
      "criticalPathSeconds": 30,
      "ratio": 1.2,
      "kubeadmSumSeconds": 30,
      "rerunSeconds": [
        1.99,
        2.02,
        1.95
      ],
` + phasesJSON + `      "outsideSeconds": 6,
      "verifySeconds": 5,
      "outsideRestSeconds": 1,
      "ratioWithoutVerify": 1.0333333333333334
    }
  ]
}
`

func TestRun(t *testing.T) {
	turn := func(round, binary string, extra ...string) []string {
		return append(append([]string{"-round", round, "-binary", binary, "-apply-ms", "36000", "-reruns-ms", "1990,2020,1950"}, head...), extra...)
	}
	for _, tc := range []struct {
		name string
		// before is the report before the call, "" for none.
		before string
		args   []string
		in     string
		// want is the report after the call; "" for before, unchanged.
		want, wantStderr, wantErr string
	}{{
		name:       "the first turn creates the report",
		args:       turn("1", "after"),
		in:         apply,
		want:       round1After,
		wantStderr: "round 1, after: apply 36.0 s, kubeadm's critical path 30.0 s, ratio 1.20, outside the path 6.0 s (verify 5.0 s, the rest 1.0 s), ratio without verify 1.03, kubeadm's commands summed 30.0 s, no-change reruns 1.99 s, 2.02 s, 1.95 s; phases: facts 0.8 s, kubeadm-init 10.4 s, join-workers 21.6 s, verify 5.0 s\n",
	}, {
		name:   "a later turn is added",
		before: round1After,
		args:   []string{"-round", "1", "-binary", "before", "-apply-ms", "37543", "-reruns-ms", "1500", "-date", "2026-12-10", "-commit", "abc1234", "-base", "bb70cd0"},
		in:     apply,
		want: strings.Replace(round1After, "    }\n  ]", `    },
    {
      "round": 1,
      "binary": "before",
      "applySeconds": 37.543,
      "criticalPathSeconds": 30,
      "ratio": 1.2514333333333334,
      "kubeadmSumSeconds": 30,
      "rerunSeconds": [
        1.5
      ],
`+phasesJSON+`      "outsideSeconds": 7.543,
      "verifySeconds": 5,
      "outsideRestSeconds": 2.543,
      "ratioWithoutVerify": 1.0847666666666667
    }
  ]`, 1),
		wantStderr: "round 1, before: apply 37.5 s, kubeadm's critical path 30.0 s, ratio 1.25, outside the path 7.5 s (verify 5.0 s, the rest 2.5 s), ratio without verify 1.08, kubeadm's commands summed 30.0 s, no-change reruns 1.50 s; phases: facts 0.8 s, kubeadm-init 10.4 s, join-workers 21.6 s, verify 5.0 s\n",
	}, {
		name:    "a rerun: no init",
		args:    turn("1", "after"),
		in:      strings.Replace(apply, initLine, "", 1),
		wantErr: "0 kubeadm inits",
	}, {
		name:    "an apply that did not verify",
		args:    turn("1", "after"),
		in:      strings.Replace(apply, verifyLine, "", 1),
		wantErr: "the apply did not end verified",
	}, {
		name:    "plain output",
		args:    turn("1", "after"),
		in:      "kubeadm-init m1: kubeadm init took 10000 ms\n",
		wantErr: "line 1 is not a JSON event",
	}, {
		name:    "a turn the report holds",
		before:  round1After,
		args:    turn("1", "after"),
		in:      apply,
		wantErr: "already holds round 1 of after",
	}, {
		name:    "another run's report",
		before:  strings.Replace(round1After, "bb70cd0", "1111111", 1),
		args:    turn("2", "after"),
		in:      apply,
		wantErr: "is the run of 2026-12-10, commit abc1234 against 1111111, not of 2026-12-10, commit abc1234 against bb70cd0",
	}, {
		name:    "no base",
		args:    []string{"-round", "1", "-binary", "after", "-apply-ms", "36000", "-reruns-ms", "1990", "-date", "2026-12-10", "-commit", "abc1234"},
		in:      apply,
		wantErr: "-report, -date, -commit and -base are all needed",
	}, {
		name:    "an unknown binary",
		args:    turn("1", "base"),
		in:      apply,
		wantErr: `-binary "base": want a round from 1 and after or before`,
	}, {
		name:    "reruns in seconds",
		args:    turn("1", "after", "-reruns-ms", "1.99,2.02"),
		in:      apply,
		wantErr: `-reruns-ms "1.99,2.02": want milliseconds`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "overhead.json")
			if tc.before != "" {
				if err := os.WriteFile(report, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stderr strings.Builder
			err := run(append([]string{"-report", report}, tc.args...), strings.NewReader(tc.in), &stderr)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("run = %v, want an error containing %q", err, tc.wantErr)
			}
			if stderr.String() != tc.wantStderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), tc.wantStderr)
			}
			want := tc.want
			if want == "" {
				want = tc.before
			}
			got, err := os.ReadFile(report)
			if want == "" && !os.IsNotExist(err) {
				t.Errorf("the report was written: %q, %v", got, err)
			}
			if want != "" && string(got) != want {
				t.Errorf("report:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
