package phases

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

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

// bundleNode is one node as restoreArtifacts sees it through Hosts, held in
// memory: the sha256 of each file it has, the images containerd has, its
// facts. It answers the four scripts restoreArtifacts may run, by command
// name, and records every command and upload; any other command fails the
// test. An upload lands as a file; "install artifacts" imports each staged
// tarball it knows (tarballs) and removes it, as the real script does. One
// goroutine at a time.
type bundleNode struct {
	t        *testing.T
	facts    string
	files    map[string]string   // path: sha256
	images   []string            // containerd's
	tarballs map[string][]string // staged path: the images it holds
	ran      []string            // command names, in order
	sent     []string            // uploads as "PATH MODE SHA256", in order
}

func (n *bundleNode) Run(_ context.Context, _ string, cmd ssh.Command) (ssh.Result, error) {
	n.ran = append(n.ran, cmd.Name)
	switch cmd.Name {
	case "gather facts":
		return ssh.Result{Stdout: n.facts}, nil
	case "probe installed artifacts":
		var b strings.Builder
		b.WriteString("@@kubeha-section hashes\n")
		for p, sum := range n.files {
			b.WriteString(sum + "  " + p + "\n")
		}
		return ssh.Result{Stdout: b.String() + "@@kubeha-section images\n" + strings.Join(n.images, "\n") + "\n"}, nil
	case "install artifacts":
		for p, names := range n.tarballs {
			if _, ok := n.files[p]; ok {
				n.images = append(n.images, names...)
				delete(n.files, p)
			}
		}
		return ssh.Result{}, nil
	case "containerd settings":
		return ssh.Result{Stdout: "@@kubeha-section config\n    SystemdCgroup = true\n    sandbox_image = \"registry.k8s.io/pause:3.10.1\"\n" +
			"@@kubeha-section images\n" + strings.Join(n.images, "\n") + "\n"}, nil
	}
	n.t.Errorf("unexpected command %q", cmd.Name)
	return ssh.Result{}, fmt.Errorf("unexpected command %q", cmd.Name)
}

func (n *bundleNode) Upload(_ context.Context, _ string, f ssh.File) error {
	b, err := io.ReadAll(f.Content)
	if err != nil {
		return err
	}
	n.files[f.Path] = sha256Hex(b)
	n.sent = append(n.sent, fmt.Sprintf("%s %04o %s", f.Path, f.Mode, sha256Hex(b)))
	return nil
}

func (*bundleNode) Download(context.Context, string, string) ([]byte, error) {
	panic("not used")
}

