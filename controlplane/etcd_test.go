package controlplane

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
)

// The remove-etcd-member script, run against a kubectl that plays etcdctl,
// removes exactly the member whose peer URL is the host's, through the etcd
// pod of the control host.
func TestRemoveEtcdMemberScript(t *testing.T) {
	dir := t.TempDir()
	stub := `#!/bin/sh
echo "$*" >> "$KH_LOG"
case "$*" in
*" member list"*) printf '%s\n' \
  "8e9e05c52164694d, started, m1, https://10.0.0.1:2380, https://10.0.0.1:2379, false" \
  "91bc3c398fb3c146, unstarted, , https://10.0.0.2:2380, , false" \
  "c0ffee0000000001, unstarted, , https://[fd00::2]:2380, , false" ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ addr, wantID string }{
		{"10.0.0.2", "91bc3c398fb3c146"},
		{"fd00::2", "c0ffee0000000001"},
		{"10.0.0.9", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "log")
			hosts := &recordingHosts{}
			cp := newClient(masters(1), hosts, &events.Secrets{})
			if err := cp.RemoveEtcdMember(context.Background(), inventory.Host{Name: "m2", InternalAddress: tc.addr}); err != nil {
				t.Fatal(err)
			}
			script := strings.TrimPrefix(hosts.cmds[0], "m1: ")
			admin := filepath.Join(t.TempDir(), "admin.conf")
			if err := os.WriteFile(admin, []byte("    server: https://x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", strings.ReplaceAll(script, "/etc/kubernetes/admin.conf", admin))
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "KH_LOG="+log)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			calls, _ := os.ReadFile(log)
			lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
			for _, l := range lines {
				if !strings.Contains(l, " exec etcd-m1 -- etcdctl --endpoints=https://127.0.0.1:2379 ") {
					t.Errorf("not through etcd-m1's etcdctl: %s", l)
				}
			}
			if tc.wantID == "" {
				if len(lines) != 1 || len(out) != 0 {
					t.Errorf("no member of %s, yet: %q, %s", tc.addr, lines, out)
				}
				return
			}
			if len(lines) != 2 || !strings.HasSuffix(lines[1], " member remove "+tc.wantID) {
				t.Errorf("want member list, then member remove %s; got %q", tc.wantID, lines)
			}
			if want := "removed etcd member " + tc.wantID + " of m2\n"; string(out) != want {
				t.Errorf("said %q, want %q", out, want)
			}
		})
	}
}
