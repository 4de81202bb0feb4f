package phases

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// TestRoutesProbeScript runs the routes probe with ip stubbed: it prints
// the destinations of the routes file that have no route, skipping the
// header and blank lines, and prints nothing when there is no file.
func TestRoutesProbeScript(t *testing.T) {
	routes := filepath.Join(t.TempDir(), "routes")
	if err := os.WriteFile(routes, []byte("# Managed by kubeha\n\n10.244.1.0/24 via 10.0.0.2\n10.96.0.0/12 via 10.0.0.254 dev eth1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const ip = `"ip route show 10.244.1.0/24") echo '10.244.1.0/24 via 10.0.0.2 dev eth0' ;;
"ip route show "*) exit 0 ;;`
	for _, tc := range []struct {
		name, routes, stdout string
	}{
		{"one route missing", routes, "10.96.0.0/12\n"},
		{"no routes file", routes + ".absent", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWithStubs(t, scripts.Render("phases/routes-probe", struct{ Routes string }{tc.routes}), ip, "ip")
			if r.code != 0 || r.stdout != tc.stdout {
				t.Errorf("exit %d, stdout %q; want 0, %q (stderr %q)", r.code, r.stdout, tc.stdout, r.stderr)
			}
		})
	}
}

// TestRoutesUnitShell checks the shell program of the routes unit's
// ExecStart line, which no script test sees: it is a file, not a template.
func TestRoutesUnitShell(t *testing.T) {
	var prog string
	for _, l := range strings.Split(routesUnit, "\n") {
		if p, ok := strings.CutPrefix(l, "ExecStart=/bin/sh -c '"); ok {
			prog = strings.TrimSuffix(p, "'")
		}
	}
	if prog == "" || strings.Contains(prog, "'") {
		t.Fatalf("no ExecStart=/bin/sh -c '...' line, or a quote inside it:\n%s", routesUnit)
	}
	f := filepath.Join(t.TempDir(), "execstart.sh")
	if err := os.WriteFile(f, []byte(prog+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v\n%s", err, out)
	}
	// Run it, with ip stubbed to log its arguments, on a routes file with
	// routes and on one with none (a one-node bridge cluster: the header
	// and a blank line), which must succeed too.
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	if err := os.WriteFile(filepath.Join(dir, "ip"), []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, routes, want string }{
		{"routes", "# Managed by kubeha\n10.244.1.0/24 via 10.0.0.2\n10.96.0.0/12 dev eth1\n", "route replace 10.244.1.0/24 via 10.0.0.2\nroute replace 10.96.0.0/12 dev eth1\n"},
		{"no routes", "# Managed by kubeha\n\n", ""},
	} {
		routes := filepath.Join(dir, "routes")
		os.WriteFile(routes, []byte(tc.routes), 0o644)
		os.Remove(log)
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(prog, RoutesPath, routes))
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: the unit's command fails: %v\n%s", tc.name, err, out)
		}
		got, _ := os.ReadFile(log)
		if string(got) != tc.want {
			t.Errorf("%s: ip was run with\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck not installed")
	}
	if out, err := exec.Command("shellcheck", "-s", "sh", "-S", "warning", f).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// writtenHosts is a cluster whose every host is a finished control-plane
// node (the facts script's answer) and whose apiserver gives the nodes
// the Pod CIDRs cidrs (the answer to any script that reads .spec.podCIDR).
// It records, per host, the standard input of each command that has one
// (putFiles' file contents, in order) and the name of every other command.
type writtenHosts struct {
	cidrs   map[string]string
	mu      sync.Mutex
	written map[string]string
	names   map[string][]string
}

func (w *writtenHosts) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	switch {
	case cmd.Name == "is it a control-plane node":
		return ssh.Result{Stdout: "ready\n"}, nil
	case strings.Contains(cmd.Script, "adminconf="):
		return ssh.Result{Stdout: "init=systemd\nadminconf=1\ncpdone=1\nnodedone=1\n"}, nil
	case strings.Contains(cmd.Script, ".spec.podCIDR"):
		var b strings.Builder
		for n, c := range w.cidrs {
			fmt.Fprintf(&b, "%s %s\n", n, c)
		}
		return ssh.Result{Stdout: b.String()}, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cmd.Stdin != nil {
		b, _ := io.ReadAll(cmd.Stdin)
		w.written[host] += string(b)
		return ssh.Result{}, nil
	}
	w.names[host] = append(w.names[host], cmd.Name)
	return ssh.Result{}, nil
}
func (*writtenHosts) Upload(context.Context, string, ssh.File) error { return nil }
func (*writtenHosts) Download(context.Context, string, string) ([]byte, error) {
	return nil, nil
}

// writtenEnv is an Env for c whose hosts are hosts.
func writtenEnv(c *inventory.Cluster, hosts *writtenHosts) *Env {
	log := events.Emitter{Sink: events.Discard}
	return &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Concurrency: 4,
		ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, "").For(log),
		Log:          events.Emitter{Sink: events.Discard}, results: &hostResults{}}
}

// TestNetworkRunWritesWhatRenderShows runs the routes and cni phases
// against recorded hosts whose Pod CIDRs are known and requires each host
// to receive exactly the files kubeha render shows for it with the same
// Pod CIDRs: Run takes its files from Files.
func TestNetworkRunWritesWhatRenderShows(t *testing.T) {
	cidrs := map[string]string{"m1": "10.244.0.0/24", "m2": "10.244.1.0/24", "w1": "10.244.2.0/24"}
	cluster := func(cni inventory.CNI) *inventory.Cluster {
		return &inventory.Cluster{Spec: inventory.Spec{
			Hosts: []inventory.Host{
				{Name: "m1", Address: "10.0.0.1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster},
				{Name: "m2", Address: "10.0.0.2", InternalAddress: "10.0.0.2", Role: inventory.RoleMaster},
				{Name: "w1", Address: "10.0.0.3", InternalAddress: "10.0.0.3", Role: inventory.RoleWorker},
			},
			Network: inventory.Network{PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/12",
				PodRoutes: inventory.PodRoutes{Enabled: true, Gateway: "10.0.0.254"}},
			CNI: cni,
		}}
	}
	cases := []struct {
		name  string
		c     *inventory.Cluster
		phase interface {
			Phase
			FileRenderer
		}
		hosts []string
	}{
		{"routes", cluster(inventory.CNI{Plugin: inventory.CNIBridge}), ConfigureRoutes{}, []string{"m1", "m2", "w1"}},
		{"cni bridge", cluster(inventory.CNI{Plugin: inventory.CNIBridge}), InstallCNI{}, []string{"m1", "m2", "w1"}},
		{"cni manifest", cluster(inventory.CNI{Plugin: inventory.CNIManifest, Manifest: filepath.Join("testdata", "cni-manifest.yaml")}),
			InstallCNI{}, []string{"m1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hosts := &writtenHosts{cidrs: cidrs, written: map[string]string{}, names: map[string][]string{}}
			env := writtenEnv(tc.c, hosts)
			if err := tc.phase.Run(context.Background(), env, Work{Targets: tc.hosts, Pending: tc.hosts}); err != nil {
				t.Fatal(err)
			}
			files, err := tc.phase.Files(context.Background(), OfflineView{C: tc.c, CIDRs: cidrs})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, f := range files {
				want[f.Host] += string(f.Content)
			}
			if len(want) != len(tc.hosts) {
				t.Errorf("render shows files for %d hosts, want %d", len(want), len(tc.hosts))
			}
			for h, w := range want {
				if got := hosts.written[h]; got != w {
					t.Errorf("%s: Run wrote\n%s\nrender shows\n%s", h, got, w)
				}
			}
			for h := range hosts.written {
				if _, ok := want[h]; !ok {
					t.Errorf("Run wrote files on %s, render shows none there", h)
				}
			}
		})
	}
}

// TestNetworkFiles pins what render shows of the routes and cni phases:
// each node's routes and unit, each node's conflist on its Pod CIDR (a
// placeholder where the view has none), and the manifest, podSubnet
// substituted, on the first master only.
func TestNetworkFiles(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{
		Hosts: []inventory.Host{
			{Name: "m1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster},
			{Name: "m2", InternalAddress: "10.0.0.2", Role: inventory.RoleMaster},
			{Name: "lb1", InternalAddress: "10.0.0.9", Role: inventory.RoleLoadBalancer},
		},
		Network: inventory.Network{PodSubnet: "10.200.0.0/16", ServiceSubnet: "10.96.0.0/12"},
		CNI:     inventory.CNI{Plugin: inventory.CNIBridge},
	}}
	v := OfflineView{C: c, CIDRs: map[string]string{"m1": "10.200.0.0/24"}}
	ctx := context.Background()
	paths := func(files []HostFile) []string {
		var out []string
		for _, f := range files {
			out = append(out, f.Host+":"+f.Path)
		}
		return out
	}
	routes, err := ConfigureRoutes{}.Files(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(paths(routes), " "), "m1:"+RoutesPath+" m1:"+routesUnitPath+" m2:"+RoutesPath+" m2:"+routesUnitPath; got != want {
		t.Errorf("routes files: %s, want %s", got, want)
	}
	if !bytes.Contains(routes[0].Content, []byte(PodCIDRPlaceholder("m2")+" via 10.0.0.2\n")) {
		t.Errorf("m1's routes do not reach m2's placeholder CIDR:\n%s", routes[0].Content)
	}
	conf, err := InstallCNI{}.Files(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(paths(conf), " "), "m1:"+BridgeConfPath+" m2:"+BridgeConfPath; got != want {
		t.Errorf("cni files: %s, want %s", got, want)
	}
	if !bytes.Contains(conf[0].Content, []byte(`"10.200.0.0/24"`)) || !bytes.Contains(conf[1].Content, []byte(`"`+PodCIDRPlaceholder("m2")+`"`)) {
		t.Errorf("conflists:\n%s\n%s", conf[0].Content, conf[1].Content)
	}

	c.Spec.CNI = inventory.CNI{Plugin: inventory.CNIManifest, Manifest: filepath.Join("testdata", "cni-manifest.yaml")}
	if routes, _ := (ConfigureRoutes{}).Files(ctx, v); len(routes) != 0 {
		t.Errorf("a manifest CNI without podRoutes needs no routes, render shows %v", paths(routes))
	}
	conf, err = InstallCNI{}.Files(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(paths(conf), " "); got != "m1:"+manifestPath {
		t.Errorf("manifest files: %s", got)
	}
	if s := string(conf[0].Content); strings.Contains(s, "192.168.0.0/16") || strings.Contains(s, "10.244.0.0/16") || strings.Count(s, "10.200.0.0/16") != 2 {
		t.Errorf("the manifest's default CIDRs are not podSubnet:\n%s", s)
	}
}
