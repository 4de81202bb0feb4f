package phases

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
)

// HostPrepScript is what benchmarks hand to other tools: it must be valid
// shell and do each of host-prep's steps.
func TestHostPrepScript(t *testing.T) {
	c, _, err := inventory.Parse(inventory.Example)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range c.Spec.Hosts {
		s := HostPrepScript(c, h, inventory.ProxyModeIPTables)
		if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Fatalf("%s: sh -n: %v\n%s", h.Name, err, out)
		}
		for _, want := range []string{SysctlPath, ModulesPath, "swapoff", "sysctl -q -p", hostsBegin, c.Spec.ControlPlaneEndpoint.Name} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: script lacks %q", h.Name, want)
			}
		}
	}
}

// readHostsBlock must print what sed's range printed before it: the probe
// compares it byte for byte with the block kubeha writes.
func TestReadHostsBlockMatchesSed(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{
		"127.0.0.1 localhost\n",
		"127.0.0.1 localhost\n# BEGIN kubeha\n10.0.0.10 api\n# END kubeha\n::1 ip6\n",
		"a\n# BEGIN kubeha\n  spaced  \\ back\n# END kubeha\n# BEGIN kubeha\nx\n# END kubeha\n",
		"a\n# BEGIN kubeha\nnever ended\n",
	} {
		f := dir + "/hosts"
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command("sh", "-c", readHostsBlockIn(f).String()).Output()
		if err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command("sed", "-n", "/^"+hostsBegin+"$/,/^"+hostsEnd+"$/p", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("hosts %q: shell printed %q, sed %q", content, got, want)
		}
	}
	got, err := exec.Command("sh", "-c", readHostsBlockIn(dir+"/absent").String()).CombinedOutput()
	if err != nil || len(got) != 0 {
		t.Errorf("no hosts file: %v %q, want nothing", err, got)
	}
}

// setHostsBlock replaces kubeha's block, or adds or removes it, and leaves
// every other line as it was; it writes nothing when the block is already
// right.
func TestSetHostsBlock(t *testing.T) {
	const block = hostsBegin + "\n10.0.0.10 api\n" + hostsEnd + "\n"
	tests := []struct {
		name, before, block, after string
		writes                     bool
	}{
		{"added", "127.0.0.1 localhost\n", block, "127.0.0.1 localhost\n" + block, true},
		{"replaced", "a\n" + hostsBegin + "\n10.0.0.9 api\n" + hostsEnd + "\nb\n", block, "a\nb\n" + block, true},
		{"every old block goes", hostsBegin + "\nx\n" + hostsEnd + "\na\n" + hostsBegin + "\ny\n" + hostsEnd + "\n", block, "a\n" + block, true},
		{"unchanged", "a\n" + block, block, "a\n" + block, false},
		{"removed", "a\n" + block + "b\n", "", "a\nb\n", true},
		{"nothing to remove", "a\n", "", "a\n", false},
		{"last line without a newline", "a  \\ b", block, "a  \\ b\n" + block, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := t.TempDir() + "/hosts"
			if err := os.WriteFile(f, []byte(tt.before), 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(f)
			out, err := exec.Command("sh", "-c", setHostsBlockIn(f, tt.block).String()).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got, _ := os.ReadFile(f); string(got) != tt.after {
				t.Errorf("hosts file %q, want %q", got, tt.after)
			}
			after, _ := os.Stat(f)
			if wrote := !os.SameFile(before, after); wrote != tt.writes || strings.Contains(string(out), "updated") != tt.writes {
				t.Errorf("wrote %v (output %q), want %v", wrote, out, tt.writes)
			}
			if after.Mode().Perm() != 0o644 {
				t.Errorf("mode %v", after.Mode().Perm())
			}
			if entries, _ := os.ReadDir(filepath.Dir(f)); len(entries) != 1 {
				t.Errorf("temporary files left: %v", entries)
			}
		})
	}
}

// fallbackView is render's view of a cluster whose nodes lack ip_vs.
type fallbackView struct{ OfflineView }

func (fallbackView) ProxyMode(context.Context) (string, error) {
	return inventory.ProxyModeIPTables, nil
}

// Files is the desired state in the view's kube-proxy mode, which is what
// Probe and Run write: the modules file names no ip_vs module when the
// view falls back to iptables.
func TestPrepareHostsFilesFollowTheViewsProxyMode(t *testing.T) {
	c, _, err := inventory.Load("../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Spec.Network.KubeProxyMode = inventory.ProxyModeIPVS
	for _, tt := range []struct {
		name string
		v    View
		ipvs bool
	}{
		{"inventory's mode", OfflineView{C: c}, true},
		{"fallback", fallbackView{OfflineView{C: c}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files, err := PrepareHosts{}.Files(context.Background(), tt.v)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				h, _ := c.Host(f.Host)
				if f.Path != ModulesPath || h.Role == inventory.RoleLoadBalancer {
					continue
				}
				if got := strings.Contains(string(f.Content), "ip_vs"); got != tt.ipvs {
					t.Errorf("%s: ip_vs in the modules file: %v, want %v:\n%s", f.Host, got, tt.ipvs, f.Content)
				}
			}
		})
	}
}

// Where the hosts file is a bind mount (containers), a rename cannot replace
// it: setHostsBlock writes it in place.
func TestSetHostsBlockOnABindMount(t *testing.T) {
	dir := t.TempDir()
	src, f := filepath.Join(dir, "src"), filepath.Join(dir, "hosts")
	os.WriteFile(src, []byte("127.0.0.1 localhost\n"), 0o644)
	os.WriteFile(f, nil, 0o644)
	if out, err := exec.Command("mount", "--bind", src, f).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount a file: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", f).Run() })
	block := hostsBegin + "\n10.0.0.10 api\n" + hostsEnd + "\n"
	if out, err := exec.Command("sh", "-c", setHostsBlockIn(f, block).String()).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, _ := os.ReadFile(src); string(got) != "127.0.0.1 localhost\n"+block {
		t.Errorf("the mounted file holds %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestSysctlFile: ip_nonlocal_bind is set where haproxy binds the VIP's
// port without holding the VIP (keepalived-haproxy's holders), and nowhere
// else: kube-vip binds nothing on the VIP, it only adds it to an
// interface; every node forwards and bridges.
func TestSysctlFile(t *testing.T) {
	for _, tt := range []struct {
		example, host string
		nonlocal      bool
	}{
		{"keepalived-haproxy.yaml", "k1", true},
		{"keepalived-haproxy.yaml", "k4", false},
		{"keepalived-haproxy-static-pods.yaml", "master-1", true},
		{"kube-vip.yaml", "master-1", false},
		{"kube-vip.yaml", "node-1", false},
		{"local-proxy.yaml", "w1", false},
	} {
		t.Run(tt.example+" "+tt.host, func(t *testing.T) {
			c, _, err := inventory.Load("../examples/" + tt.example)
			if err != nil {
				t.Fatal(err)
			}
			h, ok := c.Host(tt.host)
			if !ok {
				t.Fatalf("no host %s", tt.host)
			}
			s := string(sysctlFile(c, h))
			if got := strings.Contains(s, "net.ipv4.ip_nonlocal_bind = 1"); got != tt.nonlocal {
				t.Errorf("ip_nonlocal_bind %v, want %v:\n%s", got, tt.nonlocal, s)
			}
			if !strings.Contains(s, "net.ipv4.ip_forward = 1") {
				t.Errorf("no ip_forward:\n%s", s)
			}
		})
	}
}
