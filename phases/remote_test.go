package phases

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
)

// localShell runs each script with this machine's /bin/sh: the scripts and
// their parsing are what is under test, not the transport.
type localShell struct{ runs int }

func (l *localShell) Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	l.runs++
	out, err := exec.CommandContext(ctx, "sh", "-c", cmd.Script).Output()
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
	env := &Env{Cluster: c, Hosts: sh, Shared: &Shared{}}

	// The extra script's output is kept byte for byte, including a line
	// that looks like nothing special and a trailing newline.
	p, err := env.probeHost(context.Background(), "h1", files, "printf 'line one\\n# BEGIN kubeha\\n'")
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
	if env.Shared.Facts.known("h1") != p.Facts {
		t.Fatal("facts gathered by a probe are kept for the run")
	}

	// Facts known: the second probe does not gather them again.
	sh.runs = 0
	p2, err := env.probeHost(context.Background(), "h1", files[:1], "")
	if err != nil || sh.runs != 1 || p2.Facts != p.Facts || len(p2.Differ) != 0 || p2.Extra != "" {
		t.Fatalf("second probe: %+v %v runs=%d", p2, err, sh.runs)
	}
}
