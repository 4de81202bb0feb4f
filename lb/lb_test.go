package lb

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

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
	files, err := Derive(c, ifaces, Placeholders, BeforeInit)
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
		_, err := Derive(c, nil, Placeholders, BeforeInit)
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
			case KubeVIPManifestPath:
				// No kube-vip here to run, and it has no check mode:
				// TestKubeVIPManifest checks its environment against the
				// variables kube-vip reads, and
				// TestManifestsMatchKubernetesSchema the pod.
				continue
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

// kubeVIPPod is what TestKubeVIPManifest reads of a kube-vip manifest.
type kubeVIPPod struct {
	Metadata struct {
		Labels      map[string]string
		Annotations map[string]string
	}
	Spec struct {
		HostNetwork bool `yaml:"hostNetwork"`
		HostAliases []struct {
			IP        string
			Hostnames []string
		} `yaml:"hostAliases"`
		Containers []struct {
			Image string
			Args  []string
			Env   []struct {
				Name      string
				Value     string
				ValueFrom *struct {
					FieldRef struct {
						FieldPath string `yaml:"fieldPath"`
					} `yaml:"fieldRef"`
				} `yaml:"valueFrom"`
			}
			SecurityContext struct {
				Capabilities struct{ Add, Drop []string }
			} `yaml:"securityContext"`
			VolumeMounts []struct {
				Name      string
				MountPath string `yaml:"mountPath"`
			} `yaml:"volumeMounts"`
		}
		Volumes []struct {
			Name     string
			HostPath struct{ Path, Type string } `yaml:"hostPath"`
		}
	}
}

// kubeconfig is the host file mounted where kube-vip reads its kubeconfig.
func (p kubeVIPPod) kubeconfig() string {
	for _, m := range p.Spec.Containers[0].VolumeMounts {
		for _, v := range p.Spec.Volumes {
			if v.Name == m.Name && m.MountPath == "/etc/kubernetes/admin.conf" {
				return v.HostPath.Path
			}
		}
	}
	return ""
}

func (p kubeVIPPod) env() map[string]string {
	out := map[string]string{}
	for _, e := range p.Spec.Containers[0].Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		}
		out[e.Name] = v
	}
	return out
}

// kubeVIPEnvNames are the environment variables kube-vip v1.2.3 reads
// (testdata/kube-vip-v1.2.3-env.txt, from kube-vip's source).
func kubeVIPEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("testdata/kube-vip-v1.2.3-env.txt")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			names[l] = true
		}
	}
	return names
}

