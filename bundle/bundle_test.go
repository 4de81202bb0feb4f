package bundle

import (
	"archive/tar"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/e2e/kube"
)

// imageTar writes a docker-save style tarball that names images.
func imageTar(t *testing.T, path string, images ...string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	manifest := `[{"Config":"c.json","RepoTags":["` + strings.Join(images, `","`) + `"],"Layers":[]}]`
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))})
	tw.Write([]byte(manifest))
	tw.Close()
}

func copyBin(t *testing.T, src, dst string) {
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestCreateNamesWhatIsMissing(t *testing.T) {
	k := kube.Require(t, "kubeadm")
	dir := t.TempDir()
	copyBin(t, k, filepath.Join(dir, "bin", "kubeadm"))
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	imageTar(t, filepath.Join(dir, "images", "some.tar"), "registry.k8s.io/pause:3.10.2")
	_, warnings, err := Create(dir, "v1.37.2", true)
	var m Missing
	if !errors.As(err, &m) {
		t.Fatalf("want Missing, got %v", err)
	}
	text := err.Error()
	for _, want := range []string{"bin/kubelet", "bin/kubectl", "registry.k8s.io/kube-apiserver:v1.37.2", "registry.k8s.io/etcd:3.7.0-0", "registry.k8s.io/coredns/coredns:v1.14.6"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing list lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "pause:3.10.2") {
		t.Error("pause is in the bundle but reported missing")
	}
	if len(warnings) != len(CNIPlugins) {
		t.Errorf("want a warning per CNI plugin, got %v", warnings)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		t.Error("an incomplete bundle got a manifest")
	}
}

func TestCreateVerifyAndTamper(t *testing.T) {
	k := kube.Require(t, "kubeadm")
	dir := t.TempDir()
	for _, b := range Binaries {
		copyBin(t, k, filepath.Join(dir, "bin", b))
	}
	out, err := exec.Command(k, "config", "images", "list", "--kubernetes-version", "v1.37.2").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	imageTar(t, filepath.Join(dir, "images", "kube.tar"), strings.Fields(string(out))...)
	m, _, err := Create(dir, "v1.37.2", false)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range m.Files {
		kinds[f.Kind]++
		if len(f.SHA256) != 64 || f.Size == 0 {
			t.Errorf("%s: no checksum or size", f.Path)
		}
	}
	if kinds[KindBinary] != 3 || kinds[KindUnit] != 2 || kinds[KindImage] != 1 {
		t.Fatalf("kinds %v", kinds)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir, loaded); err != nil {
		t.Fatal(err)
	}
	// One changed byte is caught and named.
	p := filepath.Join(dir, "units", "kubelet.service")
	b, _ := os.ReadFile(p)
	b[0] ^= 1
	os.WriteFile(p, b, 0o644)
	var ce *ChecksumError
	if err := Verify(dir, loaded); !errors.As(err, &ce) || len(ce.Files) != 1 || ce.Files[0] != "units/kubelet.service" {
		t.Fatalf("tampering not caught: %v", err)
	}
}

// TestCreateRefusesUnsafeImageNames: image names come from the tarballs,
// so Create checks them before it writes a manifest.
func TestCreateRefusesUnsafeImageNames(t *testing.T) {
	k := kube.Require(t, "kubeadm")
	dir := t.TempDir()
	for _, b := range Binaries {
		copyBin(t, k, filepath.Join(dir, "bin", b))
	}
	out, err := exec.Command(k, "config", "images", "list", "--kubernetes-version", "v1.37.2").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	imageTar(t, filepath.Join(dir, "images", "kube.tar"), strings.Fields(string(out))...)
	imageTar(t, filepath.Join(dir, "images", "evil.tar"), "evil:1'; touch /pwned; echo '")
	_, _, err = Create(dir, "v1.37.2", false)
	var me *ManifestError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "images[0]") {
		t.Fatalf("want a ManifestError naming the image, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		t.Error("a manifest with an unsafe image name was written")
	}
}

func TestLoadRefusesPathsOutsideTheBundle(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ManifestName), []byte("files:\n- {path: ../../etc/shadow, kind: binary, target: /usr/bin/x}\n"), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "inside the bundle") {
		t.Fatalf("want refusal, got %v", err)
	}
}

