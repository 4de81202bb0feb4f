package inventory

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestExamplesSurviveLoadThenSave: every example, loaded and written back as
// Marshal writes it, and as the installer saves it over the example
// (MarshalKeepingComments), loads as the same Cluster, whole: nothing
// kubeha reads is lost or changed by a save.
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
			orig, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := Marshal(before)
			if err != nil {
				t.Fatal(err)
			}
			commented, err := MarshalKeepingComments(before, orig)
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range [][]byte{plain, commented} {
				after, _, err := Parse(out)
				if err != nil {
					t.Fatalf("the saved file does not load: %v\n%s", err, out)
				}
				if !reflect.DeepEqual(after, before) {
					again, _ := Marshal(after)
					t.Fatalf("load-then-save changed the inventory:\nloaded:\n%+v\nsaved and loaded again:\n%+v\nsaved file:\n%s\nsaved again:\n%s", before, after, out, again)
				}
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
		CNI:  CNI{Plugin: CNIManifest, Manifest: "kube-flannel.yml", Ports: []string{"8472/udp"}},
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
	c.Spec.CNI.Ports[0] = "changed"
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

// TestMarshalKeepingComments loads a commented file, changes the inventory
// as the installer may (a field, a host added, a host removed) and saves
// it over the file: the whole saved file is testdata/comments/<case>.golden
// (go test ./inventory -update rewrites them; review the diff). Each case
// also checks that the saved file loads as the changed inventory, that
// comments the case names are kept or dropped, and that the comments add
// nothing when there are none to keep: the file is then Marshal's.
func TestMarshalKeepingComments(t *testing.T) {
	site, err := os.ReadFile("testdata/comments/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		orig    []byte
		from    []byte // the file the cluster is loaded from; orig when nil
		change  func(c *Cluster)
		kept    []string // lines (trimmed) the saved file has
		dropped []string // substrings it must not have
		plain   bool     // nothing to keep: the saved file is Marshal's
	}{
		{
			name: "unchanged",
			orig: site,
			kept: []string{
				"# Site inventory for the lab cluster.",
				"# Owner: platform team; keys live in /keys.",
				"name: lab # keys the journal in .kubeha/lab/",
				"# pinned until the upgrade window",
				"port: 2222 # sshd moved off 22",
				`knownHostsPath: "/keys/known_hosts"`,
				"# m2 is on the flaky PSU",
				"ssh: {user: admin} # its own account",
				"apiServerCertSANs: [api.lab.example.com] # the public name",
				"# the hosts run cgroup v1 until the reinstall",
				"# end of the lab inventory",
			},
		},
		{
			name: "a field changed",
			orig: site,
			change: func(c *Cluster) {
				c.Spec.SSH.User = "deploy"
				c.Spec.LoadBalancer.VIP = "10.0.0.101"
				c.Spec.SSH.KnownHostsPath = "/keys/known_hosts2"
			},
			kept: []string{
				"user: deploy # the deploy account",
				"vip: 10.0.0.101 # reserved in IPAM",
				"knownHostsPath: /keys/known_hosts2",
				"virtualRouterID: 7 # 51 is taken by the storage VRRP",
			},
			dropped: []string{"user: ops", "10.0.0.100"},
		},
		{
			name: "a host added",
			orig: site,
			change: func(c *Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts, Host{Name: "w2", Address: "10.0.0.22", InternalAddress: "10.0.0.22", Role: RoleWorker})
			},
			kept: []string{"- name: w1 # GPU node", "- name: w2", "address: 10.0.0.22"},
		},
		{
			name: "a host removed",
			orig: site,
			change: func(c *Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts[:1:1], c.Spec.Hosts[2:]...)
			},
			kept:    []string{"# the first master runs kubeadm init", "- name: m1 # rack 1", "- name: w1 # GPU node"},
			dropped: []string{"m2", "flaky PSU", "BMC", "its own account"},
		},
		{
			name: "a host removed and one added, a field changed",
			orig: site,
			change: func(c *Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts[1:2:2], c.Spec.Hosts[2:]...)
				c.Spec.Hosts = append(c.Spec.Hosts, Host{Name: "m4", Address: "10.0.0.14", InternalAddress: "10.0.0.14", Role: RoleMaster})
				c.Spec.Network.PodSubnet = "10.40.0.0/16"
			},
			kept:    []string{"# m2 is on the flaky PSU", "address: 10.0.0.12 # BMC 10.9.0.12", "- name: m4", "podSubnet: 10.40.0.0/16 # not 10.244: the office VPN uses it"},
			dropped: []string{"rack 1", "kubeadm init"},
		},
		{
			name: "flow-style hosts: an added host is written the same way",
			orig: example,
			change: func(c *Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts[:3:3], Host{Name: "k7", Address: "192.168.8.192", InternalAddress: "192.168.8.192", Role: RoleWorker})
			},
			kept: []string{
				"# kubeha inventory: every field is documented in docs/inventory.md.",
				"hosts: # role: master | worker | loadbalancer",
				"- {name: k7, address: 192.168.8.192, internalAddress: 192.168.8.192, role: worker}",
				"mode: keepalived-haproxy # keepalived-haproxy | kube-vip | local-proxy | external",
			},
			dropped: []string{"k4", "k5", "k6"},
		},
		{
			name:  "a new file: no comments",
			from:  site,
			plain: true,
		},
		{
			name:  "a file that is not YAML: no comments",
			orig:  []byte("spec: [\n# a comment\n"),
			from:  site,
			plain: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := tt.from
			if from == nil {
				from = tt.orig
			}
			c, _, err := Parse(from)
			if err != nil {
				t.Fatal(err)
			}
			if tt.change != nil {
				tt.change(c)
			}
			got, err := MarshalKeepingComments(c, tt.orig)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "comments", strings.NewReplacer(" ", "-", ",", "", ":", "").Replace(tt.name)+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden file (go test ./inventory -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("saved file differs from %s:\n%s", golden, got)
			}
			after, _, err := Parse(got)
			if err != nil {
				t.Fatalf("the saved file does not load: %v\n%s", err, got)
			}
			if !reflect.DeepEqual(after, c) {
				t.Errorf("the saved file loads as\n%+v\nwant\n%+v", after, c)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(string(got), "\n") {
				lines[strings.TrimSpace(l)] = true
			}
			for _, l := range tt.kept {
				if !lines[l] {
					t.Errorf("no line %q in:\n%s", l, got)
				}
			}
			for _, s := range tt.dropped {
				if bytes.Contains(got, []byte(s)) {
					t.Errorf("%q is still in:\n%s", s, got)
				}
			}
			if plain, err := Marshal(c); err != nil {
				t.Fatal(err)
			} else if tt.plain && !bytes.Equal(got, plain) {
				t.Errorf("without comments to keep, the file must be Marshal's:\n%s\nwant:\n%s", got, plain)
			}
		})
	}
}
