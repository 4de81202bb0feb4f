package phases

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
)

// cannedHosts answers every command with the same output: enough to test
// how runtimeMatches reads containerd's settings.
type cannedHosts struct{ out string }

func (c cannedHosts) Run(context.Context, string, ssh.Command) (ssh.Result, error) {
	return ssh.Result{Stdout: c.out}, nil
}
func (cannedHosts) Upload(context.Context, string, ssh.File) error { return nil }
func (cannedHosts) Download(context.Context, string, string) ([]byte, error) {
	return nil, nil
}

func TestRuntimeMatches(t *testing.T) {
	const images = "registry.k8s.io/pause:3.10.2\nregistry.k8s.io/etcd:3.7.0-0\n"
	tests := []struct {
		name, conf, driver, wantErr string
	}{
		{"matching", "    SystemdCgroup = false\n    sandbox_image = \"registry.k8s.io/pause:3.10.2\"\n", "cgroupfs", ""},
		{"systemd both", "    SystemdCgroup = true\n    sandbox_image = \"registry.k8s.io/pause:3.10.2\"\n", "", ""},
		{"driver mismatch", "    SystemdCgroup = false\n", "", "containerd uses the cgroupfs cgroup driver, the kubelet systemd"},
		{"sandbox image absent", "    SystemdCgroup = true\n    sandbox_image = \"registry.k8s.io/pause:3.6\"\n", "", "sandbox image registry.k8s.io/pause:3.6 is not on this host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &inventory.Cluster{}
			if tt.driver != "" {
				c.Spec.Kubeadm.KubeletConfiguration = map[string]any{"cgroupDriver": tt.driver}
			}
			out := "@@kubeha-section config\n" + tt.conf + "@@kubeha-section images\n" + images
			env := &Env{Cluster: c, Hosts: cannedHosts{out: out}, Log: events.Emitter{Sink: events.Discard}}
			err := runtimeMatches(context.Background(), env, "n1")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("want %q, got %v", tt.wantErr, err)
			}
		})
	}
}

// hostState runs the probe script and reads it: a target whose sha256
// differs or that is absent is to upload, and an image tarball is to import
// unless containerd has every image it holds (this machine's ctr, if any,
// has none of these).
func TestHostState(t *testing.T) {
	dir := t.TempDir()
	same, differs, absent := filepath.Join(dir, "same"), filepath.Join(dir, "differs"), filepath.Join(dir, "absent")
	os.WriteFile(same, []byte("a\n"), 0o644)
	os.WriteFile(differs, []byte("old\n"), 0o644)
	m := &bundle.Manifest{Files: []bundle.File{
		{Path: "bin/same", Target: same, SHA256: sha256Hex([]byte("a\n"))},
		{Path: "bin/differs", Target: differs, SHA256: sha256Hex([]byte("new\n"))},
		{Path: "bin/absent", Target: absent, SHA256: sha256Hex([]byte("x"))},
		{Path: "images/x.tar", Kind: bundle.KindImage, Images: []string{"example.invalid/x:1"}},
	}}
	c := &inventory.Cluster{}
	c.Spec.Hosts = []inventory.Host{{Name: "n1"}}
	env := &Env{Cluster: c, Hosts: &localShell{}, Facts: &FactStore{}}
	files, images, err := (&InstallArtifacts{}).hostState(context.Background(), env, "n1", m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range append(files, images...) {
		got = append(got, f.Path)
	}
	if want := []string{"bin/differs", "bin/absent", "images/x.tar"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("to install %v, want %v", got, want)
	}
}
