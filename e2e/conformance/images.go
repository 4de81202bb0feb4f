// Package conformance runs the Kubernetes conformance suite (the
// [Conformance] specs of k8s.io/kubernetes/test/e2e) against a cluster
// kubeha built on harness machines, offline: the suite, its test images'
// programs and the images themselves are made here from the Go module
// proxy and Debian's packages, under the names the suite asks for, and
// imported into every machine its pods can run on (a node without a
// NoSchedule or NoExecute taint), so the machines pull nothing.
package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubeha/kubeha/e2e/machines"
)

// Registry is where the suite looks for its test images
// (test/utils/image/manifest.go, promoterE2eRegistry); they are made here
// under exactly these names, so no registry list is remapped.
// RegistryHost is its host, which the machines' containerd mirrors to the
// harness's registry for the images in AlwaysPulled.
const (
	RegistryHost = "registry.k8s.io"
	Registry     = RegistryHost + "/e2e-test-images/"
)

// The images the [Conformance] specs use, as v1.37.2's manifest names them.
// Others (the etcd and pause images) are the cluster's own, already on
// every machine.
const (
	AgnhostImage     = Registry + "agnhost:2.66.1"
	AgnhostPrevImage = Registry + "agnhost:2.55"
	BusyBoxImage     = Registry + "busybox:1.37.0-2"
	NginxImage       = Registry + "nginx:1.27.0-2"
	NonRootImage     = Registry + "nonroot:1.5"
	NonNewPrivsImage = Registry + "nonewprivs:1.4"
	KittenImage      = Registry + "kitten:1.8"
	NautilusImage    = Registry + "nautilus:1.8"
	GlibcDNSImage    = Registry + "glibc-dns-testing:2.1.1"
	APIServerImage   = Registry + "sample-apiserver:1.29.2"
)

// AlwaysPulled are the images of Images that a spec which can run here
// pulls with policy Always, so that the machines' copy is not enough: the
// PodCertificate mTLS spec's agnhost pods. TestConformance pushes them to
// the harness's registry (machines.Registry), which every machine's
// containerd uses as RegistryHost's mirror. The ImageVolume spec pulls
// kitten so too, but cannot run on containerd 1.6 (NotRun).
var AlwaysPulled = []string{AgnhostImage}

// Programs are the binaries e2e/kube/build.sh makes for the suite, by the
// name it gives them in the Kubernetes version's directory.
var Programs = []string{"e2e.test", "agnhost", "nnp", "sample-apiserver", "ginkgo"}

// basePackages make the Debian rootfs under agnhost, nginx, nonroot and
// glibc-dns-testing: what upstream's Alpine and debian-base images carry
// that the specs call (dig, nc -u, curl, ip, iperf, socat, nginx).
var basePackages = []string{
	"bash", "curl", "dnsutils", "netcat-openbsd", "iproute2", "iputils-ping", "iperf",
	"socat", "procps", "util-linux", "nginx-light", "ca-certificates",
}

// baseRecipe changes whenever the rootfs is made differently.
const baseRecipe = "conformance-base-1"