// TestKubeVIPManifest: every master runs kube-vip holding the VIP on the
// interface of its internal address, in ARP mode with leader election and
// the control-plane VIP on the apiserver's port; only the first master
// reads super-admin.conf, and only before kubeadm init has finished. Every
// variable set is one kube-vip reads, with a value it parses.
func TestKubeVIPManifest(t *testing.T) {
	if inventory.DefaultKubeVIPImage != "ghcr.io/kube-vip/kube-vip:v1.2.3" {
		t.Fatalf("the default image moved to %s: regenerate testdata/kube-vip-v1.2.3-env.txt from that release", inventory.DefaultKubeVIPImage)
	}
	known := kubeVIPEnvNames(t)
	c := load(t, "../examples/kube-vip.yaml")
	ifaces := Interfaces{"master-1": "eth1", "master-2": "eth1", "master-3": "ens3"}
	derive := func(stage Stage) map[string][]byte {
		files, err := Derive(c, ifaces, Placeholders, stage)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Derive(c, ifaces, Placeholders, stage)
		out := map[string][]byte{}
		for i, f := range files {
			if f.Path != KubeVIPManifestPath || f.Mode != 0o600 {
				t.Fatalf("%s: unexpected file %s mode %o", f.Host, f.Path, f.Mode)
			}
			if !bytes.Equal(f.Content, again[i].Content) {
				t.Errorf("%s: two renderings differ: a rerun would restart kube-vip", f.Host)
			}
			out[f.Host] = f.Content
		}
		return out
	}
	before, after := derive(BeforeInit), derive(Initialised)
	if len(before) != 3 || len(after) != 3 {
		t.Fatalf("manifests for %d and %d hosts, want the 3 masters", len(before), len(after))
	}
	tests := []struct {
		name, host, iface, kubeconfig string
		manifest                      []byte
	}{
		{"first master during init", "master-1", "eth1", SuperAdminConf, before["master-1"]},
		{"first master after init", "master-1", "eth1", AdminConf, after["master-1"]},
		{"second master during init", "master-2", "eth1", AdminConf, before["master-2"]},
		{"third master after init", "master-3", "ens3", AdminConf, after["master-3"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p kubeVIPPod
			if err := yaml.Unmarshal(tt.manifest, &p); err != nil || len(p.Spec.Containers) != 1 {
				t.Fatalf("manifest: %v\n%s", err, tt.manifest)
			}
			if got := p.kubeconfig(); got != tt.kubeconfig {
				t.Errorf("kubeconfig %q, want %q", got, tt.kubeconfig)
			}
			ct := p.Spec.Containers[0]
			if ct.Image != inventory.DefaultKubeVIPImage || strings.Join(ct.Args, " ") != "manager" {
				t.Errorf("image %s args %v", ct.Image, ct.Args)
			}
			want := map[string]string{
				"vip_arp": "true", "port": "6443", "vip_nodename": "fieldRef:spec.nodeName", "vip_interface": tt.iface,
				"vip_subnet": "32", "cp_enable": "true", "cp_namespace": "kube-system", "vip_leaderelection": "true",
				"vip_leasename": "plndr-cp-lock", "vip_leaseduration": "5", "vip_renewdeadline": "3", "vip_retryperiod": "1",
				"address": "192.168.20.150", "prometheus_server": ":2112",
			}
			env := p.env()
			if len(env) != len(ct.Env) {
				t.Errorf("a variable is set twice: %v", ct.Env)
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s=%q, want %q", k, env[k], v)
				}
			}
			for k, v := range env {
				if !known[k] {
					t.Errorf("%s: kube-vip v1.2.3 reads no such variable", k)
				}
				if _, ok := want[k]; !ok {
					t.Errorf("%s=%s set, not expected", k, v)
				}
			}
			// kube-vip parses these with strconv: a value it refuses stops it.
			for _, k := range []string{"vip_arp", "cp_enable", "vip_leaderelection"} {
				if _, err := strconv.ParseBool(env[k]); err != nil {
					t.Errorf("%s: %v", k, err)
				}
			}
			for _, k := range []string{"port", "vip_leaseduration", "vip_renewdeadline", "vip_retryperiod"} {
				if n, err := strconv.ParseUint(env[k], 10, 16); err != nil || n == 0 {
					t.Errorf("%s: %q: %v", k, env[k], err)
				}
			}
			caps := ct.SecurityContext.Capabilities
			if strings.Join(caps.Add, ",") != "NET_ADMIN,NET_RAW" || strings.Join(caps.Drop, ",") != "ALL" {
				t.Errorf("capabilities %+v", caps)
			}
			if !p.Spec.HostNetwork || len(p.Spec.HostAliases) != 1 || p.Spec.HostAliases[0].IP != "127.0.0.1" ||
				strings.Join(p.Spec.HostAliases[0].Hostnames, ",") != "kubernetes" {
				t.Errorf("hostNetwork %v hostAliases %+v: kube-vip must reach its own apiserver as kubernetes:6443", p.Spec.HostNetwork, p.Spec.HostAliases)
			}
			if p.Metadata.Labels["app.kubernetes.io/managed-by"] != "kubeha" || len(p.Metadata.Annotations["kubeha.io/config-hash"]) != 16 {
				t.Errorf("labels %v annotations %v", p.Metadata.Labels, p.Metadata.Annotations)
			}
		})
	}
	// The switch after init changes the first master's kubeconfig and
	// nothing else: with the same interface its manifest is then the
	// second master's, byte for byte.
	if !bytes.Equal(after["master-1"], before["master-2"]) || !bytes.Equal(after["master-2"], before["master-2"]) {
		t.Errorf("after init the first master's manifest differs from the others':\n%s\n---\n%s", after["master-1"], before["master-2"])
	}
	var diff []string
	b, a := strings.Split(string(before["master-1"]), "\n"), strings.Split(string(after["master-1"]), "\n")
	for i := range b {
		if b[i] != a[i] {
			diff = append(diff, strings.TrimSpace(a[i]))
		}
	}
	if len(diff) != 2 || !strings.HasPrefix(diff[0], "kubeha.io/config-hash: ") || diff[1] != "path: "+AdminConf {
		t.Errorf("init changed more than the config hash and the kubeconfig's path: %q", diff)
	}
}
