package main

import (
	"bytes"
	"strings"
	"testing"
)

// initLine is m1's kubeadm init, 10 s ending at 10:00:10.
const initLine = `{"time":"2026-12-01T10:00:10Z","kind":"output","phase":"kubeadm-init","host":"m1","stream":"stdout","message":"kubeadm init took 10000 ms"}
`

// apply is one master and one worker as kubeha apply --output json prints
// them, other kinds of lines between: init, then the worker's 20 s join
// from 10:00:12.5, 2.5 s after init ended, which the path leaves out.
const apply = `{"time":"2026-12-01T10:00:00Z","kind":"run-started"}
` + initLine + `{"time":"2026-12-01T10:00:11Z","kind":"phase-skipped","phase":"join-control-plane","message":"no host needs this phase with this inventory"}
{"time":"2026-12-01T10:00:32.5Z","kind":"output","phase":"join-workers","host":"w1","stream":"stdout","message":"kubeadm join took 20000 ms"}
{"time":"2026-12-01T10:00:40Z","kind":"run-done","durationNs":40000000000}
`

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"an apply from nothing", apply, "30000 30000\n", ""},
		{"a rerun: no init", strings.Replace(apply, initLine, "", 1), "", "0 kubeadm inits"},
		{"plain output", "kubeadm-init m1: kubeadm init took 10000 ms\n", "", "line 1 is not a JSON event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(strings.NewReader(tc.in), &out)
			if tc.err == "" && (err != nil || out.String() != tc.want) {
				t.Errorf("run = %q, %v; want %q", out.String(), err, tc.want)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("run = %q, %v; want an error saying %q", out.String(), err, tc.err)
			}
		})
	}
}
