// Package flannel makes what TestFlannel (e2e/cluster) runs through
// kubeha's cni: manifest: flannel's own kube-flannel.yml, flanneld and
// install-conf built offline from flannel's module by build.sh, a flannel
// CNI plugin, and the two images the manifest names, made from those
// binaries. The plugin is the one build.sh builds from
// containernetworking/plugins v0.9.1 (the last release that carried it,
// served by the Go module proxy) unless PluginEnv names one built outside
// the project from github.com/flannel-io/cni-plugin, which no proxy
// serves.
package flannel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kubeha/kubeha/e2e/kube"
	"github.com/kubeha/kubeha/e2e/machines"
)

// Version is the flannel release whose manifest and binaries the test
// runs.
const Version = "v0.28.10"

// PluginEnv names the environment variable that holds the path of a flannel
// CNI plugin binary built outside the project from flannel-io/cni-plugin,
// which then takes the place of ServedPluginPath's.
const PluginEnv = "KUBEHA_FLANNEL_CNI_PLUGIN"

// ServedPluginCNIVersion is the newest CNI version the plugin build.sh
// builds (containernetworking/plugins v0.9.1) speaks: it supports
// 0.1.0-0.4.0, and kube-flannel.yml's conflist says 1.0.0, the version of
// the plugin flannel ships.
const ServedPluginCNIVersion = "0.4.0"

// ServedPluginPath is the flannel CNI plugin build.sh builds from
// containernetworking/plugins v0.9.1.
func ServedPluginPath() string { return filepath.Join(Dir(), "flannel-cni") }

// WithCNIVersion returns manifest with its conflist's cniVersion, the one
// line `"cniVersion": "<v>",` of the cni-conf.json, set to version. It
// fails unless exactly one such line is there: a manifest of another shape
// is not silently left as it was.
func WithCNIVersion(manifest []byte, version string) ([]byte, error) {
	lines := strings.Split(string(manifest), "\n")
	found := 0
	for i, l := range lines {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), `"cniVersion":`)
		if !ok {
			continue
		}
		if !strings.HasSuffix(strings.TrimSpace(v), `",`) || !strings.HasPrefix(strings.TrimSpace(v), `"`) {
			return nil, fmt.Errorf("the manifest's cniVersion line %q is not `\"cniVersion\": \"<version>\",`", strings.TrimSpace(l))
		}
		found++
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		lines[i] = indent + `"cniVersion": "` + version + `",`
	}
	if found != 1 {
		return nil, fmt.Errorf("the manifest has %d cniVersion lines, want exactly one (its cni-conf.json's)", found)
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// Dir is where build.sh puts flanneld, install-conf and kube-flannel.yml
// of Version.
func Dir() string { return filepath.Join(kube.CacheDir(), "flannel", Version) }

// ManifestPath is the release's kube-flannel.yml, as build.sh copies it
// from the module.
func ManifestPath() string { return filepath.Join(Dir(), "kube-flannel.yml") }

// Build runs e2e/flannel/build.sh of the checkout at repoRoot for Version:
// quiet when everything is cached, its progress lines logged when it
// builds.
func Build(ctx context.Context, log machines.Logf, repoRoot string) error {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("e2e", "flannel", "build.sh"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "FLANNEL_VERSION="+Version)
	if err := machines.RunBuild(log, cmd); err != nil {
		return fmt.Errorf("FLANNEL_VERSION=%s e2e/flannel/build.sh: %w", Version, err)
	}
	return nil
}

// ManifestImages returns the images manifest (a kube-flannel.yml) names:
// its CNI plugin's (flannel-cni-plugin, whose init container copies /flannel
// to the node's /opt/cni/bin) and flannel's (flannel, whose init container
// runs /opt/bin/install-conf and whose main container /opt/bin/flanneld).
// Each must be named, and each always by the same name.
func ManifestImages(manifest []byte) (plugin, flannel string, err error) {
	for _, l := range strings.Split(string(manifest), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), "image:")
		if !ok {
			continue
		}
		name := strings.Trim(strings.TrimSpace(v), `"'`)
		repo := name
		if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
			repo = name[:i]
		}
		var slot *string
		switch repo[strings.LastIndexByte(repo, '/')+1:] {
		case "flannel-cni-plugin":
			slot = &plugin
		case "flannel":
			slot = &flannel
		default:
			return "", "", fmt.Errorf("the manifest names image %s, which the harness does not know how to build", name)
		}
		if *slot != "" && *slot != name {
			return "", "", fmt.Errorf("the manifest names both %s and %s", *slot, name)
		}
		*slot = name
	}
	if plugin == "" || flannel == "" {
		return "", "", fmt.Errorf("the manifest names no flannel-cni-plugin image or no flannel image (found %q, %q)", plugin, flannel)
	}
	return plugin, flannel, nil
}

// Images builds, in the harness's docker, the two images manifest names,
// tagged exactly so, for the manifest applies as published: the CNI
// plugin's, with pluginBinary at /flannel, and flannel's, with Dir()'s
// flanneld and install-conf in /opt/bin. Both are layers on base, the bare
// node image: the plugin's init container runs `cp`, and flanneld, with the
// manifest's --ip-masq, runs iptables and iptables-restore (its iptables
// mode, the manifest's default) and nft (it removes the rules of the mode
// it does not use). Debian's iptables there uses the nft backend, as the
// nodes' own and kube-proxy's do, and upstream's alpine image carries the
// same tools. It returns the images' names.
func Images(ctx context.Context, d *machines.Docker, log machines.Logf, base string, manifest []byte, pluginBinary string) ([]string, error) {
	plugin, flannel, err := ManifestImages(manifest)
	if err != nil {
		return nil, err
	}
	if err := machines.FilesImage(ctx, d, log, base, plugin, []machines.ImageFile{{Src: pluginBinary, Dst: "/flannel"}}); err != nil {
		return nil, err
	}
	if err := machines.FilesImage(ctx, d, log, base, flannel, []machines.ImageFile{
		{Src: filepath.Join(Dir(), "flanneld"), Dst: "/opt/bin/flanneld"},
		{Src: filepath.Join(Dir(), "install-conf"), Dst: "/opt/bin/install-conf"},
	}); err != nil {
		return nil, err
	}
	return []string{plugin, flannel}, nil
}