// TestRestoreArtifacts runs restoreArtifacts, as upgradeNode does before
// kubeadm, against a node at v1.36.3 being upgraded to a v1.37.2 bundle:
// the bundle's binaries are staged for the upgrade, its unit installed, its
// two image tarballs imported. Only what the node lacks is uploaded, only
// that is checked against bundle.yaml (a bundle file gone bad that the
// node does not need stops nothing), and the warning counts it.
func TestRestoreArtifacts(t *testing.T) {
	const want, stage = "v1.37.2", "/var/lib/kubeha/upgrade/v1.37.2"
	content := map[string]string{
		"bin/kubeadm":           "kubeadm v1.37.2\n",
		"bin/kubelet":           "kubelet v1.37.2\n",
		"units/kubelet.service": bundle.KubeletUnit,
		"images/apiserver.tar":  "apiserver image tarball\n",
		"images/pause.tar":      "pause image tarball\n",
	}
	files := []bundle.File{
		{Path: "bin/kubeadm", Kind: bundle.KindBinary, Target: "/usr/bin/kubeadm", Mode: "0755"},
		{Path: "bin/kubelet", Kind: bundle.KindBinary, Target: "/usr/bin/kubelet", Mode: "0755"},
		{Path: "units/kubelet.service", Kind: bundle.KindUnit, Target: "/usr/lib/systemd/system/kubelet.service", Mode: "0644"},
		{Path: "images/apiserver.tar", Kind: bundle.KindImage, Images: []string{"registry.k8s.io/kube-apiserver:v1.37.2"}},
		{Path: "images/pause.tar", Kind: bundle.KindImage, Images: []string{"registry.k8s.io/pause:3.10.1"}},
	}
	// onNode is where each of the bundle's files is on the node.
	onNode := map[string]string{
		"bin/kubeadm": stage + "/kubeadm", "bin/kubelet": stage + "/kubelet",
		"units/kubelet.service": "/usr/lib/systemd/system/kubelet.service",
	}
	allImages := []string{"registry.k8s.io/kube-apiserver:v1.37.2", "registry.k8s.io/pause:3.10.1"}
	sent := func(p, mode, bundlePath string) string {
		return p + " " + mode + " " + sha256Hex([]byte(content[bundlePath]))
	}
	warning := func(images, files int) string {
		return fmt.Sprintf("%d image tarballs and %d files of the bundle are not on the host (gone since the artifacts phase, or it did not run): installing them again "+
			"(the kubelet removes unused images when its disk is fuller than imageGCHighThresholdPercent; free some space on it)", images, files)
	}
	installed := []string{"gather facts", "probe installed artifacts", "install artifacts", "gather facts", "containerd settings"}

	tests := []struct {
		name       string
		version    string // the bundle's; want when empty
		noBundle   bool   // spec.artifacts unset
		lost       []string
		lostImages []string
		corrupt    []string // bundle files whose content no longer matches bundle.yaml
		wantErr    string   // the whole error, DIR standing for the bundle's directory
		ran        []string
		sent       []string
		warning    string
	}{
		{name: "nothing lost: nothing uploaded, no warning",
			corrupt: []string{"bin/kubeadm", "images/pause.tar"},
			ran:     []string{"gather facts", "probe installed artifacts"}},
		{name: "an image tarball lost: only it uploaded and checked",
			lostImages: []string{"registry.k8s.io/kube-apiserver:v1.37.2"}, corrupt: []string{"bin/kubeadm", "images/pause.tar"},
			ran: installed, sent: []string{sent(imageStage+"/apiserver.tar", "0600", "images/apiserver.tar")}, warning: warning(1, 0)},
		{name: "a staged binary lost: only it uploaded and checked",
			lost: []string{"bin/kubeadm"}, corrupt: []string{"bin/kubelet", "images/apiserver.tar"},
			ran: installed, sent: []string{sent(stage+"/kubeadm", "0755", "bin/kubeadm")}, warning: warning(0, 1)},
		{name: "a lost file gone bad in the bundle: refused before any upload",
			lost: []string{"bin/kubeadm"}, corrupt: []string{"bin/kubeadm", "images/pause.tar"},
			wantErr: "bundle files do not match bundle.yaml (corrupt or changed; recreate the manifest only if the change is intended): bin/kubeadm",
			ran:     []string{"gather facts", "probe installed artifacts"}},
		{name: "a bundle of another version: refused before the node is asked anything", version: "v1.37.1",
			wantErr: "bundle DIR is for v1.37.1, the inventory wants v1.37.2"},
		{name: "the artifacts phase never ran on the node: everything uploaded",
			lost: []string{"bin/kubeadm", "bin/kubelet", "units/kubelet.service"}, lostImages: allImages,
			ran: installed, sent: []string{
				sent(stage+"/kubeadm", "0755", "bin/kubeadm"), sent(stage+"/kubelet", "0755", "bin/kubelet"),
				sent("/usr/lib/systemd/system/kubelet.service", "0644", "units/kubelet.service"),
				sent(imageStage+"/apiserver.tar", "0600", "images/apiserver.tar"), sent(imageStage+"/pause.tar", "0600", "images/pause.tar"),
			}, warning: warning(2, 3)},
		{name: "no bundle in the inventory: the node is not asked", noBundle: true,
			lost: []string{"bin/kubeadm"}, lostImages: allImages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := bundle.Manifest{APIVersion: "kubeha.io/v1alpha1", Kind: "Bundle", KubernetesVersion: want}
			if tt.version != "" {
				m.KubernetesVersion = tt.version
			}
			for _, f := range files {
				b := []byte(content[f.Path])
				f.Size, f.SHA256 = int64(len(b)), sha256Hex(b)
				m.Files = append(m.Files, f)
				if slices.Contains(tt.corrupt, f.Path) {
					b = append(b, "gone bad\n"...)
				}
				if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f.Path)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f.Path), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			y, err := yaml.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, bundle.ManifestName), y, 0o644); err != nil {
				t.Fatal(err)
			}

			node := &bundleNode{t: t, facts: "init=systemd\nkubelet=v1.36.3\nnodedone=1\n", files: map[string]string{}, tarballs: map[string][]string{}}
			for _, f := range files {
				if f.Kind == bundle.KindImage {
					node.tarballs[imageStage+"/"+filepath.Base(f.Path)] = f.Images
				}
			}
			for p, target := range onNode {
				if !slices.Contains(tt.lost, p) {
					node.files[target] = sha256Hex([]byte(content[p]))
				}
			}
			for _, img := range allImages {
				if !slices.Contains(tt.lostImages, img) {
					node.images = append(node.images, img)
				}
			}
			c := &inventory.Cluster{Spec: inventory.Spec{KubernetesVersion: want,
				Hosts: []inventory.Host{{Name: "w1", Address: "10.0.0.3", InternalAddress: "10.0.0.3", Role: inventory.RoleWorker}}}}
			if !tt.noBundle {
				c.Spec.Artifacts = &inventory.Artifacts{Dir: dir}
			}
			rec := &events.Recorder{}
			env := &Env{Cluster: c, Hosts: node, Facts: &FactStore{}, Log: events.Emitter{Sink: rec, Phase: "upgrade"}}

			err = restoreArtifacts(context.Background(), env, "w1")
			wantErr := strings.ReplaceAll(tt.wantErr, "DIR", dir)
			if (err == nil) != (wantErr == "") || (err != nil && err.Error() != wantErr) {
				t.Errorf("error %v, want %q", err, wantErr)
			}
			if !slices.Equal(node.ran, tt.ran) {
				t.Errorf("commands %q, want %q", node.ran, tt.ran)
			}
			if !slices.Equal(node.sent, tt.sent) {
				t.Errorf("uploads %q, want %q", node.sent, tt.sent)
			}
			var warnings []string
			for _, e := range rec.Events() {
				if e.Kind == events.Warning {
					warnings = append(warnings, e.Host+": "+e.Message)
				}
			}
			var wantWarnings []string
			if tt.warning != "" {
				wantWarnings = []string{"w1: " + tt.warning}
			}
			if !slices.Equal(warnings, wantWarnings) {
				t.Errorf("warnings %q, want %q", warnings, wantWarnings)
			}
			if err != nil || len(tt.sent) == 0 {
				return
			}

			// Restored, the node lacks nothing: the next call uploads nothing.
			node.sent = nil
			if err := restoreArtifacts(context.Background(), env, "w1"); err != nil || len(node.sent) > 0 {
				t.Errorf("a second restore: %v, uploads %q; want none", err, node.sent)
			}
		})
	}
}

