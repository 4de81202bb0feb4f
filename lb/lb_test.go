package lb

import (
	"bytes"
	"flag"
	yaml "go.yaml.in/yaml/v3"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

func load(t *testing.T, path string) *inventory.Cluster {
	t.Helper()
	c, _, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// renderExample renders every LB file of an example with placeholder
// secrets and eth0 where the example names no interface.
func renderExample(t *testing.T, path string) []File {
	t.Helper()
	c := load(t, path)
	ifaces := Interfaces{}
	for _, h := range c.Spec.Hosts {
		ifaces[h.Name] = "eth0"
	}
	if c.Spec.LoadBalancer.Interface != "" {
		ifaces = nil
	}
	files, err := Derive(c, ifaces, Placeholders)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestGolden compares every rendered file of every example with
// testdata/golden/<example>/<host><path>. Run with -update to accept a
// deliberate change, then review the diff.
func TestGolden(t *testing.T) {
	examples, _ := filepath.Glob("../examples/*.yaml")
	for _, ex := range examples {
		name := strings.TrimSuffix(filepath.Base(ex), ".yaml")
		t.Run(name, func(t *testing.T) {
			files := renderExample(t, ex)
			root := filepath.Join("testdata", "golden", name)
			if *update {
				os.RemoveAll(root)
			}
			seen := map[string]bool{}
			for _, f := range files {
				p := filepath.Join(root, f.Host, f.Path)
				seen[p] = true
				if *update {
					os.MkdirAll(filepath.Dir(p), 0o755)
					if err := os.WriteFile(p, f.Content, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(p)
				if err != nil {
					t.Fatalf("%s: no golden file (run go test ./lb -update): %v", p, err)
				}
				if !bytes.Equal(want, f.Content) {
					t.Errorf("%s differs from golden:\n%s", p, f.Content)
				}
			}
			// No golden file may outlive what is rendered.
			filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() && !seen[p] {
					t.Errorf("stale golden file %s", p)
				}
				return nil
			})
		})
	}
}

func TestDeriveShapes(t *testing.T) {
	t.Run("masters: VRRP priorities spread, one MASTER, unicast peers", func(t *testing.T) {
		files := renderExample(t, "../examples/keepalived-haproxy.yaml")
		var prios []string
		for _, f := range files {
			if f.Path != KeepalivedConfigPath {
				continue
			}
			s := string(f.Content)
			for _, l := range strings.Split(s, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "priority ") {
					prios = append(prios, strings.TrimSpace(l))
				}
			}
			if strings.Contains(s, "unicast_peer {\n        "+hostAddr(t, "../examples/keepalived-haproxy.yaml", f.Host)) {
				t.Errorf("%s lists itself as a peer", f.Host)
			}
		}
		if strings.Join(prios, ",") != "priority 250,priority 210,priority 170" {
			t.Fatalf("priorities %v", prios)
		}
	})
	t.Run("dedicated: only LB hosts, haproxy on 6443, no local apiserver check", func(t *testing.T) {
		files := renderExample(t, "../examples/keepalived-haproxy-dedicated.yaml")
		hosts := map[string]bool{}
		for _, f := range files {
			hosts[f.Host] = true
			if f.Path == CheckScriptPath && strings.Contains(string(f.Content), "local apiserver") {
				t.Error("dedicated LB hosts have no apiserver to check")
			}
			if f.Path == HAProxyConfigPath && !strings.Contains(string(f.Content), "bind *:6443") {
				t.Error("dedicated haproxy should bind *:6443")
			}
		}
		if len(hosts) != 2 || !hosts["haproxy-1"] || !hosts["haproxy-2"] {
			t.Fatalf("files for %v", hosts)
		}
	})
	t.Run("local proxy: workers only when the port is 6443", func(t *testing.T) {
		files := renderExample(t, "../examples/local-proxy.yaml")
		for _, f := range files {
			if strings.HasPrefix(f.Host, "m") {
				t.Errorf("master %s got a proxy; it uses its own apiserver", f.Host)
			}
			if f.Path != NginxConfigPath {
				t.Errorf("unexpected file %s", f.Path)
			}
		}
		if len(files) != 2 {
			t.Fatalf("%d files, want 2 (the workers)", len(files))
		}
	})
	t.Run("missing interface is an error naming the host", func(t *testing.T) {
		c := load(t, "../examples/keepalived-haproxy.yaml")
		_, err := Derive(c, nil, Placeholders)
		if err == nil || !strings.Contains(err.Error(), "k1: no interface") {
			t.Fatalf("err %v", err)
		}
	})
}

func hostAddr(t *testing.T, inv, host string) string {
	c := load(t, inv)
	h, _ := c.Host(host)
	return h.InternalAddress
}

// TestRealProgramsAcceptRenderedFiles runs haproxy -c, keepalived -t and
// nginx -t on every rendered config, and sh -n on the check script.
func TestRealProgramsAcceptRenderedFiles(t *testing.T) {
	need := map[string]string{"haproxy": "/usr/sbin/haproxy", "keepalived": "/usr/sbin/keepalived", "nginx": "/usr/sbin/nginx"}
	for name, path := range need {
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing in CI (apt-get install haproxy keepalived nginx-light)", name)
			}
			t.Skipf("%s not installed", name)
		}
	}
	// keepalived checks that the VIP's interface exists: give it a host
	// that has the examples' eth0 and eth1: a veth pair in a namespace (this
	// kernel has no dummy links).
	ns := "kh-lbtest-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1").CombinedOutput(); err != nil {
		t.Fatalf("veth: %v %s", err, out)
	}
	examples, _ := filepath.Glob("../examples/*.yaml")
	checked := 0
	for _, ex := range examples {
		for _, f := range renderExample(t, ex) {
			dir := t.TempDir()
			p := filepath.Join(dir, filepath.Base(f.Path))
			content := f.Content
			if f.Path == KeepalivedConfigPath {
				// Point the track script at a real executable file, as on a host.
				script := filepath.Join(dir, "check_apiserver.sh")
				os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755)
				content = bytes.ReplaceAll(content, []byte(CheckScriptPath), []byte(script))
			}
			os.WriteFile(p, content, 0o600)
			var cmd *exec.Cmd
			switch f.Path {
			case HAProxyConfigPath:
				cmd = exec.Command("haproxy", "-c", "-f", p)
			case KeepalivedConfigPath:
				cmd = exec.Command("ip", "netns", "exec", ns, "keepalived", "-t", "-f", p, "-n", "-l", "-D")
			case NginxConfigPath:
				cmd = exec.Command("nginx", "-t", "-c", p, "-p", dir, "-e", "stderr")
			case CheckScriptPath:
				cmd = exec.Command("sh", "-n", p)
			case HAProxyManifestPath, KeepalivedManifestPath:
				// The manifest's own command line, run by the real program
				// in check mode against the config it mounts.
				cmd = manifestCheck(t, ns, content, renderExample(t, ex), f.Host, dir)
			default:
				t.Fatalf("no checker for %s", f.Path)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s %s %s rejected: %v\n%s\n--- file:\n%s", filepath.Base(ex), f.Host, f.Path, err, out, content)
			}
			if f.Path == KeepalivedConfigPath && bytes.Contains(out, []byte("WARNING")) {
				t.Errorf("%s %s: keepalived warns:\n%s", filepath.Base(ex), f.Host, out)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d files checked", checked)
	}
	t.Logf("%d rendered files accepted by the real programs", checked)
}

