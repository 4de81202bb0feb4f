package flannel

import (
	"os"
	"strings"
	"testing"
)

// images names the two images of kube-flannel.yml v0.28.10, in lines of
// the harness's own making (the plugin's init container, flannel's init
// and main containers), not the manifest's text: TestManifestImagesOfTheRelease
// reads the release's own file.
const images = `      - name: copies-the-plugin
        image: ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3
      - name: writes-the-conflist
        image: ghcr.io/flannel-io/flannel:v0.28.10
      - name: runs-flanneld
        image: ghcr.io/flannel-io/flannel:v0.28.10
`

func TestManifestImages(t *testing.T) {
	for _, tc := range []struct {
		name, manifest, plugin, flannel, err string
	}{
		{"the release's images", images, "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3", "ghcr.io/flannel-io/flannel:v0.28.10", ""},
		{"quoted, a registry with a port", "  image: \"reg:5000/f/flannel-cni-plugin:x\"\n  image: 'reg:5000/f/flannel:y'\n",
			"reg:5000/f/flannel-cni-plugin:x", "reg:5000/f/flannel:y", ""},
		{"two flannel versions", images + "        image: ghcr.io/flannel-io/flannel:v0.27.0\n", "", "", "names both"},
		{"an image the harness cannot build", images + "        image: docker.io/library/busybox:1\n", "", "", "does not know how to build"},
		{"no plugin image", "        image: ghcr.io/flannel-io/flannel:v0.28.10\n", "", "", "no flannel-cni-plugin image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plugin, flannel, err := ManifestImages([]byte(tc.manifest))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || plugin != tc.plugin || flannel != tc.flannel {
				t.Fatalf("%q, %q, %v; want %q, %q", plugin, flannel, err, tc.plugin, tc.flannel)
			}
		})
	}
}

// TestManifestImagesOfTheRelease reads the release's manifest where
// build.sh put it, when it has run.
func TestManifestImagesOfTheRelease(t *testing.T) {
	data, err := os.ReadFile(ManifestPath())
	if err != nil {
		t.Skipf("%v: run e2e/flannel/build.sh", err)
	}
	plugin, flannel, err := ManifestImages(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ghcr.io/flannel-io/flannel:" + Version; flannel != want {
		t.Errorf("flannel image %s, want %s", flannel, want)
	}
	if !strings.HasPrefix(plugin, "ghcr.io/flannel-io/flannel-cni-plugin:") {
		t.Errorf("plugin image %s", plugin)
	}
}

func TestWithCNIVersion(t *testing.T) {
	const conf = `  cni-conf.json: |
    {
      "name": "cbr0",
      "cniVersion": "1.0.0",
      "plugins": [
`
	for _, tc := range []struct {
		name, manifest, want, err string
	}{
		{"as published", conf, strings.Replace(conf, `"1.0.0"`, `"0.4.0"`, 1), ""},
		{"no cniVersion", "  cni-conf.json: |\n    {\n", "", "has 0 cniVersion lines"},
		{"two", conf + `      "cniVersion": "0.3.1",` + "\n", "", "has 2 cniVersion lines"},
		{"not a string", `      "cniVersion": 1,` + "\n", "", "is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WithCNIVersion([]byte(tc.manifest), "0.4.0")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("%v\n%s\nwant\n%s", err, got, tc.want)
			}
		})
	}
}

// TestWithCNIVersionOfTheRelease: the release's manifest has the one line
// WithCNIVersion changes, and nothing else changes.
func TestWithCNIVersionOfTheRelease(t *testing.T) {
	data, err := os.ReadFile(ManifestPath())
	if err != nil {
		t.Skipf("%v: run e2e/flannel/build.sh", err)
	}
	got, err := WithCNIVersion(data, ServedPluginCNIVersion)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(string(data), `"cniVersion": "1.0.0",`, `"cniVersion": "0.4.0",`, 1); string(got) != want {
		t.Errorf("changed more than the cniVersion line")
	}
}
