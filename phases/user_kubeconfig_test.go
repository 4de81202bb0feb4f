package phases

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// adminConf is a kubeconfig as kubeadm writes admin.conf, with the
// cluster's CA and the admin's client certificate and key.
func adminConf(ca, cert, key string) string {
	return "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: " + ca + "\n" +
		"    server: https://e2e-apiserver:16443\n  name: kubernetes\ncontexts:\n- context:\n" +
		"    cluster: kubernetes\n    user: kubernetes-admin\n  name: kubernetes-admin@kubernetes\n" +
		"current-context: kubernetes-admin@kubernetes\nkind: Config\npreferences: {}\nusers:\n" +
		"- name: kubernetes-admin\n  user:\n    client-certificate-data: " + cert + "\n    client-key-data: " + key + "\n"
}

// kubeconfigMaster is a master on which phases/user-kubeconfig runs on
// this machine, everything it reads and writes in a temporary directory:
// the SSH user's home, admin.conf and kubeha's records; id and getent are
// stubs on PATH that answer for the user, with this process's uid and gid
// (so chown needs no privilege), and HOME points nowhere, so a script
// that used it would fail. Nothing outside the directory is touched.
type kubeconfigMaster struct {
	dir, bin, home, src, records string
	user                         string
	// sudo: the user logged in and the script runs as root through sudo
	// (SUDO_USER set, id -u 0); else the script runs as the user.
	sudo bool
	// noPasswd: getent knows no such user.
	noPasswd bool
}

