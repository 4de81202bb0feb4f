package phases

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// imageStage is where image tarballs wait on a host for `ctr import`.
const imageStage = "/var/tmp/kubeha-images"

// InstallArtifacts uploads, from the inventory's bundle, what each node
// and etcd host lacks of kubeadm, kubelet, kubectl, the kubelet units, the CNI plugins and
// the images, for sites whose hosts cannot download anything.
type InstallArtifacts struct {
	// manifest is loaded and verified once per run.
	manifest *bundle.Manifest
}

var _ Phase = (*InstallArtifacts)(nil)

func (*InstallArtifacts) ID() string { return "artifacts" }
func (*InstallArtifacts) Title() string {
	return "Upload Kubernetes binaries and images from the bundle"
}

// load reads and verifies the bundle: a bundle whose checksums do not
// match is refused before anything is uploaded.
func (a *InstallArtifacts) load(c *inventory.Cluster) (*bundle.Manifest, error) {
	if a.manifest != nil {
		return a.manifest, nil
	}
	dir := c.Spec.Artifacts.Dir
	m, err := loadForVersion(c)
	if err != nil {
		return nil, err
	}
	if err := bundle.Verify(dir, m); err != nil {
		return nil, err
	}
	a.manifest = m
	return m, nil
}

// loadForVersion reads the inventory's bundle's manifest, unverified, and
// refuses a bundle of another Kubernetes version than the inventory's.
func loadForVersion(c *inventory.Cluster) (*bundle.Manifest, error) {
	dir := c.Spec.Artifacts.Dir
	m, err := bundle.Load(dir)
	if err != nil {
		return nil, err
	}
	if m.KubernetesVersion != c.Spec.KubernetesVersion {
		return nil, fmt.Errorf("bundle %s is for %s, the inventory wants %s", dir, m.KubernetesVersion, c.Spec.KubernetesVersion)
	}
	return m, nil
}

// hostState returns, for host, the targets whose sha256 differs and the
// image tarballs whose images containerd lacks.
func (a *InstallArtifacts) hostState(ctx context.Context, env *Env, host string, m *bundle.Manifest) (files, images []bundle.File, err error) {
	f, err := env.Facts.Get(ctx, env, host)
	if err != nil {
		return nil, nil, err
	}
	want := hostArtifacts(f, m)
	res, err := env.quiet(ctx, host, "probe installed artifacts", artifactsProbeScript(want))
	if err != nil {
		return nil, nil, err
	}
	sections := scripts.Sections(res.Stdout)
	sums := scripts.ParseHashes(sections["hashes"])
	present := map[string]bool{}
	for _, l := range strings.Fields(sections["images"]) {
		present[l] = true
	}
	for _, f := range want {
		switch {
		case f.Kind == bundle.KindImage:
			for _, n := range f.Images {
				if !present[n] {
					images = append(images, f)
					break
				}
			}
		case sums[f.Target] != f.SHA256:
			files = append(files, f)
		}
	}
	return files, images, nil
}

// hostArtifacts is the bundle's files as one host gets them. On a node that
// runs another Kubernetes version the binaries are staged for the upgrade
// phase (upgradeStage) instead of installed: a kubelet newer than the
// apiservers, or one restarted outside a drain, is what kubeadm's upgrade
// order exists to prevent. Everything else, images first, is installed as
// usual: they are ready before the node's turn comes.
func hostArtifacts(f *Facts, m *bundle.Manifest) []bundle.File {
	if !f.NodeDone || f.Kubelet == "" || f.Kubelet == m.KubernetesVersion {
		return m.Files
	}
	out := make([]bundle.File, len(m.Files))
	for i, file := range m.Files {
		if file.Kind == bundle.KindBinary {
			file.Target = upgradeStage(m.KubernetesVersion) + "/" + path.Base(file.Target)
		}
		out[i] = file
	}
	return out
}

// artifactsProbeScript prints, in section hashes, the sha256 of each
// file's target that is on the host (hash_files: an absent one prints
// nothing, so its sha256 is ""), and in section images the images
// containerd has.
func artifactsProbeScript(files []bundle.File) scripts.Script {
	var targets []string
	for _, f := range files {
		if f.Target != "" {
			targets = append(targets, f.Target)
		}
	}
	return scripts.Render("phases/artifacts-probe", struct{ Targets []string }{targets})
}

