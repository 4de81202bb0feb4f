package phases

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
)

// manifestHosts is writtenHosts whose facts say, per host, whether the
// distribution's CNI plugins still need linking into /opt/cni/bin (until
// the link script has run there), and whose file hashes are hashes.
type manifestHosts struct {
	*writtenHosts
	mu       sync.Mutex
	unlinked map[string]bool
	hashes   map[string]string // host: the hash-files output
}

func (m *manifestHosts) Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	m.mu.Lock()
	switch {
	case strings.Contains(cmd.Script, "cniunlinked="):
		out := "init=systemd\nadminconf=1\ncpdone=1\nnodedone=1\n"
		if m.unlinked[host] {
			out += "cniunlinked=1\n"
		}
		m.mu.Unlock()
		return ssh.Result{Stdout: out}, nil
	case cmd.Name == "hash files":
		out := m.hashes[host]
		m.mu.Unlock()
		return ssh.Result{Stdout: out}, nil
	case cmd.Name == "CNI plugins":
		m.unlinked[host] = false
	}
	m.mu.Unlock()
	return m.writtenHosts.Run(ctx, host, cmd)
}

// TestManifestCNILinksPluginsAndApplies: with cni: manifest every node is
// a target of the cni phase. A node whose plugins are in /usr/lib/cni only
// (Debian's containernetworking-plugins) has them linked where containerd
// looks, which flannel's pods need (it delegates to bridge, host-local and
// portmap); the control host has the manifest, podSubnet substituted,
// uploaded and applied once. Afterwards nothing is pending, and a run the
// journal cannot vouch for applies the manifest again and links nothing.
func TestManifestCNILinksPluginsAndApplies(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{
		Hosts: []inventory.Host{
			{Name: "m1", Address: "10.0.0.1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster},
			{Name: "m2", Address: "10.0.0.2", InternalAddress: "10.0.0.2", Role: inventory.RoleMaster},
			{Name: "w1", Address: "10.0.0.3", InternalAddress: "10.0.0.3", Role: inventory.RoleWorker},
			{Name: "lb1", Address: "10.0.0.9", InternalAddress: "10.0.0.9", Role: inventory.RoleLoadBalancer},
		},
		Network: inventory.Network{PodSubnet: "10.200.0.0/16", ServiceSubnet: "10.96.0.0/12"},
		CNI:     inventory.CNI{Plugin: inventory.CNIManifest, Manifest: filepath.Join("testdata", "cni-manifest.yaml")},
	}}
	hosts := &manifestHosts{
		writtenHosts: &writtenHosts{written: map[string]string{}, names: map[string][]string{}},
		unlinked:     map[string]bool{"m1": true, "w1": true, "lb1": true},
		hashes:       map[string]string{},
	}
	newEnv := func() *Env {
		log := events.Emitter{Sink: events.Discard}
		return &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Concurrency: 4,
			ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, "").For(log),
			Log:          log, results: &hostResults{}}
	}
	ctx := context.Background()
	env := newEnv()

	w, err := InstallCNI{}.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	apply := "apply " + c.Spec.CNI.Manifest
	if want := []string{"m1", "m2", "w1"}; !slices.Equal(w.Targets, want) {
		t.Errorf("targets %v, want the nodes %v", w.Targets, want)
	}
	if want := []string{"m1", "w1"}; !slices.Equal(w.Pending, want) {
		t.Errorf("pending %v, want %v", w.Pending, want)
	}
	if got, want := w.Reasons["m1"], linkPluginsReason+"; "+apply; got != want {
		t.Errorf("m1: %q, want %q", got, want)
	}
	if got := w.Reasons["w1"]; got != linkPluginsReason {
		t.Errorf("w1: %q, want %q", got, linkPluginsReason)
	}

	if err := (InstallCNI{}).Run(ctx, env, w); err != nil {
		t.Fatal(err)
	}
	files, err := InstallCNI{}.Files(ctx, OfflineView{C: c})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || hosts.written["m1"] != string(files[0].Content) {
		t.Errorf("m1 received\n%s\nwant the manifest render shows:\n%v", hosts.written["m1"], files)
	}
	for h, want := range map[string][]string{
		"m1": {"CNI plugins", "kubectl apply CNI manifest"},
		"m2": nil,
		"w1": {"CNI plugins"},
	} {
		if got := hosts.names[h]; !slices.Equal(got, want) {
			t.Errorf("%s ran %q, want %q", h, got, want)
		}
	}

	// The manifest is on m1 as uploaded, the plugins linked: a new run
	// finds nothing to do.
	hosts.hashes["m1"] = sha256Hex(files[0].Content) + "  " + manifestPath + "\n"
	if w, err := (InstallCNI{}).Probe(ctx, newEnv()); err != nil || !w.Done() {
		t.Errorf("after the run: pending %v (%v), %v; want none", w.Pending, w.Reasons, err)
	}

	clear(hosts.names)
	hosts.written["m1"] = ""
	env = newEnv()
	w, err = InstallCNI{}.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := (InstallCNI{}).Run(ctx, env, w.AllPending("forced")); err != nil {
		t.Fatal(err)
	}
	if got := hosts.names["m1"]; !slices.Equal(got, []string{"kubectl apply CNI manifest"}) || len(hosts.names) != 1 {
		t.Errorf("a forced run ran %v, want the manifest applied on m1 alone", hosts.names)
	}
}