func newKubeconfigMaster(t *testing.T, user string, sudo bool) *kubeconfigMaster {
	t.Helper()
	dir := t.TempDir()
	m := &kubeconfigMaster{dir: dir, bin: filepath.Join(dir, "bin"), home: filepath.Join(dir, "home", user),
		src: filepath.Join(dir, "etc", "admin.conf"), records: filepath.Join(dir, "etc", "kubeha", "user-kubeconfig"), user: user, sudo: sudo}
	for _, d := range []string{m.bin, m.home, filepath.Dir(m.src)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stubs := map[string]string{
		"id":     "#!/bin/sh\ncase \"$*\" in\n-u) echo \"$FAKE_ID_U\" ;;\n-un) echo \"$FAKE_ID_UN\" ;;\n*) exit 1 ;;\nesac\n",
		"getent": "#!/bin/sh\n[ \"$1\" = passwd ] && [ \"$2\" = \"$FAKE_USER\" ] && [ -z \"$FAKE_NO_PASSWD\" ] || exit 2\necho \"$FAKE_USER:x:$FAKE_UID:$FAKE_GID:kubeha test:$FAKE_HOME:/bin/sh\"\n",
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(m.bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m.setAdminConf(t, adminConf("CA1", "CERT1", "KEY1"))
	return m
}

func (m *kubeconfigMaster) dst() string { return filepath.Join(m.home, ".kube", "config") }

func (m *kubeconfigMaster) setAdminConf(t *testing.T, s string) {
	t.Helper()
	if err := os.WriteFile(m.src, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// script is phases/user-kubeconfig for this master's files.
func (m *kubeconfigMaster) script(write bool) scripts.Script {
	return scripts.Render("phases/user-kubeconfig", userKubeconfigData{Source: m.src, Records: m.records, Write: write})
}

func (m *kubeconfigMaster) cleanUp() scripts.Script {
	return scripts.Render("phases/user-kubeconfig-cleanup", struct{ Records string }{m.records})
}

// run runs script s as this master runs it.
func (m *kubeconfigMaster) run(t *testing.T, s scripts.Script) (stdout, stderr string, code int) {
	t.Helper()
	return m.runText(t, s.String())
}

// runText runs script, a whole script as a host receives it, as this
// master runs it.
func (m *kubeconfigMaster) runText(t *testing.T, script string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	idU, idUN := strconv.Itoa(os.Getuid()), m.user
	if m.sudo || m.user == "root" {
		idU = "0"
	}
	if m.sudo {
		idUN = "root"
	}
	cmd.Env = []string{"PATH=" + m.bin + ":" + os.Getenv("PATH"), "HOME=/nonexistent-kubeha-home",
		"FAKE_ID_U=" + idU, "FAKE_ID_UN=" + idUN, "FAKE_USER=" + m.user, "FAKE_HOME=" + m.home,
		"FAKE_UID=" + strconv.Itoa(os.Getuid()), "FAKE_GID=" + strconv.Itoa(os.Getgid())}
	if m.sudo {
		cmd.Env = append(cmd.Env, "SUDO_USER="+m.user)
	}
	if m.noPasswd {
		cmd.Env = append(cmd.Env, "FAKE_NO_PASSWD=1")
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func sha256Of(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// write puts content at p (creating its directory 0700) with mode, and
// dates it an hour back, so a rewrite shows in its mtime.
func write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

// TestUserKubeconfigScript runs phases/user-kubeconfig with sh against a
// temporary master, first only checking (it must change nothing), then
// writing, then once more (it must change and say nothing), for each state
// the SSH user's ~/.kube/config may be in.
func TestUserKubeconfigScript(t *testing.T) {
	current := adminConf("CA1", "CERT1", "KEY1")
	tests := []struct {
		name    string
		user    string
		sudo    bool
		setup   func(t *testing.T, m *kubeconfigMaster)
		verdict string // the check's and the write's first word
		path    func(m *kubeconfigMaster) string
		// written: the write makes the file admin.conf's copy; else the
		// file (or what is in the way) is left exactly as it was.
		written bool
		// backup: the check and the write print this line after the
		// verdict (earlier alone; TestUserKubeconfigBackup has the rest).
		backup func(m *kubeconfigMaster) string
	}{
		{name: "absent: written 0600 in a 0700 ~/.kube", user: "alice", sudo: true,
			verdict: kubeconfigAbsent, written: true},
		{name: "absent, ~/.kube there already", user: "alice", sudo: true, verdict: kubeconfigAbsent, written: true,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				if err := os.MkdirAll(filepath.Join(m.home, ".kube", "cache"), 0o755); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "root, no sudo", user: "root", verdict: kubeconfigAbsent, written: true},
		{name: "a user without sudo", user: "bob", verdict: kubeconfigAbsent, written: true},
		{name: "same content: unchanged", user: "alice", sudo: true, verdict: kubeconfigSame,
			setup: func(t *testing.T, m *kubeconfigMaster) { write(t, m.dst(), current, 0o600) }},
		{name: "same content, mode 0644: owner and mode set", user: "alice", sudo: true, verdict: kubeconfigOwner, written: true,
			setup: func(t *testing.T, m *kubeconfigMaster) { write(t, m.dst(), current, 0o644) }},
		{name: "this cluster's earlier credentials: kept aside, replaced", user: "alice", sudo: true, verdict: kubeconfigEarlier, written: true,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				write(t, m.dst(), adminConf("CA1", "OLDCERT", "OLDKEY"), 0o600)
			},
			backup: func(m *kubeconfigMaster) string { return "backup " + m.dst() + ".kubeha-backup\n" }},
		{name: "kubeha's earlier copy of another CA's admin.conf: replaced", user: "alice", sudo: true, verdict: kubeconfigStale, written: true,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				old := adminConf("OLDCA", "OLDCERT", "OLDKEY")
				write(t, m.dst(), old, 0o600)
				write(t, filepath.Join(m.records, strconv.Itoa(os.Getuid())), sha256Of(old)+"  "+m.dst()+"\n", 0o600)
			}},
		{name: "a run cut short: the record names the old and the new copy", user: "alice", sudo: true, verdict: kubeconfigStale, written: true,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				old := adminConf("OLDCA", "OLDCERT", "OLDKEY")
				write(t, m.dst(), old, 0o600)
				write(t, filepath.Join(m.records, strconv.Itoa(os.Getuid())), sha256Of(old)+"  "+m.dst()+"\n"+sha256Of(current)+"  "+m.dst()+"\n", 0o600)
			}},
		{name: "a record for another path: foreign", user: "alice", sudo: true, verdict: kubeconfigForeign,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				old := adminConf("OLDCA", "OLDCERT", "OLDKEY")
				write(t, m.dst(), old, 0o600)
				write(t, filepath.Join(m.records, strconv.Itoa(os.Getuid())), sha256Of(old)+"  /elsewhere/.kube/config\n", 0o600)
			}},
		{name: "edited since (a namespace set): kept", user: "alice", sudo: true, verdict: kubeconfigForeign,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				write(t, m.dst(), strings.Replace(current, "    user: kubernetes-admin\n", "    namespace: apps\n    user: kubernetes-admin\n", 1), 0o600)
			}},
		{name: "another cluster's kubeconfig: kept", user: "alice", sudo: true, verdict: kubeconfigForeign,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				write(t, m.dst(), adminConf("OTHERCA", "CERT1", "KEY1"), 0o600)
			}},
		{name: "a symlink, even to admin.conf's content: kept", user: "alice", sudo: true, verdict: kubeconfigForeign,
			setup: func(t *testing.T, m *kubeconfigMaster) {
				target := filepath.Join(m.dir, "elsewhere")
				write(t, target, current, 0o600)
				if err := os.MkdirAll(filepath.Dir(m.dst()), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, m.dst()); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "~/.kube is a file: kept", user: "alice", sudo: true, verdict: kubeconfigForeign,
			path: func(m *kubeconfigMaster) string { return filepath.Join(m.home, ".kube") },
			setup: func(t *testing.T, m *kubeconfigMaster) {
				write(t, filepath.Join(m.home, ".kube"), "not a directory\n", 0o644)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newKubeconfigMaster(t, tt.user, tt.sudo)
			if tt.setup != nil {
				tt.setup(t, m)
			}
			at := m.dst()
			if tt.path != nil {
				at = tt.path(m)
			}
			_, err := os.Lstat(filepath.Dir(m.dst()))
			newDir := os.IsNotExist(err)
			before := snapshot(t, m.dir)
			wantLine := tt.verdict + " " + tt.user + " " + at + "\n"
			if tt.backup != nil {
				wantLine += tt.backup(m)
			}

			out, errOut, code := m.run(t, m.script(false))
			if code != 0 || out != wantLine {
				t.Fatalf("check: exit %d, stdout %q, want %q (stderr %q)", code, out, wantLine, errOut)
			}
			if after := snapshot(t, m.dir); after != before {
				t.Fatalf("the check changed files:\nbefore:\n%s\nafter:\n%s", before, after)
			}

			out, errOut, code = m.run(t, m.script(true))
			want := wantLine
			if tt.verdict == kubeconfigSame {
				want = "" // says nothing
			}
			if code != 0 || out != want || errOut != "" {
				t.Fatalf("write: exit %d, stdout %q, stderr %q; want exit 0, stdout %q", code, out, errOut, want)
			}
			if !tt.written {
				if after := snapshot(t, m.dir); after != before {
					t.Fatalf("the write changed files:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				return
			}
			checkCopy(t, m, current)
			if di, err := os.Lstat(filepath.Dir(m.dst())); err != nil || (newDir && di.Mode() != os.ModeDir|0o700) {
				t.Errorf("~/.kube made by the write: %v %v, want drwx------", di.Mode(), err)
			} else if uid, gid := owner(di); newDir && (uid != os.Getuid() || gid != os.Getgid()) {
				t.Errorf("~/.kube made by the write is owned by %d:%d", uid, gid)
			}
			recorded, err := os.ReadFile(filepath.Join(m.records, strconv.Itoa(os.Getuid())))
			if err != nil || string(recorded) != sha256Of(current)+"  "+m.dst()+"\n" {
				t.Errorf("record %q (%v), want the copy's sha256 and path alone", recorded, err)
			}

			// Once written, a rerun changes nothing and says nothing.
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := os.Chtimes(m.dst(), old, old); err != nil {
				t.Fatal(err)
			}
			settled := snapshot(t, m.dir)
			if out, errOut, code := m.run(t, m.script(true)); code != 0 || out != "" || errOut != "" {
				t.Fatalf("rerun: exit %d, stdout %q, stderr %q; want nothing", code, out, errOut)
			}
			if out, _, _ := m.run(t, m.script(false)); out != kubeconfigSame+" "+tt.user+" "+m.dst()+"\n" {
				t.Errorf("check after the write: %q, want same", out)
			}
			if after := snapshot(t, m.dir); after != settled {
				t.Errorf("the rerun changed files:\nbefore:\n%s\nafter:\n%s", settled, after)
			}
		})
	}
}

// checkCopy requires the user's ~/.kube/config to be want, 0600 and the
// user's (this process's uid and gid), with no temporary file left beside
// it.
func checkCopy(t *testing.T, m *kubeconfigMaster, want string) {
	t.Helper()
	b, err := os.ReadFile(m.dst())
	if err != nil || string(b) != want {
		t.Fatalf("%s: %v %q, want admin.conf's content", m.dst(), err, b)
	}
	fi, err := os.Lstat(m.dst())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("%s has mode %v, want -rw-------", m.dst(), fi.Mode())
	}
	if uid, gid := owner(fi); uid != os.Getuid() || gid != os.Getgid() {
		t.Errorf("%s is owned by %d:%d, want the user's %d:%d", m.dst(), uid, gid, os.Getuid(), os.Getgid())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(m.dst()), ".config.kubeha-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// owner is the uid and gid of the file fi describes.
func owner(fi os.FileInfo) (uid, gid int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// snapshot describes every file under dir: path, type, mode, mtime and
// content's sha256, or a symlink's target.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			b.WriteString(rel + " -> " + target + "\n")
		case fi.IsDir():
			b.WriteString(rel + "/ " + fi.Mode().String() + "\n")
		default:
			c, _ := os.ReadFile(p)
			b.WriteString(rel + " " + fi.Mode().String() + " " + fi.ModTime().UTC().Format(time.RFC3339Nano) + " " + sha256Of(string(c)) + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A new ~/.kube is made 0700; one the user has keeps its mode; a
// temporary file a cut run left is removed.
func TestUserKubeconfigDirectory(t *testing.T) {
	m := newKubeconfigMaster(t, "alice", true)
	if _, errOut, code := m.run(t, m.script(true)); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if di, err := os.Stat(filepath.Dir(m.dst())); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("a new ~/.kube: %v %v, want mode 0700", di.Mode(), err)
	}

	m = newKubeconfigMaster(t, "alice", true)
	kube := filepath.Dir(m.dst())
	write(t, filepath.Join(kube, ".config.kubeha-Xy12Ab"), "a cut run's copy\n", 0o600)
	if err := os.Chmod(kube, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := m.run(t, m.script(true)); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkCopy(t, m, adminConf("CA1", "CERT1", "KEY1"))
	if di, err := os.Stat(kube); err != nil || di.Mode().Perm() != 0o750 {
		t.Errorf("the user's own ~/.kube: %v %v, want its mode 0750 kept", di.Mode(), err)
	}
}

// TestUserKubeconfigBackup: this cluster's earlier credentials may be a
// user's own client certificate in a copy of admin.conf, so the write keeps
// the old file beside the new copy, byte for byte, 0600 and the user's,
// never over an older backup of other content, and says where; the check
// says the same path and changes nothing; a rerun after a cut reuses its
// backup; reset removes kubeha's copy and leaves every backup.
func TestUserKubeconfigBackup(t *testing.T) {
	current, theirs := adminConf("CA1", "CERT1", "KEY1"), adminConf("CA1", "THEIRCERT", "THEIRKEY")
	tests := []struct {
		name string
		// before: what ~/.kube holds besides config, by name.
		before map[string]string
		// symlinks: names in ~/.kube that are symlinks to config.
		symlinks []string
		backup   string // the backup's name in ~/.kube
	}{
		{name: "no backup yet", backup: "config.kubeha-backup"},
		{name: "an older backup of other content: kept, the new one at .1",
			before: map[string]string{"config.kubeha-backup": adminConf("CA1", "OLDER", "OLDER")}, backup: "config.kubeha-backup.1"},
		{name: "older backups and a symlink in the way: the first free N",
			before:   map[string]string{"config.kubeha-backup": "first\n", "config.kubeha-backup.2": "second\n"},
			symlinks: []string{"config.kubeha-backup.1"}, backup: "config.kubeha-backup.3"},
		{name: "a backup of this very file (a run cut after it): reused",
			before: map[string]string{"config.kubeha-backup": "older\n", "config.kubeha-backup.1": theirs}, backup: "config.kubeha-backup.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newKubeconfigMaster(t, "alice", true)
			kube := filepath.Dir(m.dst())
			write(t, m.dst(), theirs, 0o600)
			for name, content := range tt.before {
				write(t, filepath.Join(kube, name), content, 0o600)
			}
			for _, name := range tt.symlinks {
				if err := os.Symlink("config", filepath.Join(kube, name)); err != nil {
					t.Fatal(err)
				}
			}
			backup := filepath.Join(kube, tt.backup)
			want := kubeconfigEarlier + " alice " + m.dst() + "\nbackup " + backup + "\n"

			before := snapshot(t, m.dir)
			if out, errOut, code := m.run(t, m.script(false)); code != 0 || out != want {
				t.Fatalf("check: exit %d, stdout %q, want %q (stderr %q)", code, out, want, errOut)
			}
			if after := snapshot(t, m.dir); after != before {
				t.Fatalf("the check changed files:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if out, errOut, code := m.run(t, m.script(true)); code != 0 || out != want || errOut != "" {
				t.Fatalf("write: exit %d, stdout %q, stderr %q; want exit 0, stdout %q", code, out, errOut, want)
			}
			checkCopy(t, m, current)
			b, err := os.ReadFile(backup)
			if err != nil || string(b) != theirs {
				t.Fatalf("%s: %v %q, want the old file's content", backup, err, b)
			}
			if fi, err := os.Lstat(backup); err != nil || fi.Mode() != 0o600 {
				t.Errorf("%s: %v, mode %v; want -rw-------", backup, err, fi.Mode())
			} else if uid, gid := owner(fi); uid != os.Getuid() || gid != os.Getgid() {
				t.Errorf("%s is owned by %d:%d, want the user's", backup, uid, gid)
			}
			// Nothing else in ~/.kube changed, nor was added.
			names := []string{"config", tt.backup}
			for name, content := range tt.before {
				if b, err := os.ReadFile(filepath.Join(kube, name)); err != nil || string(b) != content {
					t.Errorf("an older backup, %s, changed: %v %q", name, err, b)
				}
				names = append(names, name)
			}
			names = append(names, tt.symlinks...)
			entries, err := os.ReadDir(kube)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			slices.Sort(names)
			names = slices.Compact(names)
			if !slices.Equal(got, names) {
				t.Errorf("~/.kube holds %q, want %q", got, names)
			}

			// Reset removes kubeha's copy, which the records name, and
			// leaves the backups, which they do not.
			if err := os.Remove(m.src); err != nil {
				t.Fatal(err)
			}
			if out, errOut, code := m.run(t, m.cleanUp()); code != 0 || out != "removed "+m.dst()+", kubeha's copy of admin.conf\n" || errOut != "" {
				t.Fatalf("clean-up: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if b, err := os.ReadFile(backup); err != nil || string(b) != theirs {
				t.Errorf("%s after the clean-up: %v %q, want it kept", backup, err, b)
			}
			if _, err := os.Lstat(m.dst()); !os.IsNotExist(err) {
				t.Errorf("%s after the clean-up: %v, want it removed", m.dst(), err)
			}
		})
	}
}

// The script fails, saying why, where it cannot tell whose file to write;
// it writes nothing then.
func TestUserKubeconfigScriptRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, m *kubeconfigMaster)
		want  string
	}{
		{"no passwd entry", func(t *testing.T, m *kubeconfigMaster) { m.noPasswd = true }, "no passwd entry for alice"},
		{"no home", func(t *testing.T, m *kubeconfigMaster) {
			if err := os.RemoveAll(m.home); err != nil {
				t.Fatal(err)
			}
		}, "the home of alice, does not exist"},
		{"no admin.conf", func(t *testing.T, m *kubeconfigMaster) {
			if err := os.Remove(m.src); err != nil {
				t.Fatal(err)
			}
		}, "admin.conf on this master"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newKubeconfigMaster(t, "alice", true)
			tt.setup(t, m)
			before := snapshot(t, m.dir)
			for _, write := range []bool{false, true} {
				out, errOut, code := m.run(t, m.script(write))
				if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
					t.Errorf("write=%v: exit %d, stdout %q, stderr %q; want exit 1 saying %q", write, code, out, errOut, tt.want)
				}
			}
			if after := snapshot(t, m.dir); after != before {
				t.Errorf("files changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestUserKubeconfigCleanUp: reset removes the copies kubeha wrote that
// are still as it wrote them, keeps one changed since, and removes the
// records, without admin.conf (kubeadm reset has taken it by then).
func TestUserKubeconfigCleanUp(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, m *kubeconfigMaster)
		kept    bool
		message string
	}{
		{"kubeha's copy: removed", nil, false, "removed "},
		{"edited since: kept", func(t *testing.T, m *kubeconfigMaster) {
			write(t, m.dst(), adminConf("CA1", "CERT1", "KEY1")+"# mine now\n", 0o600)
		}, true, "kept "},
		{"removed by the user: nothing to do", func(t *testing.T, m *kubeconfigMaster) {
			if err := os.Remove(m.dst()); err != nil {
				t.Fatal(err)
			}
		}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newKubeconfigMaster(t, "alice", true)
			if _, errOut, code := m.run(t, m.script(true)); code != 0 {
				t.Fatalf("write: exit %d: %s", code, errOut)
			}
			if tt.change != nil {
				tt.change(t, m)
			}
			if err := os.Remove(m.src); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := m.run(t, m.cleanUp())
			if code != 0 || errOut != "" {
				t.Fatalf("clean-up: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if tt.message != "" && !strings.HasPrefix(out, tt.message+m.dst()) {
				t.Errorf("clean-up said %q, want %q about %s", out, tt.message, m.dst())
			}
			if tt.message == "" && out != "" {
				t.Errorf("clean-up said %q, want nothing", out)
			}
			if _, err := os.Lstat(m.dst()); (err == nil) != tt.kept {
				t.Errorf("%s after the clean-up: %v, want kept %v", m.dst(), err, tt.kept)
			}
			if _, err := os.Lstat(m.records); !os.IsNotExist(err) {
				t.Errorf("the records are left: %v", err)
			}
			if _, err := os.Stat(filepath.Dir(m.dst())); err != nil && tt.kept {
				t.Errorf("~/.kube removed: %v", err)
			}
			if out, errOut, code := m.run(t, m.cleanUp()); code != 0 || out != "" || errOut != "" {
				t.Errorf("a second clean-up: exit %d, stdout %q, stderr %q; want nothing", code, out, errOut)
			}
		})
	}
}

// localMasters runs each command on a kubeconfigMaster on this machine,
// with the master's own admin.conf and records in place of the hosts'
// paths (a script that would still reach /etc is not run), and answers the
// facts script: every master is a finished control-plane node.
type localMasters struct {
	t     *testing.T
	mu    sync.Mutex
	ms    map[string]*kubeconfigMaster
	calls int
}

func (l *localMasters) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if strings.Contains(cmd.Script, "adminconf=") {
		return ssh.Result{Stdout: "init=systemd\nadminconf=1\ncpdone=1\nnodedone=1\n"}, nil
	}
	m := l.ms[host]
	script := strings.NewReplacer(ssh.Quote(kubeadm.AdminConfPath), ssh.Quote(m.src), ssh.Quote(UserKubeconfigRecords), ssh.Quote(m.records)).Replace(cmd.Script)
	if strings.Contains(script, "'/etc/") {
		l.t.Fatalf("%s: %s would reach this machine's /etc:\n%s", host, cmd.Name, script)
	}
	out, errOut, code := m.runText(l.t, script)
	if code != 0 {
		return ssh.Result{Stdout: out, Stderr: errOut, ExitCode: code}, &ssh.ExitError{Host: host, Command: cmd.Name, ExitCode: code, Stderr: errOut}
	}
	return ssh.Result{Stdout: out, Stderr: errOut}, nil
}
func (*localMasters) Upload(context.Context, string, ssh.File) error { panic("not used") }
func (*localMasters) Download(context.Context, string, string) ([]byte, error) {
	panic("not used")
}

// TestCopyAdminKubeconfigPhase drives the phase's Probe and Run as apply
// does, on two masters run on this machine: m1's user alice has no
// kubeconfig, m2's root has a kubeconfig of its own. The probe finds m1
// pending and warns of m2's file; the run copies m1's and leaves m2's; the
// next probe finds nothing to do and warns again; a run forced on both
// changes and says nothing; a renewed admin.conf makes m1 pending again;
// with the option off no host is asked anything.
func TestCopyAdminKubeconfigPhase(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{
		SSH: inventory.SSH{User: "alice"},
		Hosts: []inventory.Host{
			{Name: "m1", Address: "10.0.0.1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster},
			{Name: "m2", Address: "10.0.0.2", InternalAddress: "10.0.0.2", Role: inventory.RoleMaster, SSH: &inventory.HostSSH{User: "root"}},
			{Name: "w1", Address: "10.0.0.3", InternalAddress: "10.0.0.3", Role: inventory.RoleWorker},
		},
		AdminKubeconfig: inventory.AdminKubeconfig{CopyToSSHUser: true},
	}}
	m1, m2 := newKubeconfigMaster(t, "alice", true), newKubeconfigMaster(t, "root", false)
	theirs := adminConf("THEIRCA", "THEIRCERT", "THEIRKEY")
	write(t, m2.dst(), theirs, 0o600)
	hosts := &localMasters{t: t, ms: map[string]*kubeconfigMaster{"m1": m1, "m2": m2}}
	rec := &events.Recorder{}
	env := &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Concurrency: 2,
		Log: events.Emitter{Sink: rec, Phase: "user-kubeconfig"}, results: &hostResults{}}
	ctx := context.Background()
	p := CopyAdminKubeconfig{}
	// said returns the events of kind since the last call, as "host: message".
	seen := 0
	said := func(kind events.Kind) []string {
		evs := rec.Events()
		var out []string
		for _, e := range evs[seen:] {
			if e.Kind == kind {
				out = append(out, e.Host+": "+e.Message)
			}
		}
		seen = len(evs)
		return out
	}

	w, err := p.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.Targets, " ") != "m1 m2" || strings.Join(w.Pending, " ") != "m1" {
		t.Fatalf("targets %v, pending %v; want m1 m2, m1", w.Targets, w.Pending)
	}
	if want := "copy /etc/kubernetes/admin.conf to " + m1.dst() + " (owner alice, mode 0600)"; w.Reasons["m1"] != want {
		t.Errorf("m1's reason %q, want %q", w.Reasons["m1"], want)
	}
	warned := func() {
		t.Helper()
		ws := said(events.Warning)
		if len(ws) != 1 || !strings.HasPrefix(ws[0], "m2: "+m2.dst()+" (user root) is neither kubeha's copy") || !strings.Contains(ws[0], "move it aside") {
			t.Errorf("warnings %q, want one about m2's %s and the fix", ws, m2.dst())
		}
	}
	warned()

	if err := p.Run(ctx, env, w); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, m1, adminConf("CA1", "CERT1", "KEY1"))
	if b, _ := os.ReadFile(m2.dst()); string(b) != theirs {
		t.Errorf("m2's own kubeconfig was changed:\n%s", b)
	}
	if got := said(events.Info); len(got) != 1 || got[0] != "m1: copied /etc/kubernetes/admin.conf to "+m1.dst()+" (owner alice, mode 0600)" {
		t.Errorf("run said %q", got)
	}

	w, err = p.Probe(ctx, env)
	if err != nil || len(w.Pending) != 0 {
		t.Fatalf("probe after the run: %v, pending %v %v", err, w.Pending, w.Reasons)
	}
	warned()
	settled := snapshot(t, m1.dir) + snapshot(t, m2.dir)
	if err := p.Run(ctx, env, w.AllPending("forced")); err != nil {
		t.Fatal(err)
	}
	if got := said(events.Info); len(got) != 0 {
		t.Errorf("a forced rerun said %q", got)
	}
	if after := snapshot(t, m1.dir) + snapshot(t, m2.dir); after != settled {
		t.Errorf("a forced rerun changed files:\n%s\n%s", settled, after)
	}

	// kubeadm certs renew gives admin.conf a new client certificate.
	m1.setAdminConf(t, adminConf("CA1", "CERT2", "KEY2"))
	w, err = p.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if want := "replace " + m1.dst() + ", kubeha's earlier copy, with the current /etc/kubernetes/admin.conf"; strings.Join(w.Pending, " ") != "m1" || w.Reasons["m1"] != want {
		t.Errorf("after a renewal: pending %v, %q; want m1, %q", w.Pending, w.Reasons["m1"], want)
	}
	if err := p.Run(ctx, env, w); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, m1, adminConf("CA1", "CERT2", "KEY2"))

	c.Spec.AdminKubeconfig.CopyToSSHUser = false
	hosts.calls = 0
	if w, err := p.Probe(ctx, env); err != nil || len(w.Targets) != 0 || hosts.calls != 0 {
		t.Errorf("with the option off: %v, targets %v, %d commands run", err, w.Targets, hosts.calls)
	}
}

// TestCopyAdminKubeconfigKeepsEarlier drives Probe and Run on a master
// whose user, with a blank in the home's path, holds this cluster's
// earlier credentials: the plan's reason says where the old file will be
// kept, the run's message where it is, each path whole.
func TestCopyAdminKubeconfigKeepsEarlier(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{
		SSH:             inventory.SSH{User: "alice"},
		Hosts:           []inventory.Host{{Name: "m1", Address: "10.0.0.1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster}},
		AdminKubeconfig: inventory.AdminKubeconfig{CopyToSSHUser: true},
	}}
	m := newKubeconfigMaster(t, "alice", true)
	m.home = filepath.Join(m.dir, "home dir", "alice")
	theirs := adminConf("CA1", "THEIRCERT", "THEIRKEY")
	write(t, m.dst(), theirs, 0o600)
	rec := &events.Recorder{}
	env := &Env{Cluster: c, Hosts: &localMasters{t: t, ms: map[string]*kubeconfigMaster{"m1": m}}, Facts: &FactStore{}, Concurrency: 1,
		Log: events.Emitter{Sink: rec, Phase: "user-kubeconfig"}, results: &hostResults{}}
	ctx := context.Background()
	backup := m.dst() + ".kubeha-backup"

	w, err := CopyAdminKubeconfig{}.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if want := "replace " + m.dst() + ", this cluster's earlier admin credentials, with the current /etc/kubernetes/admin.conf; the old file will be kept at " + backup; w.Reasons["m1"] != want {
		t.Errorf("reason %q, want %q", w.Reasons["m1"], want)
	}
	if err := (CopyAdminKubeconfig{}).Run(ctx, env, w); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, m, adminConf("CA1", "CERT1", "KEY1"))
	if b, err := os.ReadFile(backup); err != nil || string(b) != theirs {
		t.Errorf("%s: %v %q, want the old file", backup, err, b)
	}
	var said []string
	for _, e := range rec.Events() {
		if e.Kind == events.Info || e.Kind == events.Warning {
			said = append(said, e.Host+": "+e.Message)
		}
	}
	if want := "m1: replaced " + m.dst() + ", this cluster's earlier admin credentials, with the current /etc/kubernetes/admin.conf; the old file is kept at " + backup; !slices.Equal(said, []string{want}) {
		t.Errorf("the run said %q, want %q", said, want)
	}
}

// A failure names the host and says why; a foreign verdict never comes
// with a change.
func TestCopyAdminKubeconfigFails(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{
		Hosts:           []inventory.Host{{Name: "m1", Address: "10.0.0.1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster}},
		AdminKubeconfig: inventory.AdminKubeconfig{CopyToSSHUser: true},
	}}
	m := newKubeconfigMaster(t, "root", false)
	m.noPasswd = true
	env := &Env{Cluster: c, Hosts: &localMasters{t: t, ms: map[string]*kubeconfigMaster{"m1": m}}, Facts: &FactStore{}, Concurrency: 1,
		Log: events.Emitter{Sink: events.Discard}, results: &hostResults{}}
	_, err := CopyAdminKubeconfig{}.Probe(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "m1") || !strings.Contains(err.Error(), "no passwd entry for root") {
		t.Errorf("probe error %v, want one naming m1 and the missing passwd entry", err)
	}
}

func TestParseUserKubeconfig(t *testing.T) {
	tests := []struct {
		out     string
		want    userKubeconfig
		wantErr bool
	}{
		{out: "absent alice /home/alice/.kube/config\n", want: userKubeconfig{Verdict: kubeconfigAbsent, User: "alice", Path: "/home/alice/.kube/config"}},
		{out: "foreign bob /home/b o b/.kube\n", want: userKubeconfig{Verdict: kubeconfigForeign, User: "bob", Path: "/home/b o b/.kube"}},
		{out: "stale bob /home/bob /.kube/config\n", want: userKubeconfig{Verdict: kubeconfigStale, User: "bob", Path: "/home/bob /.kube/config"}},
		{out: "earlier bob /home/b o b/.kube/config\nbackup /home/b o b/.kube/config.kubeha-backup.2\n",
			want: userKubeconfig{Verdict: kubeconfigEarlier, User: "bob", Path: "/home/b o b/.kube/config", Backup: "/home/b o b/.kube/config.kubeha-backup.2"}},
		{out: "", wantErr: true},
		{out: "absent alice\n", wantErr: true},
		{out: "gone alice /root/.kube/config\n", wantErr: true},
		{out: "earlier alice /root/.kube/config\n", wantErr: true},
		{out: "earlier alice /root/.kube/config\nbackup \n", wantErr: true},
		{out: "earlier alice /root/.kube/config\nbackup /root/.kube/a\nbackup /root/.kube/b\n", wantErr: true},
		{out: "earlier alice /root/.kube/config\nkept /root/.kube/a\n", wantErr: true},
		{out: "stale alice /root/.kube/config\nbackup /root/.kube/config.kubeha-backup\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseUserKubeconfig(tt.out)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parse %q: %+v, %v; want %+v, error %v", tt.out, got, err, tt.want, tt.wantErr)
		}
	}
	// Every verdict that changes something says what in the plan and in
	// the run; the others say nothing there, and only foreign warns.
	for _, v := range []string{kubeconfigSame, kubeconfigAbsent, kubeconfigOwner, kubeconfigStale, kubeconfigEarlier, kubeconfigForeign} {
		u := userKubeconfig{Verdict: v, User: "alice", Path: "/home/alice/.kube/config"}
		changes := v != kubeconfigSame && v != kubeconfigForeign
		if (u.Change() != "") != changes || (u.Done() != "") != changes || (u.Warning() != "") != (v == kubeconfigForeign) {
			t.Errorf("%s: change %q, done %q, warning %q", v, u.Change(), u.Done(), u.Warning())
		}
	}
}

// kubeha render shows, with the option on, a placeholder on each master
// at its SSH user's home, marked secret and 0600; with it off, nothing.
func TestCopyAdminKubeconfigFiles(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{
		SSH: inventory.SSH{User: "ops"},
		Hosts: []inventory.Host{
			{Name: "m1", Role: inventory.RoleMaster},
			{Name: "m2", Role: inventory.RoleMaster, SSH: &inventory.HostSSH{User: "root"}},
			{Name: "w1", Role: inventory.RoleWorker},
		},
	}}
	files, err := CopyAdminKubeconfig{}.Files(context.Background(), OfflineView{C: c})
	if err != nil || len(files) != 0 {
		t.Fatalf("option off: %v %v", files, err)
	}
	c.Spec.AdminKubeconfig.CopyToSSHUser = true
	files, err = CopyAdminKubeconfig{}.Files(context.Background(), OfflineView{C: c})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Host+":"+f.Path)
		if !f.Secret || f.Mode != 0o600 || string(f.Content) != userKubeconfigPlaceholder {
			t.Errorf("%s %s: secret %v, mode %v, content %q", f.Host, f.Path, f.Secret, f.Mode, f.Content)
		}
	}
	if strings.Join(got, " ") != "m1:/home/ops/.kube/config m2:/root/.kube/config" {
		t.Errorf("files %v", got)
	}
	c.Spec.SSH.User = ""
	files, _ = CopyAdminKubeconfig{}.Files(context.Background(), OfflineView{C: c})
	if len(files) != 2 || files[0].Path != "/root/.kube/config" {
		t.Errorf("no user named: %+v, want root's home", files)
	}
}
