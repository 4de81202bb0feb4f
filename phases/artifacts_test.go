package phases

import (
	"context"
	"strings"
	"testing"

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
			env := &Env{Cluster: c, Hosts: cannedHosts{out: tt.conf + "---\n" + images}, Log: events.Emitter{Sink: events.Discard}}
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
