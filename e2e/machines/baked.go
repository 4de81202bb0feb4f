package machines

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/e2e/kube"
)

// KubeVersion is the Kubernetes version the baked image carries.
const KubeVersion = kube.Version

// UpgradeFrom is the older version the upgrade test's machines carry
// (BakedImageFor, PrepareBakedFor).
const UpgradeFrom = kube.UpgradeFrom

// KubeDir is where e2e/kube/build.sh puts the binaries of version v.
func KubeDir(v string) string { return kube.Dir(v) }

// The kubelet unit and kubeadm drop-in, as the distribution packages
// install them: the same text kubeha's bundles carry.
const (
	kubeletUnit   = bundle.KubeletUnit
	kubeadmDropIn = bundle.KubeadmDropIn
)

// image is one image built from the binaries: base "scratch" or the bare
// node image (kube-proxy needs iptables), binaries copied to /usr/local/bin
// unless entry names another place.
type image struct {
	name     string // as `kubeadm config images list` prints it
	fromBare bool
	binaries []string
	entry    string
	dir      string // where the binaries are; empty means the Kubernetes cache
}

// kubeImages returns the images kubeadm v expects, in kubeadm's names.
func kubeImages(ctx context.Context, kubeDir, v string) ([]image, error) {
	out, err := run(ctx, filepath.Join(kubeDir, "kubeadm"), "config", "images", "list", "--kubernetes-version", v)
	if err != nil {
		return nil, err
	}
	var imgs []image
	for _, name := range strings.Fields(out) {
		base := name[strings.LastIndex(name, "/")+1:]
		base, _, _ = strings.Cut(base, ":")
		switch base {
		case "kube-apiserver", "kube-controller-manager", "kube-scheduler":
			imgs = append(imgs, image{name: name, binaries: []string{base}})
		case "kube-proxy":
			imgs = append(imgs, image{name: name, fromBare: true, binaries: []string{base}})
		case "etcd":
			imgs = append(imgs, image{name: name, binaries: []string{"etcd", "etcdctl", "etcdutl"}})
		case "coredns":
			imgs = append(imgs, image{name: name, binaries: []string{"coredns"}, entry: "/coredns"})
		case "pause":
			imgs = append(imgs, image{name: name, binaries: []string{"pause"}, entry: "/pause"})
		default:
			return nil, fmt.Errorf("kubeadm expects image %s, which the harness does not know how to build", name)
		}
	}
	return imgs, nil
}

// BakedImage is BakedImageFor KubeVersion.
func BakedImage(ctx context.Context, d *Docker, log Logf, bareTag string) (string, error) {
	return BakedImageFor(ctx, d, log, bareTag, KubeVersion)
}

