// Package bundle describes what an air-gapped site needs to install
// Kubernetes with kubeha: a directory the operator brings, laid out as
//
//	bin/      kubeadm, kubelet, kubectl
//	images/   image tarballs (docker save or OCI), one or many images each
//	units/    kubelet.service and 10-kubeadm.conf (written by Create if absent)
//	cni/      CNI plugins (bridge, host-local, loopback, portmap)
//
// with a manifest, bundle.yaml, naming every file's kind, target path on the
// hosts, mode and sha256. Create writes the manifest and names what is
// missing; Verify checks every checksum. The artifacts phase uploads from it.
package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/state"
)

// ManifestName is the manifest's file name inside the bundle.
const ManifestName = "bundle.yaml"

// File kinds.
const (
	KindBinary = "binary"
	KindImage  = "image"
	KindUnit   = "unit"
	KindCNI    = "cni"
)

// Manifest is bundle.yaml.
type Manifest struct {
	APIVersion        string `yaml:"apiVersion"`
	Kind              string `yaml:"kind"`
	KubernetesVersion string `yaml:"kubernetesVersion"`
	Files             []File `yaml:"files"`
}

// File is one file of the bundle.
type File struct {
	Path   string   `yaml:"path"`             // relative to the bundle directory
	Kind   string   `yaml:"kind"`             // binary, image, unit or cni
	Target string   `yaml:"target,omitempty"` // absolute path on hosts; images have none
	Mode   string   `yaml:"mode,omitempty"`   // octal, e.g. "0755"
	Size   int64    `yaml:"size"`
	SHA256 string   `yaml:"sha256"`
	Images []string `yaml:"images,omitempty"` // image names an image tarball holds
}