// validManifest is a bundle.yaml that Load accepts; each case of
// TestLoadRefusesUnsafeManifests breaks one field of it.
const validManifest = `apiVersion: kubeha.io/v1alpha1
kind: Bundle
kubernetesVersion: v1.37.2
files:
- {path: bin/kubeadm, kind: binary, target: /usr/bin/kubeadm, mode: "0755", size: 1, sha256: ` + sum64 + `}
- {path: units/10-kubeadm.conf, kind: unit, target: /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf, mode: "0644", size: 1, sha256: ` + sum64 + `}
- {path: images/kube.tar, kind: image, size: 1, sha256: ` + sum64 + `, images: [registry.k8s.io/pause:3.10.2, "registry.k8s.io/coredns/coredns:v1.14.6"]}
`

const sum64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestLoadRefusesUnsafeManifests: image names go into a root shell script
// (phases/artifacts.go, in single quotes), targets and paths into commands
// and SFTP paths, so Load lets only their safe forms through (issue 14).
func TestLoadRefusesUnsafeManifests(t *testing.T) {
	write := func(t *testing.T, manifest string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	if _, err := Load(write(t, validManifest)); err != nil {
		t.Fatalf("valid manifest refused: %v", err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"image name closes the quote", "registry.k8s.io/pause:3.10.2", `"pause'; touch /pwned; echo '"`, "files[2].images[0]"},
		{"image name with newline", "registry.k8s.io/pause:3.10.2", `"pause\nrm -rf /"`, "files[2].images[0]"},
		{"image name with spaces", "registry.k8s.io/pause:3.10.2", `"pause 3.10"`, "files[2].images[0]"},
		{"image name upper case", "registry.k8s.io/pause:3.10.2", "Registry.k8s.io/Pause:3.10.2", "files[2].images[0]"},
		{"path with shell characters", "images/kube.tar", `"images/$(id).tar"`, "files[2].path"},
		{"path with newline", "images/kube.tar", `"images/a\nb.tar"`, "files[2].path"},
		{"path outside", "bin/kubeadm", "../../etc/shadow", "inside the bundle"},
		{"path absolute", "bin/kubeadm", "/etc/shadow", "files[0].path"},
		{"path hidden dot component", "bin/kubeadm", "bin/./kubeadm", "files[0].path"},
		{"target relative", "target: /usr/bin/kubeadm", "target: usr/bin/kubeadm", "files[0].target"},
		{"target with space", "target: /usr/bin/kubeadm", `target: "/usr/bin/kube adm"`, "files[0].target"},
		{"target with quote", "target: /usr/bin/kubeadm", `target: "/usr/bin/kube'adm"`, "files[0].target"},
		{"target dot dot", "target: /usr/bin/kubeadm", "target: /usr/bin/../../etc/passwd", "files[0].target"},
		{"binary without target", "target: /usr/bin/kubeadm, ", "", "files[0].target"},
		{"image with a target", "kind: image,", "kind: image, target: /usr/bin/x,", "files[2].target"},
		{"unknown kind", "kind: unit", "kind: script", "files[1].kind"},
		{"mode not octal", `mode: "0755"`, `mode: "0755; id"`, "files[0].mode"},
		{"sha256 not hex", "sha256: " + sum64 + "}\n- {path: units", "sha256: \"x y\"}\n- {path: units", "files[0].sha256"},
		{"version", "v1.37.2", `"v1.37.2\nx"`, "kubernetesVersion"},
		{"kind", "kind: Bundle", "kind: Cluster", "kind"},
		{"unknown field", "kind: Bundle", "kind: Bundle\nextra: 1", "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := strings.Replace(validManifest, tt.old, tt.new, 1)
			if m == validManifest {
				t.Fatalf("case does not change the manifest")
			}
			_, err := Load(write(t, m))
			if err == nil {
				t.Fatalf("accepted:\n%s", m)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error does not name %s: %v", tt.want, err)
			}
			if strings.ContainsAny(err.Error(), "'$") && !strings.Contains(err.Error(), `"`) {
				t.Fatalf("error shows the value unquoted: %v", err)
			}
		})
	}
}