// BakedImageFor builds (or finds) the baked image of Kubernetes version:
// the bare image plus kubeadm, kubelet and kubectl, the kubelet unit with
// the kubeadm drop-in, and every image kubeadm needs already in containerd
// (content only, --no-unpack: unpacking happens on first use, on the
// machine's own /var). Everything comes from KubeDir(version), which
// e2e/kube/build.sh fills; the image's tag is a hash of the version and of
// every input, so images of several versions live side by side. Callers
// hold the harness lock (Lock): the bake container has one fixed name.
func BakedImageFor(ctx context.Context, d *Docker, log Logf, bareTag, version string) (string, error) {
	kubeDir := KubeDir(version)
	h := sha256.New()
	fmt.Fprint(h, "baked-5\x00", version, "\x00", bareTag, "\x00", kubeletUnit, kubeadmDropIn)
	if b, err := os.ReadFile(EchoBinary()); err == nil {
		fmt.Fprint(h, sha256.Sum256(b))
	}
	stamps, _ := filepath.Glob(filepath.Join(kubeDir, "*.stamp"))
	if len(stamps) < 11 {
		return "", fmt.Errorf("Kubernetes binaries missing in %s: run %s", kubeDir, kube.BuildCommand(version))
	}
	for _, s := range stamps {
		b, _ := os.ReadFile(s)
		fi, _ := os.Stat(strings.TrimSuffix(s, ".stamp"))
		if fi == nil {
			return "", fmt.Errorf("%s has a stamp but no binary: run %s", strings.TrimSuffix(s, ".stamp"), kube.BuildCommand(version))
		}
		fmt.Fprint(h, filepath.Base(s), string(b), fi.Size(), fi.ModTime().UnixNano())
	}
	key := hex.EncodeToString(h.Sum(nil))[:12]
	tag := "kubeha-node:baked-" + key
	if _, err := d.Run(ctx, "image", "inspect", tag); err == nil {
		log("baked image %s: cached", tag)
		return tag, nil
	}
	imgs, err := kubeImages(ctx, kubeDir, version)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(EchoBinary()); err == nil {
		imgs = append(imgs, image{name: EchoImage, binaries: []string{"kh-echo"}, entry: "/kh-echo", dir: filepath.Dir(EchoBinary())})
	}
	// The static-pod load balancer's image: the node image has haproxy,
	// keepalived and curl (for the check script); kubeha gives the command.
	imgs = append(imgs, image{name: LBImage, fromBare: true})
	work, err := os.MkdirTemp("", "kh-bake-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	var names []string
	for _, img := range imgs {
		start := time.Now()
		dir := filepath.Join(work, strings.NewReplacer("/", "_", ":", "_").Replace(img.name))
		os.MkdirAll(dir, 0o755)
		var df strings.Builder
		if img.fromBare {
			fmt.Fprintf(&df, "FROM %s\n", bareTag)
		} else {
			df.WriteString("FROM scratch\nENV PATH=/usr/local/bin:/usr/bin:/bin\n")
		}
		src := kubeDir
		if img.dir != "" {
			src = img.dir
		}
		for _, b := range img.binaries {
			if err := copyFile(filepath.Join(src, b), filepath.Join(dir, b), 0o755); err != nil {
				return "", err
			}
			dst := "/usr/local/bin/" + b
			if img.entry != "" {
				dst = img.entry
			}
			fmt.Fprintf(&df, "COPY %s %s\n", b, dst)
		}
		if img.entry != "" {
			fmt.Fprintf(&df, "ENTRYPOINT [%q]\n", img.entry)
		}
		if img.fromBare {
			// The node image boots systemd; kube-proxy's image must not.
			df.WriteString("ENTRYPOINT []\n")
		}
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df.String()), 0o644)
		if _, err := d.Run(ctx, "build", "-q", "-t", img.name, dir); err != nil {
			return "", fmt.Errorf("build %s: %w", img.name, err)
		}
		names = append(names, img.name)
		log("image %s built in %s", img.name, time.Since(start).Round(100*time.Millisecond))
	}
	tarball := filepath.Join(work, "images.tar")
	if _, err := d.Run(ctx, append([]string{"save", "-o", tarball}, names...)...); err != nil {
		return "", err
	}

	// Bake: boot the bare image without a /var volume so what is written
	// there lands in the committed layer.
	const bakeName = containerPrefix + "bake"
	d.Run(ctx, "rm", "-f", bakeName)
	if _, err := d.Run(ctx, "run", "-d", "--name", bakeName, "--label", "kubeha-e2e=1", "--privileged", "--cgroupns=private",
		"--security-opt", "seccomp=unconfined", "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp:exec",
		"--network", "none", bareTag); err != nil {
		return "", err
	}
	defer d.Run(context.Background(), "rm", "-f", bakeName)
	exec := func(args ...string) (string, error) {
		return d.Run(ctx, append([]string{"exec", bakeName}, args...)...)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if out, _ := exec("systemctl", "is-active", "containerd"); strings.TrimSpace(out) == "active" {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("containerd did not start in the bake container")
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, b := range []string{"kubeadm", "kubelet", "kubectl"} {
		if _, err := d.Run(ctx, "cp", filepath.Join(kubeDir, b), bakeName+":/usr/bin/"+b); err != nil {
			return "", err
		}
	}
	os.WriteFile(filepath.Join(work, "kubelet.service"), []byte(kubeletUnit), 0o644)
	os.WriteFile(filepath.Join(work, "10-kubeadm.conf"), []byte(kubeadmDropIn), 0o644)
	steps := [][]string{
		{"mkdir", "-p", "/usr/lib/systemd/system/kubelet.service.d", "/etc/kubernetes/manifests", "/var/lib/kubelet"},
	}
	for _, s := range steps {
		if _, err := exec(s...); err != nil {
			return "", err
		}
	}
	for src, dst := range map[string]string{
		"kubelet.service": "/usr/lib/systemd/system/kubelet.service",
		"10-kubeadm.conf": "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
	} {
		if _, err := d.Run(ctx, "cp", filepath.Join(work, src), bakeName+":"+dst); err != nil {
			return "", err
		}
	}
	// Not /tmp: docker cp writes beneath the container's tmpfs there.
	if _, err := d.Run(ctx, "cp", tarball, bakeName+":/root/images.tar"); err != nil {
		return "", err
	}
	start := time.Now()
	if out, err := exec("sh", "-c", "systemctl enable kubelet && ctr -n k8s.io images import --no-unpack /root/images.tar >/dev/null && rm /root/images.tar && ctr -n k8s.io images ls -q"); err != nil {
		return "", fmt.Errorf("bake: %w: %s", err, out)
	}
	log("images imported into the machine's containerd in %s", time.Since(start).Round(100*time.Millisecond))
	// The bake container's boot made host keys (sshd's ExecStartPre, at
	// whatever moment sshd started): committed, every machine would
	// share them. sshd is stopped first, so none is made after the
	// removal; each machine makes its own at first boot.
	if out, err := exec("sh", "-c", "systemctl stop ssh.service ssh.socket 2>/dev/null; rm -f /etc/ssh/ssh_host_*"); err != nil {
		return "", fmt.Errorf("bake: remove the host keys: %w: %s", err, out)
	}
	if _, err := d.Run(ctx, "stop", "-t", "30", bakeName); err != nil {
		return "", err
	}
	if _, err := d.Run(ctx, "commit", "--change", `ENTRYPOINT ["/sbin/init"]`, bakeName, tag); err != nil {
		return "", err
	}
	if out, _ := d.Run(ctx, "run", "--rm", "--entrypoint", "sh", tag, "-c", "ls /etc/ssh/ | grep '^ssh_host_' || true"); strings.TrimSpace(out) != "" {
		d.Run(ctx, "rmi", tag)
		return "", fmt.Errorf("bake: the baked image %s still holds host keys: %s", tag, out)
	}
	log("baked image %s", tag)
	return tag, nil
}

// KubeBundle is KubeBundleFor KubeVersion.
func KubeBundle(ctx context.Context, d *Docker, log Logf, bareTag string) (string, error) {
	return KubeBundleFor(ctx, d, log, bareTag, KubeVersion)
}

// KubeBundleFor lays the Kubernetes cache of version out as a kubeha bundle
// directory (bin/, images/) under the cache, one per version, and returns
// it: the same binaries and images as that version's baked image, for the
// air-gapped path on bare machines. The images tarball is saved again
// whenever the baked image it came from changes. The bundle's manifest is
// kubeha's to write (kubeha bundle create). Callers hold the harness lock.
func KubeBundleFor(ctx context.Context, d *Docker, log Logf, bareTag, version string) (string, error) {
	baked, err := BakedImageFor(ctx, d, log, bareTag, version) // builds the images
	if err != nil {
		return "", err
	}
	kubeDir := KubeDir(version)
	dir := filepath.Join(CacheDir(), "bundle", version)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return "", err
	}
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	for _, b := range []string{"kubeadm", "kubelet", "kubectl"} {
		dst := filepath.Join(dir, "bin", b)
		os.Remove(dst)
		// A hard link: the cache and the bundle share the bytes.
		if err := os.Link(filepath.Join(kubeDir, b), dst); err != nil {
			if err := copyFile(filepath.Join(kubeDir, b), dst, 0o755); err != nil {
				return "", err
			}
		}
	}
	tarball := filepath.Join(dir, "images", "kubernetes-"+version+".tar")
	// Which baked image the tarball's images were built with: outside
	// images/, which kubeha bundle create reads.
	from := filepath.Join(dir, ".baked-image")
	if _, err := os.Stat(tarball); err == nil {
		if b, _ := os.ReadFile(from); string(b) == baked {
			return dir, nil
		}
	}
	imgs, err := kubeImages(ctx, kubeDir, version)
	if err != nil {
		return "", err
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.name)
	}
	start := time.Now()
	if _, err := d.Run(ctx, append([]string{"save", "-o", tarball + ".tmp"}, names...)...); err != nil {
		return "", err
	}
	if err := os.Rename(tarball+".tmp", tarball); err != nil {
		return "", err
	}
	if err := os.WriteFile(from, []byte(baked), 0o644); err != nil {
		return "", err
	}
	log("bundle images saved to %s in %s", tarball, time.Since(start).Round(100*time.Millisecond))
	return dir, nil
}
