package phases

import (
	"os"
	"os/exec"
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
	} {
		f := dir + "/hosts"
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		script := strings.ReplaceAll(readHostsBlock, "/etc/hosts", f)
		got, err := exec.Command("sh", "-c", script).Output()
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
}
