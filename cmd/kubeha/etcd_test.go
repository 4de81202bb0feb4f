package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/tui"
)

// TestEtcdRestoreWarnsInWords: kubeha etcd restore, run on an inventory
// whose master count is even (often right after a master that is gone for
// good was taken out of it), prints the inventory's warning with its
// counts in words that agree with them.
func TestEtcdRestoreWarnsInWords(t *testing.T) {
	const k3 = "- {name: k3, address: 192.168.8.186, role: master}"
	const k4 = "- {name: k4, address: 192.168.8.188, role: worker}"
	tests := []struct {
		name    string
		from    string // a host line of the example inventory
		to      string // what it becomes
		warning string
	}{
		{"two masters", k3, strings.Replace(k3, "master", "worker", 1),
			"warning: spec.hosts: 2 masters: etcd tolerates 0 failed members, the same as 1 master (fix: use an odd number of masters (3 or 5))"},
		{"four masters", k4, strings.Replace(k4, "worker", "master", 1),
			"warning: spec.hosts: 4 masters: etcd tolerates 1 failed member, the same as 3 masters (fix: use an odd number of masters (3 or 5))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(inventory.Example, []byte(tt.from)) {
				t.Fatalf("the example inventory lacks %q", tt.from)
			}
			dir := t.TempDir()
			inv := filepath.Join(dir, "kubeha.yaml")
			snap := filepath.Join(dir, "snap.db")
			if err := os.WriteFile(inv, bytes.Replace(inventory.Example, []byte(tt.from), []byte(tt.to), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(snap, []byte("snapshot"), 0o600); err != nil {
				t.Fatal(err)
			}
			a := &app{
				terminal: tui.Terminal{},
				registry: func() []phases.Phase { return nil },
				// The warning is printed on loading the inventory; the
				// restore stops here, before any host is reached.
				connect: func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
					return nil, nil, errors.New("no hosts in this test")
				},
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"etcd", "restore", snap, "-i", inv, "--state-dir", filepath.Join(dir, "state")},
				strings.NewReader(""), &out, &errb, a)
			want := inv + ": " + tt.warning + "\nkubeha: no hosts in this test\n"
			if code != exitFailed || errb.String() != want {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, errb.String(), exitFailed, want)
			}
		})
	}
}

// TestApplyRefusesAnotherEtcd: once the journal records the etcd the
// cluster was built with, apply, plan and phase refuse an inventory that
// describes another, with exit code 2, the phase, the field and the fix,
// before any phase runs; reset is not refused (it is one of the fixes).
func TestApplyRefusesAnotherEtcd(t *testing.T) {
	h := newHarness(t, "a")
	h.useExample("external-etcd.yaml")
	dir := filepath.Join(h.dir, "state", "prod")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	j := `{"cluster": "prod", "phases": {}, "etcd": {"topology": "stacked"}}`
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(j), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"apply", "--output", "plain"}, {"plan", "--output", "plain"}, {"phase", "a", "--output", "plain"}} {
		t.Run(args[0], func(t *testing.T) {
			code, _, stderr := h.run(context.Background(), args...)
			for _, want := range []string{"kubeha: phase kubeadm-init refused, no host was touched",
				"spec.etcd.topology: external, but the cluster was built with stacked etcd",
				"fix: set topology: stacked again"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if code != exitUsage || len(h.log) > 0 {
				t.Fatalf("exit %d (want %d), phases ran: %v", code, exitUsage, h.log)
			}
		})
	}
	code, _, stderr := h.run(context.Background(), "reset", "--yes", "--output", "plain")
	if code != exitOK {
		t.Fatalf("reset: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil || strings.Contains(string(b), `"etcd"`) {
		t.Fatalf("the reset kept the etcd's record (%v):\n%s", err, b)
	}
}

// TestEtcdClientFilesCheckedFirst: the operator's etcd client files are
// read and checked before apply, plan or phase touch anything, as part of
// the inventory's validation (exit code 2, the field and the file named);
// inventory validate warns of a file that is not here but refuses one that
// is wrong; reset, which uploads none, does not read them.
func TestEtcdClientFilesCheckedFirst(t *testing.T) {
	h := newHarness(t, "a")
	h.useExample("external-etcd.yaml")
	inv, err := os.ReadFile(h.inv)
	if err != nil {
		t.Fatal(err)
	}
	ca, crt, key := filepath.Join(h.dir, "ca.crt"), filepath.Join(h.dir, "client.crt"), filepath.Join(h.dir, "client.key")
	s := string(inv)
	for _, l := range []string{"  - {name: etcd-1, address: 192.168.8.171, role: etcd}\n",
		"  - {name: etcd-2, address: 192.168.8.172, role: etcd}\n", "  - {name: etcd-3, address: 192.168.8.173, role: etcd}\n"} {
		if !strings.Contains(s, l) {
			t.Fatalf("the example lacks %q", l)
		}
		s = strings.Replace(s, l, "", 1)
	}
	s = strings.Replace(s, "    topology: external            # no endpoints: kubeha builds etcd on the hosts with role etcd\n",
		"    topology: external\n    external:\n      endpoints: [https://10.0.0.21:2379]\n      caFile: "+ca+"\n      certFile: "+crt+"\n      keyFile: "+key+"\n", 1)
	if err := os.WriteFile(h.inv, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := h.run(context.Background(), "inventory", "validate")
	if code != exitOK || !strings.Contains(stderr, "warning: spec.etcd.external.caFile: "+ca+" does not exist here") {
		t.Fatalf("validate without the files: exit %d, stderr:\n%s", code, stderr)
	}
	for _, f := range []string{ca, crt, key} {
		if err := os.WriteFile(f, []byte("not pem\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wants := []string{"is invalid:\n",
		"  spec.etcd.external.caFile: " + ca + ": holds no PEM certificate (fix: ",
		"  spec.etcd.external.certFile: " + crt + ": holds no PEM certificate (fix: ",
		"  spec.etcd.external.keyFile: " + key + " holds no PEM private key (fix: "}
	for _, args := range [][]string{{"inventory", "validate"}, {"apply", "--output", "plain"}, {"plan", "--output", "plain"}, {"phase", "a", "--output", "plain"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := h.run(context.Background(), args...)
			for _, w := range wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if code != exitUsage || len(h.log) > 0 {
				t.Fatalf("exit %d (want %d), phases ran: %v", code, exitUsage, h.log)
			}
		})
	}
	if code, _, stderr := h.run(context.Background(), "reset", "--yes", "--output", "plain"); code != exitOK {
		t.Fatalf("reset: exit %d: %s", code, stderr)
	}
}
