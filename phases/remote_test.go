package phases

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// localShell runs each script with this machine's /bin/sh: the scripts and
// their parsing are what is under test, not the transport.
type localShell struct{ runs int }

func (l *localShell) Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	l.runs++
	c := exec.CommandContext(ctx, "sh", "-c", cmd.Script)
	c.Stdin = cmd.Stdin
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return ssh.Result{Stdout: string(out)}, err
}
func (l *localShell) Upload(context.Context, string, ssh.File) error { panic("not used") }
func (l *localShell) Download(context.Context, string, string) ([]byte, error) {
	panic("not used")
}

func TestProbeHostOneCommand(t *testing.T) {
	dir := t.TempDir()
	same, differs, absent := filepath.Join(dir, "same"), filepath.Join(dir, "differs"), filepath.Join(dir, "absent")
	os.WriteFile(same, []byte("a\n"), 0o644)
	os.WriteFile(differs, []byte("old\n"), 0o644)
	files := []fileSpec{{Path: same, Content: []byte("a\n")}, {Path: differs, Content: []byte("new\n")}, {Path: absent, Content: []byte("x")}}

	c := &inventory.Cluster{}
	c.Spec.Hosts = []inventory.Host{{Name: "h1", InternalAddress: "127.0.0.1"}}
	sh := &localShell{}
	env := &Env{Cluster: c, Hosts: sh, Facts: &FactStore{}}

	// The extra script's output is kept byte for byte, including a line
	// that looks like nothing special and a trailing newline.
	p, err := env.probe(context.Background(), "h1", files, scripts.Render("scripts-test/print", struct{ Lines []string }{[]string{"line one", "# BEGIN kubeha"}}))
	if err != nil {
		t.Fatal(err)
	}
	if sh.runs != 1 {
		t.Fatalf("%d commands, want 1", sh.runs)
	}
	if want := []string{differs, absent}; !reflect.DeepEqual(p.Differ, want) {
		t.Fatalf("differ %v, want %v", p.Differ, want)
	}
	if p.Extra != "line one\n# BEGIN kubeha\n" {
		t.Fatalf("extra %q", p.Extra)
	}
	if p.Facts == nil || p.Facts.Interface != "lo" || !p.Facts.HasAddress {
		t.Fatalf("facts %+v: 127.0.0.1 is on lo", p.Facts)
	}
	if env.Facts.known("h1") != p.Facts {
		t.Fatal("facts gathered by a probe are kept for the run")
	}

	// Facts known: the second probe does not gather them again.
	sh.runs = 0
	p2, err := env.probe(context.Background(), "h1", files[:1], scripts.Script{})
	if err != nil || sh.runs != 1 || p2.Facts != p.Facts || len(p2.Differ) != 0 || p2.Extra != "" {
		t.Fatalf("second probe: %+v %v runs=%d", p2, err, sh.runs)
	}

	// A template's extra.
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n# BEGIN kubeha\n10.0.0.10 api\n# END kubeha\n"), 0o644)
	p4, err := env.probe(context.Background(), "h1", files[:1], readHostsBlockIn(hosts))
	if err != nil || p4.Extra != "# BEGIN kubeha\n10.0.0.10 api\n# END kubeha\n" || len(p4.Differ) != 0 {
		t.Fatalf("template extra: %+v %v", p4, err)
	}
}

// Small files go in one command: new and changed files are written with
// their mode, an unchanged one is left alone (same inode), and a full disk
// leaves the old file, no temporary file, and says so.
func TestPutSmallFiles(t *testing.T) {
	dir := t.TempDir()
	same, changed, fresh := filepath.Join(dir, "same"), filepath.Join(dir, "changed"), filepath.Join(dir, "sub", "fresh")
	os.WriteFile(same, []byte("same\n"), 0o644)
	os.WriteFile(changed, []byte("old\n"), 0o644)
	before, _ := os.Stat(same)
	c := &inventory.Cluster{}
	c.Spec.Hosts = []inventory.Host{{Name: "h1"}}
	sh := &localShell{}
	env := &Env{Cluster: c, Hosts: sh, Facts: &FactStore{}, Log: events.Emitter{Sink: events.Discard}}
	got, err := env.putFiles(context.Background(), "h1", []fileSpec{
		{Path: same, Mode: 0o644, Content: []byte("same\n")},
		{Path: changed, Mode: 0o600, Content: []byte("new\n")},
		{Path: fresh, Mode: 0o640, Content: []byte("fresh\n")},
	})
	if err != nil || sh.runs != 1 || !reflect.DeepEqual(got, []string{changed, fresh}) {
		t.Fatalf("changed %v, %v, %d commands", got, err, sh.runs)
	}
	for p, want := range map[string]string{same: "same\n", changed: "new\n", fresh: "fresh\n"} {
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s: %q", p, b)
		}
	}
	if fi, _ := os.Stat(changed); fi.Mode().Perm() != 0o600 {
		t.Errorf("changed: mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o640 {
		t.Errorf("fresh: mode %v", fi.Mode().Perm())
	}
	if after, _ := os.Stat(same); !os.SameFile(before, after) {
		t.Error("an unchanged file was replaced")
	}

	// A full disk.
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", full).Run() })
	cfg := filepath.Join(full, "haproxy.cfg")
	os.WriteFile(cfg, []byte("old\n"), 0o644)
	exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(full, "fill"), "bs=4k").Run()
	_, err = env.putFiles(context.Background(), "h1", []fileSpec{{Path: cfg, Content: []byte(strings.Repeat("x", 3000))}})
	if err == nil || !strings.Contains(err.Error(), "not enough disk space in "+full) {
		t.Fatalf("want a full-disk error naming the directory, got %v", err)
	}
	if b, _ := os.ReadFile(cfg); string(b) != "old\n" {
		t.Fatalf("the old file changed: %q", b)
	}
	if entries, _ := os.ReadDir(full); len(entries) != 2 {
		t.Fatalf("a temporary file was left: %v", entries)
	}
}