// Images makes every conformance image in d from the programs in kubeDir
// and the Kubernetes source in ksrc (test/images: agnhost's porter
// certificate, kitten's and nautilus' pages), and returns their names.
// The Debian rootfs is cached by recipe; the images are rebuilt each
// time from docker's build cache, as their tags say nothing of content.
func Images(ctx context.Context, d *machines.Docker, log machines.Logf, kubeDir, ksrc string) ([]string, error) {
	base, err := baseImage(ctx, d, log)
	if err != nil {
		return nil, err
	}
	bb, err := busyboxLayer(ctx, log)
	if err != nil {
		return nil, err
	}
	bin := func(name string) string { return filepath.Join(kubeDir, name) }
	img := filepath.Join(ksrc, "test", "images")
	agnhost := layer{
		files: []layerFile{
			{src: bin("agnhost"), dst: "agnhost", mode: 0o755},
			{link: "agnhost", dst: "agnhost-2"},
			{src: filepath.Join(img, "agnhost", "porter", "localhost.crt"), dst: "localhost.crt", mode: 0o644},
			{src: filepath.Join(img, "agnhost", "porter", "localhost.key"), dst: "localhost.key", mode: 0o644},
			{dir: "uploads"},
			{dir: "usr/local/bin"},
			{link: "/usr/bin/iperf", dst: "usr/local/bin/iperf"},
		},
		// Upstream's adduser -u 1000 user-defined-in-image, addgroup -g
		// 50000 group-defined-in-image, the user in the group.
		appendFiles: map[string]string{
			"etc/passwd": "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n",
			"etc/group":  "user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n",
		},
		config: []string{`ENTRYPOINT ["/agnhost"]`, `CMD ["pause"]`},
	}
	specs := []struct {
		name, from string
		layer      layer
	}{
		{AgnhostImage, base, agnhost},
		// A different image, as upstream's 2.55 is: its own digest.
		{AgnhostPrevImage, base, agnhost.with(layerFile{text: "2.55\n", dst: "kubeha-agnhost-prev", mode: 0o644})},
		{GlibcDNSImage, base, layer{config: []string{`CMD ["sleep", "infinity"]`}}},
		{NginxImage, base, layer{config: []string{`CMD ["nginx", "-g", "daemon off;"]`}}},
		{NonRootImage, base, layer{config: []string{"USER 1234"}}},
		{NonNewPrivsImage, base, layer{
			files:  []layerFile{{dir: "usr/local/bin"}, {src: bin("nnp"), dst: "usr/local/bin/nnp", mode: 0o755 | os.ModeSetuid | os.ModeSetgid}},
			config: []string{`CMD ["nnp"]`},
		}},
		{BusyBoxImage, "scratch", bb},
		{KittenImage, AgnhostImage, layer{files: []layerFile{
			{src: filepath.Join(img, "kitten", "html", "kitten.jpg"), dst: "kitten.jpg", mode: 0o644},
			{src: filepath.Join(img, "kitten", "html", "data.json"), dst: "data.json", mode: 0o644},
		}, config: []string{`CMD ["test-webserver"]`}}},
		{NautilusImage, AgnhostImage, layer{files: []layerFile{
			{src: filepath.Join(img, "nautilus", "html", "nautilus.jpg"), dst: "nautilus.jpg", mode: 0o644},
			{src: filepath.Join(img, "nautilus", "html", "data.json"), dst: "data.json", mode: 0o644},
		}, config: []string{`CMD ["test-webserver"]`}}},
		{APIServerImage, BusyBoxImage, layer{
			files:  []layerFile{{src: bin("sample-apiserver"), dst: "sample-apiserver", mode: 0o755}},
			config: []string{`ENTRYPOINT ["/sample-apiserver"]`},
		}},
	}
	var names []string
	for _, s := range specs {
		start := time.Now()
		if err := buildImage(ctx, d, s.from, s.name, s.layer); err != nil {
			return nil, fmt.Errorf("image %s: %w", s.name, err)
		}
		log("image %s built in %s", s.name, time.Since(start).Round(100*time.Millisecond))
		names = append(names, s.name)
	}
	return names, nil
}

// layerFile is one entry of an image's added layer: a file copied from src
// or holding text, a symlink to link, or a directory.
type layerFile struct {
	src, text, link string
	dir             string
	dst             string
	mode            os.FileMode
}

// layer is what an image adds to its base: files, lines appended to the
// base's files (users and groups), and Dockerfile instructions.
type layer struct {
	files []layerFile
	// appendFiles are appended to the base image's file of that path,
	// which the builder reads from the base's rootfs.
	appendFiles map[string]string
	config      []string
}

