package wizard

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// Saving over the file the installer started from keeps the operator's
// comments on what is still in the inventory, writes what was changed on
// the screens, and keeps the file's mode; a file that is new when saved is
// 0600. The whole saved file is testdata/save/<case>.golden (go test
// ./tui/wizard -update rewrites them; review the diff).
func TestSaveKeepsCommentsAndMode(t *testing.T) {
	site, err := os.ReadFile("testdata/save/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mode os.FileMode // of the file before the save; 0: removed while the installer ran
		// hosts is done on the hosts screen before any key is accepted;
		// edit[step] on a screen before leaving it.
		hosts func(Model) Model
		edit  map[int]func(t *testing.T, m Model) Model
		want  func(c *inventory.Cluster) // the change to the file's cluster
	}{
		{name: "unchanged", mode: 0o644},
		{
			name: "fields changed",
			mode: 0o640,
			edit: map[int]func(*testing.T, Model) Model{
				StepCluster: func(t *testing.T, m Model) Model { return fill(t, m, "SSH user", "deploy") },
				StepLB:      func(t *testing.T, m Model) Model { return fill(t, m, "VIP", "10.0.0.101") },
				StepNetwork: func(t *testing.T, m Model) Model { return fill(t, m, "Pod subnet", "10.40.0.0/16") },
			},
			want: func(c *inventory.Cluster) {
				c.Spec.SSH.User = "deploy"
				c.Spec.LoadBalancer.VIP = "10.0.0.101"
				c.Spec.Network.PodSubnet = "10.40.0.0/16"
			},
		},
		{
			name: "copyToSSHUser on",
			mode: 0o644,
			edit: map[int]func(*testing.T, Model) Model{
				StepCluster: func(t *testing.T, m Model) Model { return press(focus(t, m, "SSH user's kubeconfig"), yes) },
			},
			want: func(c *inventory.Cluster) { c.Spec.AdminKubeconfig.CopyToSSHUser = true },
		},
		{
			name: "a host added",
			mode: 0o600,
			edit: map[int]func(*testing.T, Model) Model{
				StepHosts: func(t *testing.T, m Model) Model {
					m = fill(t, m, "name", "w1")
					m = fill(t, m, "address", "10.0.0.21")
					m = fill(t, m, "role", "worker")
					return acceptAll(press(m, enter))
				},
			},
			want: func(c *inventory.Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: "w1", Address: "10.0.0.21", InternalAddress: "10.0.0.21", Role: inventory.RoleWorker})
			},
		},
		{
			name:  "a host removed",
			mode:  0o644,
			hosts: func(m Model) Model { return press(m, no) }, // m2's key is the one shown
			want: func(c *inventory.Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts[:1:1], c.Spec.Hosts[2:]...)
			},
		},
		{
			name: "the file removed since the start: a new file, 0600",
			edit: map[int]func(*testing.T, Model) Model{
				StepLB: func(t *testing.T, m Model) Model { return fill(t, m, "VIP", "10.0.0.101") },
			},
			want: func(c *inventory.Cluster) { c.Spec.LoadBalancer.VIP = "10.0.0.101" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := inventory.Parse(site)
			if err != nil {
				t.Fatal(err)
			}
			want := c.DeepCopy()
			if tt.want != nil {
				tt.want(want)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "kubeha.yaml")
			if err := os.WriteFile(path, site, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			wantMode := tt.mode
			// m1 and m3 are in known_hosts; m2's key is shown to accept.
			fc := &fakeChecker{known: map[string]bool{"10.0.0.11": true, "10.0.0.13": true}}
			m := NewFrom(fc, path, c)
			if tt.mode == 0 {
				os.Remove(path)
				wantMode = 0o600
			}
			for m.Step() < StepReview {
				step := m.Step()
				if step == StepHosts && tt.hosts != nil {
					m = tt.hosts(m)
				}
				m = acceptAll(m)
				if e := tt.edit[step]; e != nil {
					m = e(t, m)
				}
				if m = press(m, enter); m.Step() == step {
					t.Fatalf("stuck on screen %s:\n%s", stepNames[step], m.View())
				}
			}
			if m = press(m, enter); !m.Saved() {
				t.Fatalf("not saved:\n%s", m.View())
			}

			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "save", strings.NewReplacer(" ", "-", ",", "", ":", "").Replace(tt.name)+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if wantFile, err := os.ReadFile(golden); err != nil {
				t.Errorf("no golden file (go test ./tui/wizard -update): %v", err)
			} else if !bytes.Equal(got, wantFile) {
				t.Errorf("saved file differs from %s:\n%s", golden, got)
			}
			if loaded, _, err := inventory.Parse(got); err != nil {
				t.Errorf("the saved file does not load: %v", err)
			} else if !reflect.DeepEqual(loaded, want) {
				t.Errorf("the saved file loads as\n%+v\nwant\n%+v", loaded.Spec, want.Spec)
			}
			if fi, err := os.Stat(path); err != nil {
				t.Error(err)
			} else if fi.Mode().Perm() != wantMode {
				t.Errorf("mode %#o, want %#o", fi.Mode().Perm(), wantMode)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the directory holds %v; want only kubeha.yaml (the temp file renamed over it)", entries)
			}
		})
	}
}