func (a *InstallArtifacts) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	if c.Spec.Artifacts == nil {
		return Work{Reasons: map[string]string{}}, nil
	}
	m, err := a.load(c)
	if err != nil {
		return Work{}, err
	}
	// The etcd hosts too: their kubelet runs etcd from the bundle's images.
	return ProbePending(ctx, env, kubeletHostNames(c), func(ctx context.Context, host string) (string, error) {
		files, images, err := a.hostState(ctx, env, host, m)
		if err != nil || len(files)+len(images) == 0 {
			return "", err
		}
		return fmt.Sprintf("upload %d files, import %d image tarballs", len(files), len(images)), nil
	})
}

func (a *InstallArtifacts) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	if c.Spec.Artifacts == nil || len(w.Pending) == 0 {
		return nil
	}
	m, err := a.load(c)
	if err != nil {
		return err
	}
	// Uploads have their own bound (--concurrent-uploads): the network and
	// disks, not SSH sessions, are what they contend for.
	return ForEachHost(ctx, env, w.Pending, installConcurrency(ctx, env), func(ctx context.Context, host string) error {
		files, images, err := a.hostState(ctx, env, host, m)
		if err != nil {
			return err
		}
		return a.install(ctx, env, host, m, files, images)
	})
}

// installConcurrency is how many hosts the artifacts phase installs on at
// once: the upload bound, or one host at a time while a control plane
// serves (a master has kubeha's control-plane mark: an upgrade's new
// version, or hosts added to a running cluster). containerd unpacks the
// imported images with every core it gets, beside the apiservers, etcd and
// the load balancer's health checks; on the project's VM six machines
// importing an upgrade's images at once cut the API off for 32 s
// (2026-12-02, docs/operations.md). A master whose facts cannot be had
// counts as not serving: the phase's own steps then say why.
func installConcurrency(ctx context.Context, env *Env) int {
	for _, m := range env.Cluster.Masters() {
		if f, err := env.Facts.Get(ctx, env, m.Name); err == nil && f.ControlPlaneDone {
			return 1
		}
	}
	return env.UploadConcurrency
}

// install uploads files and images (what hostState found missing) to host,
// imports the images, and checks that containerd fits the kubelet.
func (a *InstallArtifacts) install(ctx context.Context, env *Env, host string, m *bundle.Manifest, files, images []bundle.File) error {
	dir := env.Cluster.Spec.Artifacts.Dir
	log := env.Log.ForHost(host)
	upload := func(f bundle.File, target string, mode os.FileMode) error {
		src, err := os.Open(filepath.Join(dir, f.Path))
		if err != nil {
			return err
		}
		defer src.Close()
		return env.Hosts.Upload(ctx, host, ssh.File{Path: target, Content: src, Size: f.Size, Mode: mode,
			Progress: func(n int64) { log.Progress(f.Path, n, f.Size) }})
	}
	for _, f := range files {
		mode, _ := strconv.ParseUint(f.Mode, 8, 32)
		if err := upload(f, f.Target, os.FileMode(mode)); err != nil {
			return err
		}
		if strings.HasPrefix(f.Target, upgradeStage(m.KubernetesVersion)+"/") {
			log.Info("staged " + f.Target + " for the upgrade phase")
		} else {
			log.Info("installed " + f.Target)
		}
	}
	var staged []stagedImage
	for _, f := range images {
		path := imageStage + "/" + filepath.Base(f.Path)
		if err := upload(f, path, 0o600); err != nil {
			return err
		}
		staged = append(staged, stagedImage{Staged: path, Names: f.Images})
	}
	if len(files)+len(images) > 0 {
		if _, err := env.run(ctx, host, "install artifacts", installArtifactsScript(staged)); err != nil {
			return err
		}
	}
	if _, err := env.Facts.Refresh(ctx, env, host); err != nil {
		return err
	}
	return runtimeMatches(ctx, env, host)
}

