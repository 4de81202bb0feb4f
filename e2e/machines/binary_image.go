package machines

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BinaryImage wraps one static binary built outside the harness (kube-vip,
// which no Go module proxy serves, built from a fetched source) in an
// image of its own: FROM scratch, the binary at entry, entry as the
// entrypoint. Its name is prefix:<the binary's sha256, 12 hex digits>, so
// another binary is another image.
func BinaryImage(ctx context.Context, d *Docker, log Logf, binary, prefix, entry string) (string, error) {
	name, err := BinaryImageName(binary, prefix)
	if err != nil {
		return "", err
	}
	if _, err := d.Run(ctx, "image", "inspect", name); err == nil {
		log("image %s: cached", name)
		return name, nil
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "kh-binary-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	base := filepath.Base(entry)
	if err := copyFile(binary, filepath.Join(dir, base), 0o755); err != nil {
		return "", err
	}
	df := fmt.Sprintf("FROM scratch\nCOPY %s %s\nENTRYPOINT [%q]\n", base, entry, entry)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return "", err
	}
	if _, err := d.Run(ctx, "build", "-q", "-t", name, dir); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	log("image %s built in %s", name, time.Since(start).Round(100*time.Millisecond))
	return name, nil
}

// BinaryImageName is the name BinaryImage gives binary's image.
func BinaryImageName(binary, prefix string) (string, error) {
	f, err := os.Open(binary)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return prefix + ":" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ImageFile is one file of an image FilesImage builds: the file Src on
// this host, at Dst in the image, executable.
type ImageFile struct{ Src, Dst string }

// FilesImage builds image name on base with files added, the standard
// PATH and no entrypoint (a pod names its command). Its callers give the
// bare node image as base when the image's programs need a Debian
// userland (iptables, nft, cp): the layer is the kube-proxy image's, which
// every baked machine already holds. It always builds, as a name such as a
// release's tag says nothing of which binaries it holds; docker's build
// cache makes a rebuild of the same files nearly free.
func FilesImage(ctx context.Context, d *Docker, log Logf, base, name string, files []ImageFile) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "kh-files-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", base)
	for i, f := range files {
		src := fmt.Sprintf("file%d", i)
		if err := copyFile(f.Src, filepath.Join(dir, src), 0o755); err != nil {
			return err
		}
		fmt.Fprintf(&df, "COPY %s %s\n", src, f.Dst)
	}
	df.WriteString("ENTRYPOINT []\n")
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df.String()), 0o644); err != nil {
		return err
	}
	if _, err := d.Run(ctx, "build", "-q", "-t", name, dir); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	log("image %s built in %s", name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// ImportImage puts the harness's image name into the containerd of each
// machine (ImportImages).
func ImportImage(ctx context.Context, d *Docker, name string, ms []*Machine) error {
	return ImportImages(ctx, d, []string{name}, ms)
}

// ImportImages puts the harness's images names into the containerd of
// each machine (namespace k8s.io, where the kubelet looks), as the baked
// machines carry the Kubernetes images: the machines pull nothing. The
// images travel in one tarball, so layers they share travel once.
func ImportImages(ctx context.Context, d *Docker, names []string, ms []*Machine) error {
	dir, err := os.MkdirTemp("", "kh-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tarball := filepath.Join(dir, "image.tar")
	if _, err := d.Run(ctx, append([]string{"save", "-o", tarball}, names...)...); err != nil {
		return err
	}
	for _, m := range ms {
		// Not /tmp: docker cp writes beneath the machine's tmpfs there.
		if _, err := d.Run(ctx, "cp", tarball, m.Container()+":/root/kh-image.tar"); err != nil {
			return fmt.Errorf("machine %s: %w", m.Name, err)
		}
		if out, err := m.Exec(ctx, "sh", "-c", "ctr -n k8s.io images import /root/kh-image.tar >/dev/null && rm /root/kh-image.tar"); err != nil {
			return fmt.Errorf("machine %s: import %s: %w %s", m.Name, strings.Join(names, " "), err, out)
		}
	}
	return nil
}