// manifestCheck returns the static pod's command in check mode (-c for
// haproxy, -t for keepalived), with the files it mounts written to dir.
func manifestCheck(t *testing.T, ns string, manifest []byte, files []File, host, dir string) *exec.Cmd {
	t.Helper()
	var pod struct {
		Spec struct {
			Containers []struct {
				Command      []string
				VolumeMounts []struct {
					Name      string
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
			}
			Volumes []struct {
				Name     string
				HostPath struct{ Path string } `yaml:"hostPath"`
			}
		}
	}
	if err := yaml.Unmarshal(manifest, &pod); err != nil || len(pod.Spec.Containers) != 1 {
		t.Fatalf("manifest: %v\n%s", err, manifest)
	}
	c := pod.Spec.Containers[0]
	args := append([]string(nil), c.Command...)
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			for _, f := range files {
				if f.Host == host && f.Path == v.HostPath.Path {
					local := filepath.Join(dir, "mnt"+strings.ReplaceAll(m.MountPath, "/", "_"))
					content := f.Content
					if f.Path == KeepalivedConfigPath {
						content = bytes.ReplaceAll(content, []byte(CheckScriptPath), []byte(filepath.Join(dir, "mnt"+strings.ReplaceAll(CheckScriptPath, "/", "_"))))
					}
					os.WriteFile(local, content, 0o755)
					for i, a := range args {
						args[i] = strings.ReplaceAll(a, m.MountPath, local)
					}
				}
			}
		}
	}
	switch args[0] {
	case "haproxy":
		return exec.Command("haproxy", append(args[1:], "-c")...)
	case "keepalived":
		return exec.Command("ip", append([]string{"netns", "exec", ns, "keepalived", "-t", "-l", "-D"}, args[1:]...)...)
	}
	t.Fatalf("unknown static pod command %v", args)
	return nil
}