// The kubelet unit and kubeadm drop-in the distribution packages install.
const (
	KubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`
	KubeadmDropIn = `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`
)

// Binaries are what bin/ must hold; CNIPlugins what cni/ should.
var (
	Binaries   = []string{"kubeadm", "kubelet", "kubectl"}
	CNIPlugins = []string{"bridge", "host-local", "loopback", "portmap"}
)

// versionImages are the images kubeadm pulls whose tag is the Kubernetes
// version itself, so they are known without kubeadm at hand. The etcd,
// coredns and pause tags are constants inside each kubeadm release; only
// that kubeadm can list them.
func versionImages(version string) []string {
	var out []string
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		out = append(out, "registry.k8s.io/"+c+":"+version)
	}
	return out
}

// Missing lists what a bundle lacks, each with how to get it.
type Missing []string

func (m Missing) Error() string {
	return "the bundle is incomplete:\n  " + strings.Join(m, "\n  ")
}

// Create scans dir, writes the units it lacks and bundle.yaml, and returns
// the manifest. It returns a Missing error naming every required file that
// is absent (the manifest is not written then) and warnings for optional
// ones (CNI plugins, when the hosts have their own); a *ManifestError when
// a name in the bundle (a file name, an image name in a tarball) is outside
// its form, again without writing the manifest.
func Create(dir, version string, needCNI bool) (*Manifest, []string, error) {
	m := &Manifest{APIVersion: "kubeha.io/v1alpha1", Kind: "Bundle", KubernetesVersion: version}
	var missing Missing
	var warnings []string
	for _, b := range Binaries {
		p := filepath.Join("bin", b)
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			missing = append(missing, fmt.Sprintf("bin/%s: the %s %s binary (linux/amd64)", b, b, version))
			continue
		}
		m.Files = append(m.Files, File{Path: p, Kind: KindBinary, Target: "/usr/bin/" + b, Mode: "0755"})
	}
	if len(missing) == 0 {
		out, err := exec.Command(filepath.Join(dir, "bin", "kubeadm"), "version", "-o", "short").Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != version {
			missing = append(missing, fmt.Sprintf("bin/kubeadm is %q, the bundle is for %s", got, version))
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "units"), 0o755); err != nil {
		return nil, nil, err
	}
	for name, content := range map[string]string{"kubelet.service": KubeletUnit, "10-kubeadm.conf": KubeadmDropIn} {
		p := filepath.Join(dir, "units", name)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				return nil, nil, err
			}
		}
	}
	m.Files = append(m.Files,
		File{Path: "units/kubelet.service", Kind: KindUnit, Target: "/usr/lib/systemd/system/kubelet.service", Mode: "0644"},
		File{Path: "units/10-kubeadm.conf", Kind: KindUnit, Target: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", Mode: "0644"})

	tars, _ := filepath.Glob(filepath.Join(dir, "images", "*.tar"))
	sort.Strings(tars)
	have := map[string]bool{}
	for _, t := range tars {
		names, err := ImagesIn(t)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", t, err)
		}
		for _, n := range names {
			have[n] = true
		}
		rel, _ := filepath.Rel(dir, t)
		m.Files = append(m.Files, File{Path: rel, Kind: KindImage, Images: names})
	}
	missingImage := func(img string) {
		if !have[img] {
			missing = append(missing, fmt.Sprintf("images/*.tar: image %s (docker save or ctr export it into a tarball there)", img))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "kubeadm")); err == nil {
		out, err := exec.Command(filepath.Join(dir, "bin", "kubeadm"), "config", "images", "list", "--kubernetes-version", version).Output()
		if err != nil {
			return nil, nil, fmt.Errorf("kubeadm config images list: %w", err)
		}
		for _, img := range strings.Fields(string(out)) {
			missingImage(img)
		}
	} else {
		// Without kubeadm, name what the version alone decides, and say
		// plainly what is left to learn from it.
		for _, img := range versionImages(version) {
			missingImage(img)
		}
		missing = append(missing, fmt.Sprintf("images/*.tar: the etcd, coredns and pause images kubeadm %s pins; kubeha reads their tags from bin/kubeadm (kubeadm config images list), so add it and run bundle create again to have them named", version))
	}
	for _, p := range CNIPlugins {
		rel := filepath.Join("cni", p)
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			if needCNI {
				warnings = append(warnings, fmt.Sprintf("cni/%s missing: hosts need containernetworking-plugins installed for cni.plugin bridge", p))
			}
			continue
		}
		m.Files = append(m.Files, File{Path: rel, Kind: KindCNI, Target: "/opt/cni/bin/" + p, Mode: "0755"})
	}
	if len(missing) > 0 {
		return nil, warnings, missing
	}
	for i := range m.Files {
		f := &m.Files[i]
		sum, size, err := hashFile(filepath.Join(dir, f.Path))
		if err != nil {
			return nil, nil, err
		}
		f.SHA256, f.Size = sum, size
	}
	// A manifest Load would refuse is not written: a tarball's image names
	// come from whoever built it.
	if ps := m.Check(); len(ps) > 0 {
		return nil, warnings, &ManifestError{Dir: dir, Problems: ps}
	}
	data, err := yaml.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	if err := state.WriteFileAtomic(filepath.Join(dir, ManifestName), data, 0o644); err != nil {
		return nil, nil, err
	}
	return m, warnings, nil
}

// Load reads dir's manifest and checks that every name in it has its safe
// form (Check). Nothing is read from a manifest that fails.
func Load(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w (run kubeha bundle create --from %s)", dir, err, dir)
	}
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if ps := m.Check(); len(ps) > 0 {
		return nil, &ManifestError{Dir: dir, Problems: ps}
	}
	return &m, nil
}

// ManifestError is a bundle.yaml with fields outside their forms; each
// problem names the field (files[2].images[0]), the value quoted, and the
// form.
type ManifestError struct {
	Dir      string
	Problems []string
}

func (e *ManifestError) Error() string {
	return fmt.Sprintf("bundle %s: %s is not usable (recreate it with kubeha bundle create):\n  %s", e.Dir, ManifestName, strings.Join(e.Problems, "\n  "))
}

// Forms of the manifest's fields. The artifacts phase puts image names in
// a root shell script and paths and targets in commands and SFTP paths, so
// each is a closed character set without whitespace, quotes, control or
// shell characters: image names are inventory.IsImageReference; paths are
// relative, clean, of components that start with a letter, digit or '_'
// (no "..", no hidden files); targets are absolute paths of such components.
var (
	versionRE   = regexp.MustCompile(`^v1\.\d+\.\d+$`)
	component   = `[A-Za-z0-9_][A-Za-z0-9._+-]*`
	relPathRE   = regexp.MustCompile(`^` + component + `(?:/` + component + `)*$`)
	targetRE    = regexp.MustCompile(`^(?:/` + component + `)+$`)
	modeRE      = regexp.MustCompile(`^0?[0-7]{3}$`)
	sha256RE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	maxNameSize = 1024
)

// Check returns every field of m outside its form, or nothing. Create
// checks what it is about to write with it, Load what it read.
func (m *Manifest) Check() []string {
	var ps []string
	bad := func(field, value, form string) {
		ps = append(ps, fmt.Sprintf("%s: %q is not %s", field, value, form))
	}
	if m.APIVersion != "kubeha.io/v1alpha1" {
		bad("apiVersion", m.APIVersion, "kubeha.io/v1alpha1")
	}
	if m.Kind != "Bundle" {
		bad("kind", m.Kind, "Bundle")
	}
	if !versionRE.MatchString(m.KubernetesVersion) {
		bad("kubernetesVersion", m.KubernetesVersion, "a Kubernetes version v1.MINOR.PATCH")
	}
	for i, f := range m.Files {
		p := fmt.Sprintf("files[%d]", i)
		if len(f.Path) > maxNameSize || !relPathRE.MatchString(f.Path) || path.Clean(f.Path) != f.Path {
			bad(p+".path", f.Path, "a path relative to and inside the bundle, of letters, digits and . _ + - (no component starting with '.')")
		}
		switch f.Kind {
		case KindImage:
			if f.Target != "" {
				bad(p+".target", f.Target, "empty: image tarballs are imported, not installed")
			}
			if f.Mode != "" {
				bad(p+".mode", f.Mode, "empty for an image tarball")
			}
			for j, n := range f.Images {
				if !inventory.IsImageReference(n) {
					bad(fmt.Sprintf("%s.images[%d]", p, j), n, "an image reference such as registry.k8s.io/pause:3.10 (lower-case path, no spaces, quotes or shell characters)")
				}
			}
		case KindBinary, KindUnit, KindCNI:
			if len(f.Target) > maxNameSize || !targetRE.MatchString(f.Target) || path.Clean(f.Target) != f.Target {
				bad(p+".target", f.Target, "an absolute, clean path on the hosts of letters, digits and . _ + - (no component starting with '.')")
			}
			if !modeRE.MatchString(f.Mode) {
				bad(p+".mode", f.Mode, "an octal mode such as 0755")
			}
			if len(f.Images) > 0 {
				ps = append(ps, p+".images: only image tarballs name images")
			}
		default:
			bad(p+".kind", f.Kind, "one of binary, image, unit, cni")
		}
		if !sha256RE.MatchString(f.SHA256) {
			bad(p+".sha256", f.SHA256, "64 lower-case hex digits")
		}
		if f.Size < 0 {
			ps = append(ps, fmt.Sprintf("%s.size: %d is negative", p, f.Size))
		}
	}
	return ps
}

// ChecksumError names the files whose content does not match the manifest.
type ChecksumError struct{ Files []string }

func (e *ChecksumError) Error() string {
	return "bundle files do not match bundle.yaml (corrupt or changed; recreate the manifest only if the change is intended): " + strings.Join(e.Files, ", ")
}

// Verify checks every file's size and sha256 against the manifest.
func Verify(dir string, m *Manifest) error {
	var bad []string
	for _, f := range m.Files {
		sum, size, err := hashFile(filepath.Join(dir, f.Path))
		if err != nil || sum != f.SHA256 || size != f.Size {
			bad = append(bad, f.Path)
		}
	}
	if len(bad) > 0 {
		return &ChecksumError{Files: bad}
	}
	return nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ImagesIn returns the image names an image tarball holds: RepoTags of a
// docker-save manifest.json, or the ref names of an OCI index.json.
func ImagesIn(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not an image tarball: %w", err)
		}
		switch strings.TrimPrefix(hdr.Name, "./") {
		case "manifest.json":
			var entries []struct{ RepoTags []string }
			b, _ := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err := json.Unmarshal(b, &entries); err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			for _, e := range entries {
				names = append(names, e.RepoTags...)
			}
		case "index.json":
			var idx struct {
				Manifests []struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"manifests"`
			}
			b, _ := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err := json.Unmarshal(bytes.TrimSpace(b), &idx); err == nil {
				for _, m := range idx.Manifests {
					if n := m.Annotations["io.containerd.image.name"]; n != "" {
						names = append(names, n)
					}
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