func (l layer) with(f layerFile) layer {
	l.files = append(append([]layerFile(nil), l.files...), f)
	return l
}

// buildImage builds name FROM from with l's files in one tar layer: ADD of
// a local tar keeps modes (nnp's setuid bit), owners and symlinks.
func buildImage(ctx context.Context, d *machines.Docker, from, name string, l layer) error {
	dir, err := os.MkdirTemp("", "kh-conformance-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	base := func(rel string) (string, error) {
		return d.Run(ctx, "run", "--rm", "--network=none", "--entrypoint", "cat", from, "/"+rel)
	}
	df := "FROM " + from + "\n"
	if len(l.files)+len(l.appendFiles) > 0 {
		if err := l.writeTar(ctx, filepath.Join(dir, "layer.tar"), base); err != nil {
			return err
		}
		df += "ADD layer.tar /\n"
	}
	df += strings.Join(l.config, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	if _, err := d.Run(ctx, "build", "-q", "-t", name, dir); err != nil {
		return err
	}
	return nil
}

// writeTar writes l's files to the tar file tarball, owned by root, with
// their modes (setuid, sticky) and symlinks, and fixed times and order, so
// the same files are the same layer and docker's build cache holds.
// base reads a file of the base image, to which appendFiles' lines are
// added.
func (l layer) writeTar(ctx context.Context, tarball string, base func(rel string) (string, error)) error {
	root, err := os.MkdirTemp(filepath.Dir(tarball), "layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	for _, f := range l.files {
		p := filepath.Join(root, f.dst)
		if f.dir != "" {
			p = filepath.Join(root, f.dir)
		}
		if err := mkdirs(root, filepath.Dir(p)); err != nil {
			return err
		}
		switch {
		case f.dir != "":
			if err = os.MkdirAll(p, 0o755); err == nil && f.mode == 0 {
				// Not the umask's: ADD applies it over the base's directory.
				err = os.Chmod(p, 0o755)
			}
		case f.link != "":
			err = os.Symlink(f.link, p)
		case f.src != "":
			var b []byte
			if b, err = os.ReadFile(f.src); err == nil {
				err = os.WriteFile(p, b, f.mode)
			}
		default:
			err = os.WriteFile(p, []byte(f.text), f.mode)
		}
		if err != nil {
			return err
		}
		if f.mode != 0 && f.link == "" {
			// WriteFile's mode passes through the umask and keeps only
			// the permission bits: setuid and sticky need chmod.
			if err := os.Chmod(p, f.mode); err != nil {
				return err
			}
		}
	}
	for rel, text := range l.appendFiles {
		cur, err := base(rel)
		if err != nil {
			return fmt.Errorf("read /%s of the base image: %w", rel, err)
		}
		if cur != "" && !strings.HasSuffix(cur, "\n") {
			cur += "\n"
		}
		p := filepath.Join(root, rel)
		if err := mkdirs(root, filepath.Dir(p)); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(cur+text), 0o644); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o644); err != nil {
			return err
		}
	}
	if out, err := exec.CommandContext(ctx, "tar", "--sort=name", "--mtime=@0", "--numeric-owner", "--owner=0", "--group=0", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, out)
	}
	return nil
}