// factsOnly answers "gather facts" with each host's facts, and fails for a
// host it has none for, as an unreachable host does.
type factsOnly map[string]string

func (f factsOnly) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	if facts, ok := f[host]; ok && cmd.Name == "gather facts" {
		return ssh.Result{Stdout: facts}, nil
	}
	return ssh.Result{}, fmt.Errorf("%s: no answer to %q", host, cmd.Name)
}

func (factsOnly) Upload(context.Context, string, ssh.File) error { panic("not used") }
func (factsOnly) Download(context.Context, string, string) ([]byte, error) {
	panic("not used")
}

// TestInstallConcurrency: the artifacts phase installs on one host at a
// time once a master carries the control-plane mark, and up to the upload
// bound before.
func TestInstallConcurrency(t *testing.T) {
	const fresh, serving = "init=systemd\ncpdone=0\n", "init=systemd\nnodedone=1\ncpdone=1\n"
	tests := []struct {
		name  string
		facts factsOnly
		want  int
	}{
		{"a new cluster: the upload bound", factsOnly{"m1": fresh, "m2": fresh, "m3": fresh, "w1": fresh}, 5},
		{"one master serving: one host at a time", factsOnly{"m1": fresh, "m2": serving, "m3": fresh, "w1": fresh}, 1},
		{"a worker's node mark alone: the upload bound", factsOnly{"m1": fresh, "m2": fresh, "m3": fresh, "w1": "init=systemd\nnodedone=1\ncpdone=0\n"}, 5},
		{"an unreachable master counts as not serving", factsOnly{"m1": fresh, "m3": serving, "w1": fresh}, 1},
		{"no master answers: the upload bound", factsOnly{"w1": fresh}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &inventory.Cluster{Spec: inventory.Spec{Hosts: []inventory.Host{
				{Name: "m1", Address: "10.0.0.1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster},
				{Name: "m2", Address: "10.0.0.2", InternalAddress: "10.0.0.2", Role: inventory.RoleMaster},
				{Name: "m3", Address: "10.0.0.3", InternalAddress: "10.0.0.3", Role: inventory.RoleMaster},
				{Name: "w1", Address: "10.0.0.4", InternalAddress: "10.0.0.4", Role: inventory.RoleWorker},
			}}}
			env := &Env{Cluster: c, Hosts: tt.facts, Facts: &FactStore{}, UploadConcurrency: 5,
				Log: events.Emitter{Sink: &events.Recorder{}, Phase: "artifacts"}}
			if got := installConcurrency(context.Background(), env); got != tt.want {
				t.Errorf("installConcurrency = %d, want %d", got, tt.want)
			}
		})
	}
}
