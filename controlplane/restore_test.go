package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// fakeCtr stands in for containerd's ctr in TestRestoreDataResumes:
// `images mount REF DIR` gives DIR an etcdutl whose snapshot restore makes
// the member directory under --data-dir (and counts its calls in $CALLS);
// `images unmount` succeeds.
const fakeCtr = `#!/bin/sh
[ "$3 $4" = "images mount" ] || exit 0
mkdir -p "$6/usr/local/bin"
for tool in etcdutl etcdctl; do
  cat >"$6/usr/local/bin/$tool" <<'TOOL'
#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = --data-dir ]; then d=$2; fi
  shift
done
mkdir -p "$d/member"
echo restored >"$d/member/data"
echo called >>"$CALLS"
TOOL
  chmod 0755 "$6/usr/local/bin/$tool"
done
`

// TestRestoreDataResumes runs the restore script of one member from every
// state a run cut short can leave: each ends with the restored member in
// place, the old one kept as member.before-TOKEN (when there was one),
// nothing else left in the data directory, and etcdutl run only when no
// restored copy existed yet.
func TestRestoreDataResumes(t *testing.T) {
	const token = "kubeha-0123abcd"
	cases := []struct {
		name string
		// prepare makes the state the cut-short run left in data dir d.
		prepare  func(d string)
		old      bool // an old member exists and must be kept
		etcdutl  bool // etcdutl must run
		finished bool // the marker existed already: nothing changes
	}{
		{"fresh", func(d string) {}, true, true, false},
		{"data lost", func(d string) { os.RemoveAll(filepath.Join(d, "member")) }, false, true, false},
		{"restored, not swapped", func(d string) { write(t, d, "kubeha-restore-"+token+"/member/data", "restored") }, true, false, false},
		{"half a restore", func(d string) { write(t, d, "kubeha-restore-"+token+".tmp/member/partial", "x") }, true, true, false},
		{"old moved aside", func(d string) {
			os.Rename(filepath.Join(d, "member"), filepath.Join(d, "member.before-"+token))
			write(t, d, "kubeha-restore-"+token+"/member/data", "restored")
		}, true, false, false},
		{"swapped, not marked", func(d string) {
			os.Rename(filepath.Join(d, "member"), filepath.Join(d, "member.before-"+token))
			write(t, d, "member/data", "restored")
			os.MkdirAll(filepath.Join(d, "kubeha-restore-"+token), 0o700)
		}, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			d := filepath.Join(root, "etcd")
			bin := filepath.Join(root, "bin")
			calls := filepath.Join(root, "calls")
			marker := filepath.Join(root, "mark", token+".restored")
			write(t, d, "member/data", "old")
			write(t, d, restoreSnapshot, "snapshot")
			write(t, bin, "ctr", fakeCtr)
			os.Chmod(filepath.Join(bin, "ctr"), 0o755)
			tc.prepare(d)
			s := scripts.Render("controlplane/etcd-restore-data", struct {
				DataDir, Token, Marker, Snapshot, Image, Tools, Name, Cluster, Peer string
				BumpRevision                                                        int
			}{d, token, marker, restoreSnapshot, "registry.k8s.io/etcd:3.7.0-0", filepath.Join(root, "tools"), "m1", "m1=https://10.0.0.1:2380", "https://10.0.0.1:2380", restoreBump})
			run := func() string {
				cmd := exec.Command("sh", "-c", s.String())
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "CALLS="+calls)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				return string(out)
			}
			run()
			ran, _ := os.ReadFile(calls)
			if got := strings.Count(string(ran), "called\n"); got != map[bool]int{true: 1, false: 0}[tc.etcdutl] {
				t.Errorf("etcdutl ran %d times", got)
			}
			if got := read(t, d, "member/data"); got != "restored" {
				t.Errorf("member/data is %q, not the restored member", got)
			}
			want := []string{"member", restoreSnapshot}
			if tc.old {
				want = append(want, "member.before-"+token)
				if got := read(t, d, "member.before-"+token+"/data"); got != "old" {
					t.Errorf("the old member holds %q", got)
				}
			}
			slices.Sort(want)
			if got := entries(t, d); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("data directory holds %v, want %v", got, want)
			}
			if _, err := os.Stat(marker); err != nil {
				t.Errorf("no marker: %v", err)
			}
			// A second run finds the marker and changes nothing.
			if out := run(); out != "restored already\n" {
				t.Errorf("second run said %q", out)
			}
			if ran2, _ := os.ReadFile(calls); string(ran2) != string(ran) {
				t.Error("the second run ran etcdutl")
			}
		})
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestRestoreEtcdSteps runs RestoreEtcd against recorded hosts: a new
// restore asks each master once who its member is, uploads the snapshot
// where it is missing, has the first master check it, then stops, restores
// and starts every master, waits for the endpoint and cleans up, and
// forgets the restore; a restore found in the state directory is finished
// without asking or uploading again what is there; one of another
// snapshot is refused before any host is asked anything.
func TestRestoreEtcdSteps(t *testing.T) {
	snapshot := []byte("snapshot")
	sum := sha256.Sum256(snapshot)
	sha := hex.EncodeToString(sum[:])
	member := func(uploaded string) string {
		return "@@kubeha-section name\nm\n@@kubeha-section peer\nhttps://10.0.0.1:2380\n@@kubeha-section datadir\n/var/lib/etcd\n" +
			"@@kubeha-section image\nregistry.k8s.io/etcd:3.7.0-0\n@@kubeha-section snapshot\n" + uploaded + "\n"
	}
	later := []string{"stop the control plane for the restore", "restore the etcd member", "start etcd after the restore",
		"start control-plane after the restore", "wait for the apiserver"}
	cases := []struct {
		name     string
		recorded string // the state file's content; empty: none
		uploaded string // the sha256 of the snapshot on the hosts
		want     map[string][]string
		err      error
	}{
		{"new", "", "", map[string][]string{
			"m1": append(append([]string{"find the etcd member", "upload /var/lib/etcd/kubeha-restore.db", "check the snapshot"}, later...),
				"apiserver through the endpoint", "remove the restore's snapshot"),
			"m2": append(append([]string{"find the etcd member", "upload /var/lib/etcd/kubeha-restore.db"}, later...), "remove the restore's snapshot"),
		}, nil},
		{"cut short, snapshot uploaded", `{"sha256":"` + sha + `","token":"kubeha-0123","members":[{"host":"m1","name":"m1","dataDir":"/var/lib/etcd"},{"host":"m2","name":"m2","dataDir":"/var/lib/etcd"}]}`, sha,
			map[string][]string{
				"m1": append(append([]string{"find the etcd member"}, later...), "apiserver through the endpoint", "remove the restore's snapshot"),
				"m2": append(append([]string{"find the etcd member"}, later...), "remove the restore's snapshot"),
			}, nil},
		{"another snapshot unfinished", `{"sha256":"0000","token":"kubeha-0123","members":[{"host":"m1"}]}`, "", map[string][]string{}, ErrRestoreUnfinished},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.recorded != "" {
				os.WriteFile(filepath.Join(dir, restoreFile), []byte(tc.recorded), 0o600)
			}
			hosts := &recordingHosts{stdout: map[string]string{"find the etcd member": member(tc.uploaded)}}
			cl := masters(2)
			cl.Spec.LoadBalancer.Mode, cl.Spec.LoadBalancer.VIP = inventory.ModeKeepalivedHAProxy, "10.0.0.100"
			cp := New(cl, hosts, &events.Secrets{}, dir).For(events.Emitter{Sink: events.Discard})
			err := cp.RestoreEtcd(context.Background(), snapshot)
			if !errors.Is(err, tc.err) {
				t.Fatalf("RestoreEtcd: %v, want %v", err, tc.err)
			}
			hosts.checkRan(t, tc.want, "m1", "m2")
			_, statErr := os.Stat(filepath.Join(dir, restoreFile))
			if kept := statErr == nil; kept != (tc.err != nil) {
				t.Errorf("state file kept: %t, want %t", kept, tc.err != nil)
			}
		})
	}
}