// mkdirs makes dir and its parents below root with mode 0755, whatever
// the umask: the layer's directories replace the base image's modes.
func mkdirs(root, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for d := dir; d != root && len(d) > len(root); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// baseImage makes (or finds) the Debian bookworm image under agnhost and
// the others: debootstrap --variant=minbase with basePackages, cached
// under the harness cache by recipe.
func baseImage(ctx context.Context, d *machines.Docker, log machines.Logf) (string, error) {
	h := sha256.Sum256([]byte(baseRecipe + "\x00" + strings.Join(basePackages, ",")))
	key := hex.EncodeToString(h[:])[:12]
	tag := "kubeha-conformance-base:" + key
	if _, err := d.Run(ctx, "image", "inspect", tag); err == nil {
		log("image %s: cached", tag)
		return tag, nil
	}
	rootfs, err := machines.Debootstrap(ctx, log, filepath.Join(machines.CacheDir(), "images", "conformance-base-"+key), basePackages)
	if err != nil {
		return "", err
	}
	// Nothing of apt's caches in the image.
	if err := os.RemoveAll(filepath.Join(rootfs, "var", "cache", "apt", "archives")); err != nil {
		return "", err
	}
	tarCmd := fmt.Sprintf("tar -C %q --numeric-owner -c . | docker -H unix://%s import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - %s", rootfs, d.Sock, tag)
	if out, err := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", tarCmd).CombinedOutput(); err != nil {
		return "", fmt.Errorf("import %s: %v: %s", tag, err, out)
	}
	return tag, nil
}

// busyboxSource is BusyBox's own source as Debian's archive carries it
// (the orig tarball is upstream's release), checked against its hash.
// Debian's busybox packages are no stand-in: Debian reverts upstream's
// ash change that passes environment variables with names no shell
// accepts ("data-1") on to children, which the ConfigMap and Secret
// envFrom specs read back with `sh -c env`.
const (
	busyboxVersion = "1.35.0"
	busyboxSource  = machines.Mirror + "/pool/main/b/busybox/busybox_" + busyboxVersion + ".orig.tar.bz2"
	busyboxSHA256  = "faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694"
)

// busyboxLayer is upstream's busybox image: BusyBox built from its source
// with its default configuration, static, at /bin/busybox, one symlink per
// applet, root and nobody in /etc/passwd, a /tmp anyone may write. The
// binary is cached; building it takes a minute or two.
func busyboxLayer(ctx context.Context, log machines.Logf) (layer, error) {
	dir := filepath.Join(machines.CacheDir(), "images", "busybox-"+busyboxVersion)
	bin := filepath.Join(dir, "bin", "busybox")
	if _, err := os.Stat(bin); err != nil {
		start := time.Now()
		log("busybox %s: building from %s", busyboxVersion, busyboxSource)
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return layer{}, err
		}
		script := `set -e
curl -fsS -o src.tar.bz2 "$1"
echo "$2  src.tar.bz2" | sha256sum -c --quiet
tar xjf src.tar.bz2
cd busybox-*/
make defconfig >/dev/null
# tc does not build against kernel headers 6.8 or later; no spec uses it.
sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y$/# CONFIG_TC is not set/' .config
grep -qx CONFIG_STATIC=y .config
make -j"$(nproc)" busybox >build.log 2>&1 || { tail -30 build.log; exit 1; }
mkdir -p ../bin && mv busybox ../bin/busybox
cd .. && rm -rf busybox-*/ src.tar.bz2`
		cmd := exec.CommandContext(ctx, "sh", "-c", script, "sh", busyboxSource, busyboxSHA256)
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			return layer{}, fmt.Errorf("busybox %s: %v: %s", busyboxVersion, err, lastLines(string(out), 30))
		}
		os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			return layer{}, err
		}
		log("busybox %s built in %s", busyboxVersion, time.Since(start).Round(time.Second))
	}
	out, err := exec.CommandContext(ctx, bin, "--list").Output()
	if err != nil {
		return layer{}, fmt.Errorf("%s --list: %w", bin, err)
	}
	l := layer{
		files: []layerFile{
			{src: bin, dst: "bin/busybox", mode: 0o755},
			{text: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", dst: "etc/passwd", mode: 0o644},
			{text: "root:x:0:\nnogroup:x:65534:\n", dst: "etc/group", mode: 0o644},
			{dir: "tmp", mode: os.ModeSticky | 0o777},
			{dir: "root"},
		},
		config: []string{`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, `CMD ["sh"]`},
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			l.files = append(l.files, layerFile{link: "busybox", dst: "bin/" + a})
		}
	}
	return l, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
