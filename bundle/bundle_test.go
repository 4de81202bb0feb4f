package bundle

import (
	"archive/tar"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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

func TestLoadRefusesPathsOutsideTheBundle(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ManifestName), []byte("files:\n- {path: ../../etc/shadow, kind: binary, target: /usr/bin/x}\n"), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "inside the bundle") {
		t.Fatalf("want refusal, got %v", err)
	}
}
