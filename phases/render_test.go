package phases

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/e2e/kube"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
)

// kinds lists the kind of each document in a rendered kubeadm config.
func kinds(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		out = append(out, doc.Kind)
	}
	return out
}

// TestRenderWritesEveryKubeadmConfig: `kubeha render` of each example
// writes an InitConfiguration for the first master and a JoinConfiguration
// for every other node, with placeholder secrets, and the real kubeadm
// accepts each (`kubeadm config validate`, strict).
func TestRenderWritesEveryKubeadmConfig(t *testing.T) {
	k := kube.Require(t, "kubeadm")
	examples, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			c, _, err := inventory.Load(ex)
			if err != nil {
				t.Fatal(err)
			}
			c = withTestCNIManifest(c)
			files, err := RenderAll(context.Background(), Registry(), OfflineView{C: c})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{}
			for _, f := range files {
				if f.Path == kubeadm.InitConfigPath || f.Path == kubeadm.JoinConfigPath {
					if _, dup := got[f.Host]; dup {
						t.Errorf("%s: two kubeadm configs", f.Host)
					}
					got[f.Host] = f.Content
					if f.Mode != 0o600 {
						t.Errorf("%s: %s mode %o, want 600", f.Host, f.Path, f.Mode)
					}
				}
			}
			for i, n := range nodes(c) {
				b, ok := got[n.Name]
				if !ok {
					t.Errorf("%s: no kubeadm config rendered", n.Name)
					continue
				}
				want := "JoinConfiguration"
				if i == 0 {
					want = "InitConfiguration"
				}
				if ks := kinds(t, b); len(ks) == 0 || ks[0] != want {
					t.Errorf("%s: documents %v, want %s first", n.Name, ks, want)
				}
				if !bytes.Contains(b, []byte(kubeadm.Placeholders.Token)) {
					t.Errorf("%s: the placeholder token is not in the rendered config", n.Name)
				}
				p := filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(k, "config", "validate", "--config", p).CombinedOutput(); err != nil {
					t.Errorf("%s: kubeadm rejects the rendered config: %v\n%s\n%s", n.Name, err, out, b)
				}
			}
			if len(got) != len(nodes(c)) {
				t.Errorf("%d kubeadm configs for %d nodes", len(got), len(nodes(c)))
			}
		})
	}
}