// restoreArtifacts puts back on host, just before its turn in an upgrade,
// what the artifacts phase installed there and the host has lost since.
// The kubelet's image garbage collector removes the images no container
// uses once its image filesystem is fuller than imageGCHighThresholdPercent
// (85 by default), two minutes after they arrived at the earliest: the
// new version's images, preloaded for a node whose turn comes later, are
// such images, and an air-gapped node cannot pull them back, so kubeadm
// would wait for a static pod that never starts and roll back.
func restoreArtifacts(ctx context.Context, env *Env, host string) error {
	if env.Cluster.Spec.Artifacts == nil {
		return nil
	}
	// The artifacts phase verified the whole bundle; this verifies only
	// what goes up again, on every node's turn.
	dir := env.Cluster.Spec.Artifacts.Dir
	m, err := loadForVersion(env.Cluster)
	if err != nil {
		return err
	}
	a := &InstallArtifacts{manifest: m}
	files, images, err := a.hostState(ctx, env, host, m)
	if err != nil || len(files)+len(images) == 0 {
		return err
	}
	if err := bundle.Verify(dir, &bundle.Manifest{Files: slices.Concat(files, images)}); err != nil {
		return err
	}
	env.Log.ForHost(host).Warn(fmt.Sprintf("%d image tarballs and %d files of the bundle are not on the host (gone since the artifacts phase, or it did not run): installing them again "+
		"(the kubelet removes unused images when its disk is fuller than imageGCHighThresholdPercent; free some space on it)", len(images), len(files)))
	return a.install(ctx, env, host, m, files, images)
}

// stagedImage is an image tarball uploaded to the host, and the images it
// holds (from the bundle's manifest).
type stagedImage struct {
	Staged string
	Names  []string
}

// installArtifactsScript follows an upload of artifacts: systemd reads the
// kubelet's units again and the kubelet starts at boot; then each staged
// image tarball is imported into containerd's k8s.io namespace, removed,
// and the images it held are named. Image names come from the bundle's
// manifest: quoted like any value.
func installArtifactsScript(images []stagedImage) scripts.Script {
	return scripts.Render("phases/install-artifacts", struct{ Images []stagedImage }{images})
}

// runtimeMatches checks that containerd fits the kubelet on host: the same
// cgroup driver (when they differ, pods fail in ways hard to trace back),
// and a sandbox (pause) image that is already there (an air-gapped host
// cannot pull it, and every pod needs it).
func runtimeMatches(ctx context.Context, env *Env, host string) error {
	want := "systemd"
	if d, ok := env.Cluster.Spec.Kubeadm.KubeletConfiguration["cgroupDriver"].(string); ok && d != "" {
		want = d
	}
	res, err := env.quiet(ctx, host, "containerd settings", containerdSettingsScript())
	if err != nil {
		return err
	}
	sections := scripts.Sections(res.Stdout)
	conf, imgs := sections["config"], sections["images"]
	got, sandbox := "cgroupfs", ""
	for _, l := range strings.Split(conf, "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.TrimSpace(k) {
		case "SystemdCgroup":
			if v == "true" {
				got = "systemd"
			}
		case "sandbox_image":
			sandbox = v
		}
	}
	if got != want {
		return fmt.Errorf("containerd uses the %s cgroup driver, the kubelet %s: set SystemdCgroup in /etc/containerd/config.toml, or spec.kubeadm.kubeletConfiguration.cgroupDriver: %s", got, want, got)
	}
	if sandbox != "" && !strings.Contains("\n"+imgs, "\n"+sandbox+"\n") {
		return fmt.Errorf("containerd's sandbox image %s is not on this host and cannot be pulled here: set sandbox_image in /etc/containerd/config.toml to the pause image in the bundle, or add %s to the bundle", sandbox, sandbox)
	}
	return nil
}

// containerdSettingsScript prints containerd's SystemdCgroup and
// sandbox_image settings in section config and its images in section
// images; it fails when ctr cannot reach containerd.
func containerdSettingsScript() scripts.Script {
	return scripts.Render("phases/containerd-settings", nil)
}
