package controlplane

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
