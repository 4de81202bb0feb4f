package kubeadm

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/e2e/kube"
	"github.com/kubeha/kubeha/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

// rendered returns, per example, the init config of the first master, a
// control-plane join of the second master (if any) and a worker join.
func rendered(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	examples, _ := filepath.Glob("../examples/*.yaml")
	examples = append(examples, "testdata/e2e-vm.yaml")
	for _, ex := range examples {
		c, _, err := inventory.Load(ex)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(ex), ".yaml")
		masters := c.Masters()
		b, err := InitConfig(c, masters[0], Placeholders)
		if err != nil {
			t.Fatal(err)
		}
		out[name+"/init.yaml"] = b
		for file, s := range map[string]Secrets{
			"token-create.yaml": {Token: Placeholders.Token},
			"upload-certs.yaml": {CertificateKey: Placeholders.CertificateKey},
		} {
			if out[name+"/"+file], err = CredentialsConfig(c, masters[0], s); err != nil {
				t.Fatal(err)
			}
		}
		if len(masters) > 1 {
			if out[name+"/join-control-plane.yaml"], err = JoinConfig(c, masters[1], Placeholders, true); err != nil {
				t.Fatal(err)
			}
		}
		if ws := c.Workers(); len(ws) > 0 {
			if out[name+"/join-worker.yaml"], err = JoinConfig(c, ws[0], Placeholders, false); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range c.EtcdHosts() {
			if out[name+"/etcd-member-"+h.Name+".yaml"], err = EtcdMemberConfig(c, h); err != nil {
				t.Fatal(err)
			}
		}
		if len(c.EtcdHosts()) > 0 {
			// kubeadm validates a KubeletConfiguration beside the
			// configuration it belongs to.
			kc, err := EtcdKubeletConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			member, _ := EtcdMemberConfig(c, c.EtcdHosts()[0])
			out[name+"/etcd-kubelet.yaml"] = append(append(member, "---\n"...), kc...)
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	for name, b := range rendered(t) {
		p := filepath.Join("testdata", "golden", name)
		if *update {
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, b, 0o644)
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v (run go test ./kubeadm -update)", p, err)
		}
		if !bytes.Equal(want, b) {
			t.Errorf("%s differs from golden:\n%s", p, b)
		}
	}
}

func TestShape(t *testing.T) {
	c, _, err := inventory.Load("../examples/keepalived-haproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cc := Cluster(c)
	if cc.ControlPlaneEndpoint != "k8s-apiserver-vip:16443" {
		t.Errorf("endpoint %s", cc.ControlPlaneEndpoint)
	}
	for _, want := range []string{"k8s-apiserver-vip", "192.168.8.10", "192.168.8.191", "192.168.8.187", "192.168.8.186"} {
		found := false
		for _, s := range cc.APIServer.CertSANs {
			found = found || s == want
		}
		if !found {
			t.Errorf("certSANs lack %s: %v", want, cc.APIServer.CertSANs)
		}
	}
	kp := KubeProxyConfig(c)
	ipvs := kp["ipvs"].(map[string]any)
	if kp["mode"] != "ipvs" || ipvs["strictARP"] != true || ipvs["excludeCIDRs"].([]any)[0] != "192.168.8.10/32" {
		t.Errorf("kube-proxy config %v", kp)
	}
	// The operator's values win, nested maps merge.
	c.Spec.Kubeadm.KubeProxyConfiguration = map[string]any{"ipvs": map[string]any{"scheduler": "wrr"}}
	c.Spec.Kubeadm.APIServerExtraArgs = map[string]string{"goaway-chance": "0.02"}
	ipvs = KubeProxyConfig(c)["ipvs"].(map[string]any)
	if ipvs["scheduler"] != "wrr" || ipvs["strictARP"] != true {
		t.Errorf("merge lost a key: %v", ipvs)
	}
	want := []Arg{{Name: "goaway-chance", Value: "0.02"}, {Name: "shutdown-delay-duration", Value: ShutdownDelay}}
	if a := Cluster(c).APIServer.ExtraArgs; !slices.Equal(a, want) {
		t.Errorf("user extra args must win over the defaults: got %v, want %v", a, want)
	}
}

// TestKubeadmAcceptsRenderedConfigs runs the real `kubeadm config validate`
// (strict: unknown fields, bad CIDRs and old API versions are rejected) on
// every rendered config.
func TestKubeadmAcceptsRenderedConfigs(t *testing.T) {
	k := kube.Require(t, "kubeadm")
	for name, b := range rendered(t) {
		p := filepath.Join(t.TempDir(), "config.yaml")
		os.WriteFile(p, b, 0o600)
		out, err := exec.Command(k, "config", "validate", "--config", p).CombinedOutput()
		if err != nil {
			t.Errorf("%s rejected by kubeadm: %v\n%s", name, err, out)
		}
	}
}

// TestFreeFormValuesStayInTheirScalars backs the one exception to
// inventory's forms (issue 14): kubeletConfiguration and
// kubeProxyConfiguration are free-form because they reach kubeadm only
// through the YAML encoder. Hostile keys and values must come back out of
// the rendered config as the same data, adding no key and no document.
func TestFreeFormValuesStayInTheirScalars(t *testing.T) {
	c, _, err := inventory.Load("../examples/keepalived-haproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hostile := map[string]any{
		"resolvConf": "/etc/resolv.conf\nkind: Evil\n---\napiVersion: v1\nkind: Pod",
		"x: y\n- z":  "'\"`$(id)`\"'#{}[]&*!|>%@",
		"nested":     map[string]any{"a\n---\nb": []any{"c\n...\n", "\x00\x1b[2J\u2028"}},
	}
	c.Spec.Kubeadm.KubeletConfiguration = hostile
	c.Spec.Kubeadm.KubeProxyConfiguration = hostile
	b, err := InitConfig(c, c.Masters()[0], Placeholders)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		docs = append(docs, d)
	}
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4:\n%s", len(docs), b)
	}
	for i, want := range []map[string]any{sortedMap(KubeletConfig(c)), sortedMap(KubeProxyConfig(c))} {
		got := docs[2+i]
		for k, v := range want {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("document %d key %q: got %#v, want %#v", 2+i, k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("document %d has %d keys, want %d", 2+i, len(got), len(want))
		}
	}
}

// TestManifestsDirCheckIgnored: kubeadm's check for an empty manifests
// directory is skipped exactly where kubeha put the load balancer's static
// pods there first: on the masters, with keepalived and haproxy as static
// pods or with kube-vip; the operator's own list is kept as written.
func TestManifestsDirCheckIgnored(t *testing.T) {
	tests := []struct {
		name    string
		example string
		host    string
		ignore  []string
		want    []string
	}{
		{"static pods, master", "keepalived-haproxy-static-pods", "master-2", nil, []string{manifestsDirCheck}},
		{"static pods, worker", "keepalived-haproxy-static-pods", "node-1", nil, nil},
		{"kube-vip, first master", "kube-vip", "master-1", nil, []string{manifestsDirCheck}},
		{"kube-vip, worker", "kube-vip", "node-1", nil, nil},
		{"kube-vip, operator's list kept", "kube-vip", "master-3", []string{"Swap"}, []string{"Swap", manifestsDirCheck}},
		{"kube-vip, operator names it already", "kube-vip", "master-3", []string{manifestsDirCheck}, []string{manifestsDirCheck}},
		{"services, master", "keepalived-haproxy", "k1", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := inventory.Load("../examples/" + tt.example + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			c.Spec.Kubeadm.IgnorePreflightErrors = tt.ignore
			h, ok := c.Host(tt.host)
			if !ok {
				t.Fatalf("no host %s", tt.host)
			}
			if got := nodeRegistration(c, h).IgnorePreflightErrors; !slices.Equal(got, tt.want) {
				t.Errorf("ignorePreflightErrors %v, want %v", got, tt.want)
			}
		})
	}
}
