package inventory

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
)

// TestExamplesSurviveLoadThenSave: every example, loaded and written back as
// Marshal writes it (what the installer saves), loads as the same Cluster,
// whole: nothing kubeha reads is lost or changed by a save.
func TestExamplesSurviveLoadThenSave(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	files = append(files, "example.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			before, _, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Marshal(before)
			if err != nil {
				t.Fatal(err)
			}
			after, _, err := Parse(out)
			if err != nil {
				t.Fatalf("the saved file does not load: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(after, before) {
				again, _ := Marshal(after)
				t.Fatalf("load-then-save changed the inventory:\nloaded:\n%+v\nsaved and loaded again:\n%+v\nsaved file:\n%s\nsaved again:\n%s", before, after, out, again)
			}
		})
	}
}

// TestDeepCopySharesNothing: the copy equals the original, and changing
// the copy anywhere, through pointers, slices, maps and the free-form
// settings, leaves the original as it was.
func TestDeepCopySharesNothing(t *testing.T) {
	yes := true
	orig := &Cluster{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "prod"}, Spec: Spec{
		SSH:   SSH{User: "root", UseAgent: &yes, Bastion: &Bastion{Address: "10.0.0.2", Port: 22}},
		Hosts: []Host{{Name: "m1", Address: "10.0.0.11", Role: RoleMaster, SSH: &HostSSH{User: "admin", Sudo: &yes}}},
		LoadBalancer: LoadBalancer{Mode: ModeKeepalivedHAProxy, VIP: "10.0.0.100", StaticPods: true,
			Images: &LBImages{HAProxy: DefaultHAProxyImage}},
		Etcd: Etcd{Topology: EtcdExternal, External: &ExternalEtcd{Endpoints: []string{"https://10.0.0.5:2379"}}},
		Kubeadm: Kubeadm{
			APIServerExtraArgs:    map[string]string{"audit-log-path": "/var/log/audit.log"},
			APIServerCertSANs:     []string{"api.example.com"},
			IgnorePreflightErrors: []string{"SystemVerification"},
			KubeletConfiguration: map[string]any{
				"cgroupDriver": "cgroupfs",
				"evictionHard": map[string]any{"memory.available": "0%"},
				"list":         []any{"a", map[string]any{"b": 1}},
			},
		},
		Artifacts: &Artifacts{Dir: "/srv/bundle"},
	}}
	want, err := Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	c := orig.DeepCopy()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("copy differs:\n%+v\n%+v", c, orig)
	}
	c.Metadata.Name = "changed"
	*c.Spec.SSH.UseAgent = false
	c.Spec.SSH.Bastion.Address = "10.9.9.9"
	c.Spec.Hosts[0].Name = "changed"
	c.Spec.Hosts[0].SSH.User = "changed"
	*c.Spec.Hosts[0].SSH.Sudo = false
	c.Spec.LoadBalancer.Images.HAProxy = "changed"
	c.Spec.Etcd.External.Endpoints[0] = "changed"
	c.Spec.Kubeadm.APIServerExtraArgs["audit-log-path"] = "changed"
	c.Spec.Kubeadm.APIServerCertSANs[0] = "changed"
	c.Spec.Kubeadm.IgnorePreflightErrors[0] = "changed"
	c.Spec.Kubeadm.KubeletConfiguration["evictionHard"].(map[string]any)["memory.available"] = "changed"
	c.Spec.Kubeadm.KubeletConfiguration["list"].([]any)[0] = "changed"
	c.Spec.Kubeadm.KubeletConfiguration["list"].([]any)[1].(map[string]any)["b"] = 2
	c.Spec.Artifacts.Dir = "changed"
	got, err := Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("changing the copy changed the original:\n%s\nwant:\n%s", got, want)
	}
}