// TestCreateWithoutKubeadmNamesWhatItCan: with no bin/kubeadm, Create still
// names every binary, the images the version alone decides and, in one
// line, the images only kubeadm can name; a tarball already there is not
// asked for.
func TestCreateWithoutKubeadmNamesWhatItCan(t *testing.T) {
	const rest = "images/*.tar: the etcd, coredns and pause images kubeadm v1.37.2 pins; kubeha reads their tags from bin/kubeadm (kubeadm config images list), so add it and run bundle create again to have them named"
	image := func(name string) string {
		return "images/*.tar: image " + name + " (docker save or ctr export it into a tarball there)"
	}
	tests := []struct {
		name   string
		images []string // in images/some.tar
		want   Missing
	}{
		{name: "empty", want: Missing{
			"bin/kubeadm: the kubeadm v1.37.2 binary (linux/amd64)",
			"bin/kubelet: the kubelet v1.37.2 binary (linux/amd64)",
			"bin/kubectl: the kubectl v1.37.2 binary (linux/amd64)",
			image("registry.k8s.io/kube-apiserver:v1.37.2"),
			image("registry.k8s.io/kube-controller-manager:v1.37.2"),
			image("registry.k8s.io/kube-scheduler:v1.37.2"),
			image("registry.k8s.io/kube-proxy:v1.37.2"),
			rest,
		}},
		{name: "some images there", images: []string{"registry.k8s.io/kube-proxy:v1.37.2", "registry.k8s.io/kube-apiserver:v1.37.2"}, want: Missing{
			"bin/kubeadm: the kubeadm v1.37.2 binary (linux/amd64)",
			"bin/kubelet: the kubelet v1.37.2 binary (linux/amd64)",
			"bin/kubectl: the kubectl v1.37.2 binary (linux/amd64)",
			image("registry.k8s.io/kube-controller-manager:v1.37.2"),
			image("registry.k8s.io/kube-scheduler:v1.37.2"),
			rest,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.images != nil {
				os.MkdirAll(filepath.Join(dir, "images"), 0o755)
				imageTar(t, filepath.Join(dir, "images", "some.tar"), tt.images...)
			}
			_, _, err := Create(dir, "v1.37.2", true)
			var m Missing
			if !errors.As(err, &m) {
				t.Fatalf("want Missing, got %v", err)
			}
			if !slices.Equal(m, tt.want) {
				t.Fatalf("missing:\n%s\nwant:\n%s", strings.Join(m, "\n"), strings.Join(tt.want, "\n"))
			}
			if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
				t.Error("an incomplete bundle got a manifest")
			}
		})
	}
}

// TestVersionImagesAreKubeadms: the images named without kubeadm are ones
// the real kubeadm lists for that version, so adding kubeadm later does not
// turn them into other names.
func TestVersionImagesAreKubeadms(t *testing.T) {
	k := kube.Require(t, "kubeadm")
	out, err := exec.Command(k, "config", "images", "list", "--kubernetes-version", kube.Version).Output()
	if err != nil {
		t.Fatal(err)
	}
	listed := strings.Fields(string(out))
	for _, img := range versionImages(kube.Version) {
		if !slices.Contains(listed, img) {
			t.Errorf("%s is not among kubeadm's images:\n%s", img, out)
		}
	}
}
