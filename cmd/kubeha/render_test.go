package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
)

// TestWithLoginUsers: every host of the copy names the user kubeha logs in
// to it as, in resolve's order (the host's own, spec.ssh, ~/.ssh/config,
// root), and the inventory itself is left as it was.
func TestWithLoginUsers(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{Hosts: []inventory.Host{
		{Name: "m1", Address: "10.0.0.1", SSH: &inventory.HostSSH{User: "ubuntu"}},
		{Name: "m2", Address: "10.0.0.2"},
		{Name: "m3", Address: "10.0.0.3", SSH: &inventory.HostSSH{Port: 2222}},
	}}}
	sc := fakeSSHConfig{"10.0.0.2": {"User": {"ops"}}}
	tests := []struct {
		name, shared string
		want         []string
	}{
		{"no spec.ssh.user", "", []string{"ubuntu", "ops", "root"}},
		{"spec.ssh.user", "admin", []string{"ubuntu", "admin", "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Spec.SSH.User = tt.shared
			before := c.DeepCopy()
			got := withLoginUsers(c, sc)
			for i, h := range got.Spec.Hosts {
				if h.SSH == nil || h.SSH.User != tt.want[i] {
					t.Errorf("%s: %+v, want user %s", h.Name, h.SSH, tt.want[i])
				}
			}
			if got.Spec.Hosts[2].SSH.Port != 2222 {
				t.Errorf("m3 lost its port: %+v", got.Spec.Hosts[2].SSH)
			}
			if c.Spec.Hosts[1].SSH != nil || c.Spec.Hosts[0].SSH.User != before.Spec.Hosts[0].SSH.User {
				t.Error("withLoginUsers changed the inventory it was given")
			}
		})
	}
}

// TestRenderShowsTheSSHUsersKubeconfig: with spec.adminKubeconfig.
// copyToSSHUser, kubeha render writes on each master, at the SSH user's
// ~/.kube/config, a 0600 placeholder that holds no credential; without
// it, nothing there.
func TestRenderShowsTheSSHUsersKubeconfig(t *testing.T) {
	render := func(t *testing.T, inv []byte) string {
		t.Helper()
		dir := t.TempDir()
		p, out := filepath.Join(dir, "kubeha.yaml"), filepath.Join(dir, "out")
		if err := os.WriteFile(p, inv, 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"render", "-i", p, "-o", out}, nil, &stdout, &stderr, defaultApp()); code != 0 {
			t.Fatalf("render: %d %s %s", code, stdout.String(), stderr.String())
		}
		return out
	}
	on := strings.NewReplacer("    user: root ", "    user: alice", "copyToSSHUser: false", "copyToSSHUser: true").Replace(string(inventory.Example))
	if !strings.Contains(on, "user: alice") || !strings.Contains(on, "copyToSSHUser: true") {
		t.Fatal("the example names no ssh user or no copyToSSHUser to replace")
	}
	out := render(t, []byte(on))
	for _, h := range []string{"k1", "k2", "k3"} {
		p := filepath.Join(out, h, "home", "alice", ".kube", "config")
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", h, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		if b, _ := os.ReadFile(p); !strings.HasPrefix(string(b), "# kubeha render: a placeholder") || strings.Contains(string(b), "client-key-data") {
			t.Errorf("%s is not the placeholder:\n%s", p, b)
		}
	}
	for _, h := range []string{"k4", "k5", "k6"} {
		if _, err := os.Stat(filepath.Join(out, h, "home")); !os.IsNotExist(err) {
			t.Errorf("worker %s has a kubeconfig: %v", h, err)
		}
	}
	out = render(t, inventory.Example)
	if matches, _ := filepath.Glob(filepath.Join(out, "*", "root", ".kube")); len(matches) != 0 {
		t.Errorf("rendered with the option off: %v", matches)
	}
}
