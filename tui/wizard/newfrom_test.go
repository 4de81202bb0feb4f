package wizard

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubeha/kubeha/inventory"
)

// everything is an inventory that sets every field kubeha has, shown by
// the installer or not.
const everything = `apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: lab}
spec:
  kubernetesVersion: v1.36.1
  ssh: {user: ops, port: 2222, keyPath: /keys/id, knownHostsPath: /keys/known_hosts, useAgent: false, sudo: true, bastion: {address: 10.0.0.2, user: jump, keyPath: /keys/jump}}
  hosts:
  - {name: m1, address: 10.0.0.11, internalAddress: 10.1.0.11, role: master}
  - {name: m2, address: 10.0.0.12, role: master, ssh: {user: admin, port: 2200, keyPath: /keys/m2, sudo: false}}
  - {name: w1, address: 10.0.0.21, role: worker}
  controlPlaneEndpoint: {name: lab-api, port: 8443}
  loadBalancer:
    mode: keepalived-haproxy
    vip: 10.0.0.100
    interface: eth1
    virtualRouterID: 7
    staticPods: true
    images: {haproxy: "registry.local/haproxy:2.8", keepalived: "registry.local/keepalived:2"}
  etcd: {topology: external, external: {endpoints: ["https://10.0.0.5:2379"], caFile: /pki/ca.crt, certFile: /pki/c.crt, keyFile: /pki/c.key}}
  network: {podSubnet: 10.32.0.0/16, serviceSubnet: 10.33.0.0/16, dnsDomain: lab.local, kubeProxyMode: iptables, podRoutes: {enabled: true, interface: eth1, gateway: 10.0.0.1}}
  cni: {plugin: manifest, manifest: /srv/calico.yaml, ports: [4789/udp, 179/tcp]}
  kubeadm:
    apiServerExtraArgs: {audit-log-path: /var/log/audit.log}
    apiServerCertSANs: [api.lab.example.com]
    kubeletExtraArgs: {node-labels: zone=a}
    patchesDir: /srv/patches
    kubeletConfiguration: {cgroupDriver: cgroupfs, failCgroupV1: false, evictionHard: {memory.available: "0%"}}
    kubeProxyConfiguration: {conntrack: {maxPerCore: 0}}
    ignorePreflightErrors: [SystemVerification, Swap]
  artifacts: {dir: /srv/bundle}
  adminKubeconfig: {copyToSSHUser: true}
`

func parse(t *testing.T, yaml string) *inventory.Cluster {
	t.Helper()
	c, _, err := inventory.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func example(t *testing.T, name string) *inventory.Cluster {
	t.Helper()
	c, _, err := inventory.Load(filepath.Join("../../examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shown is every field a screen shows, as "label: value".
func shown(m Model, step int) []string {
	m.step = step
	var out []string
	for _, f := range m.visible() {
		out = append(out, f.label+": "+f.input.Value())
	}
	return out
}

// hostRows are the rows of the hosts screen's list, without trailing
// blanks.
func hostRows(m Model) []string {
	m.step = StepHosts
	_, list, _ := strings.Cut(m.View(), "\nhosts\n")
	list, _, _ = strings.Cut(list, "\n\n")
	var rows []string
	for _, l := range strings.Split(list, "\n") {
		rows = append(rows, strings.TrimRight(l, " "))
	}
	return rows
}

// fill focuses the field labelled label on the current screen by pressing
// tab, and types value over what it holds.
func fill(t *testing.T, m Model, label, value string) Model {
	t.Helper()
	return typeText(clear(focus(t, m, label)), value)
}

// focus presses tab until the field labelled label on the current screen
// has the focus.
func focus(t *testing.T, m Model, label string) Model {
	t.Helper()
	for range m.visible() {
		if m.visible()[m.focus].label == label {
			return m
		}
		m = press(m, tab)
	}
	t.Fatalf("no field %q on the screen:\n%s", label, m.View())
	return m
}

// Every field the installer shows starts as the file has it, the hosts are
// listed, and the load-balancer mode is the file's, kube-vip included.
func TestNewFromFillsEveryShownField(t *testing.T) {
	tests := []struct {
		name    string
		c       *inventory.Cluster
		cluster []string
		mode    string
		lb      []string
		network []string
		rows    []string
	}{
		{
			name: "demo.yaml",
			c:    example(t, "demo.yaml"),
			cluster: []string{"cluster name: demo", "Kubernetes version: v1.37.2", "SSH user: root",
				"SSH private key: /run/kh-e2e/keys/id_ed25519", "known_hosts file: /run/kh-e2e/keys/known_hosts",
				"SSH user's kubeconfig: no"},
			mode:    inventory.ModeKeepalivedHAProxy,
			lb:      []string{"endpoint name: k8s-apiserver-vip", "endpoint port: 16443", "VIP: 10.213.0.100", "virtual router id: 51"},
			network: []string{"Pod subnet: 10.244.0.0/16", "Service subnet: 10.96.0.0/12", "kube-proxy mode: ipvs", "fallback without ip_vs: iptables"},
			rows: []string{
				"  m1       10.213.0.21      master",
				"  m2       10.213.0.22      master",
				"  m3       10.213.0.23      master",
				"  w1       10.213.0.24      worker",
				"  w2       10.213.0.25      worker",
			},
		},
		{
			name: "keepalived-haproxy.yaml: the SSH user's kubeconfig on",
			c:    example(t, "keepalived-haproxy.yaml"),
			cluster: []string{"cluster name: prod", "Kubernetes version: v1.37.2", "SSH user: root",
				"SSH private key: ~/.ssh/id_ed25519", "known_hosts file: ~/.ssh/known_hosts", "SSH user's kubeconfig: yes"},
			mode:    inventory.ModeKeepalivedHAProxy,
			lb:      []string{"endpoint name: k8s-apiserver-vip", "endpoint port: 16443", "VIP: 192.168.8.10", "virtual router id: 51"},
			network: []string{"Pod subnet: 10.244.0.0/16", "Service subnet: 10.96.0.0/12", "kube-proxy mode: ipvs", "fallback without ip_vs: "},
			rows: []string{
				"  k1       192.168.8.191    master",
				"  k2       192.168.8.187    master",
				"  k3       192.168.8.186    master",
				"  k4       192.168.8.188    worker",
				"  k5       192.168.8.190    worker",
				"  k6       192.168.8.189    worker",
			},
		},
		{
			name: "external-slb.yaml: empty SSH user and key stay empty",
			c:    example(t, "external-slb.yaml"),
			cluster: []string{"cluster name: cloud", "Kubernetes version: v1.37.2", "SSH user: ",
				"SSH private key: ", "known_hosts file: ~/.ssh/known_hosts", "SSH user's kubeconfig: no"},
			mode:    inventory.ModeExternal,
			lb:      []string{"endpoint name: k8s-apiserver-lb", "endpoint port: 6443", "SLB address: 192.168.8.210"},
			network: []string{"Pod subnet: 10.200.0.0/16", "Service subnet: 10.96.0.0/12", "kube-proxy mode: ipvs", "fallback without ip_vs: "},
			rows: []string{
				"  k1       192.168.8.208    master",
				"  k2       192.168.8.207    master",
				"  k3       192.168.8.209    master",
				"  k4       192.168.8.211    worker",
				"  k5       192.168.8.212    worker",
				"  k6       192.168.8.213    worker",
			},
		},
		{
			name: "local-proxy.yaml",
			c:    example(t, "local-proxy.yaml"),
			cluster: []string{"cluster name: private", "Kubernetes version: v1.37.2", "SSH user: ubuntu",
				"SSH private key: ", "known_hosts file: ~/.ssh/known_hosts", "SSH user's kubeconfig: no"},
			mode:    inventory.ModeLocalProxy,
			lb:      []string{"endpoint port: 6443", "local proxy: nginx"},
			network: []string{"Pod subnet: 10.244.0.0/16", "Service subnet: 10.96.0.0/12", "kube-proxy mode: ipvs", "fallback without ip_vs: "},
			rows: []string{
				"  m1       192.168.2.111    master",
				"  m2       192.168.2.112    master",
				"  m3       192.168.2.113    master",
				"  w1       192.168.2.121    worker",
				"  w2       192.168.2.122    worker",
			},
		},
		{
			name: "kube-vip.yaml",
			c:    example(t, "kube-vip.yaml"),
			cluster: []string{"cluster name: vip", "Kubernetes version: v1.37.2", "SSH user: ",
				"SSH private key: ", "known_hosts file: ~/.ssh/known_hosts", "SSH user's kubeconfig: no"},
			mode:    inventory.ModeKubeVIP,
			lb:      []string{"endpoint name: k8s-apiserver", "VIP: 192.168.20.150", "VIP interface: "},
			network: []string{"Pod subnet: 10.244.0.0/16", "Service subnet: 10.96.0.0/12", "kube-proxy mode: nftables", "fallback without ip_vs: "},
			rows: []string{
				"  master-1 192.168.20.11    master",
				"  master-2 192.168.20.12    master",
				"  master-3 192.168.20.13    master",
				"  node-1   192.168.20.21    worker",
			},
		},
		{
			name: "every field set",
			c:    parse(t, everything),
			cluster: []string{"cluster name: lab", "Kubernetes version: v1.36.1", "SSH user: ops",
				"SSH private key: /keys/id", "known_hosts file: /keys/known_hosts", "SSH user's kubeconfig: yes"},
			mode:    inventory.ModeKeepalivedHAProxy,
			lb:      []string{"endpoint name: lab-api", "endpoint port: 8443", "VIP: 10.0.0.100", "virtual router id: 7"},
			network: []string{"Pod subnet: 10.32.0.0/16", "Service subnet: 10.33.0.0/16", "kube-proxy mode: iptables", "fallback without ip_vs: "},
			rows: []string{
				"  m1       10.0.0.11        master",
				"  m2       10.0.0.12        master",
				"  w1       10.0.0.21        worker",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.c.DeepCopy()
			m := NewFrom(&fakeChecker{}, "x.yaml", tt.c)
			if got := shown(m, StepCluster); !slices.Equal(got, tt.cluster) {
				t.Errorf("cluster screen:\n%q\nwant\n%q", got, tt.cluster)
			}
			if got := m.modes[m.mode]; got != tt.mode {
				t.Errorf("load-balancer mode %q, want %q", got, tt.mode)
			}
			if got := shown(m, StepLB); !slices.Equal(got, tt.lb) {
				t.Errorf("load-balancer screen:\n%q\nwant\n%q", got, tt.lb)
			}
			if got := shown(m, StepNetwork); !slices.Equal(got, tt.network) {
				t.Errorf("network screen:\n%q\nwant\n%q", got, tt.network)
			}
			if got := hostRows(m); !slices.Equal(got, tt.rows) {
				t.Errorf("hosts:\n%q\nwant\n%q", got, tt.rows)
			}
			if got := m.Cluster().Spec.Hosts; !reflect.DeepEqual(got, want.Spec.Hosts) {
				t.Errorf("hosts in the inventory:\n%+v\nwant\n%+v", got, want.Spec.Hosts)
			}
			if !reflect.DeepEqual(tt.c, want) {
				t.Error("NewFrom changed the cluster it was given")
			}
		})
	}
}

// walk goes through every screen as the operator would, accepting each host
// key shown, with edit[step] applied to a screen before leaving it, and
// saves. It fails the test if the inventory is not saved.
func walk(t *testing.T, m Model, edit map[int]func(Model) Model) Model {
	t.Helper()
	for m.Step() < StepReview {
		step := m.Step()
		if step == StepHosts {
			m = acceptAll(m)
		}
		if e := edit[step]; e != nil {
			m = e(m)
		}
		if step == StepHosts {
			m = acceptAll(m)
		}
		if m = press(m, enter); m.Step() == step {
			t.Fatalf("stuck on screen %s:\n%s", stepNames[step], m.View())
		}
	}
	if m = press(m, enter); !m.Saved() {
		t.Fatalf("not saved:\n%s", m.View())
	}
	return m
}

// acceptAll answers y to every host key waiting for the operator.
func acceptAll(m Model) Model {
	for m.pendingKey() >= 0 {
		m = press(m, yes)
	}
	return m
}

// Saving keeps everything the installer does not show as the file has it,
// and writes what was changed on its screens: the saved file loads as the
// file's Cluster with exactly those changes.
func TestNewFromSaveKeepsWhatItDoesNotShow(t *testing.T) {
	type edits = map[int]func(Model) Model
	tests := []struct {
		name string
		c    *inventory.Cluster
		edit func(t *testing.T) edits
		want func(c *inventory.Cluster) // the change to the file's cluster
	}{
		{name: "demo.yaml unchanged", c: example(t, "demo.yaml")},
		{name: "external-slb.yaml unchanged", c: example(t, "external-slb.yaml")},
		{name: "flannel.yaml unchanged", c: example(t, "flannel.yaml")},
		{name: "keepalived-haproxy-dedicated.yaml unchanged", c: example(t, "keepalived-haproxy-dedicated.yaml")},
		{name: "keepalived-haproxy-static-pods.yaml unchanged", c: example(t, "keepalived-haproxy-static-pods.yaml")},
		{name: "keepalived-haproxy.yaml unchanged", c: example(t, "keepalived-haproxy.yaml")},
		{name: "kube-vip.yaml unchanged", c: example(t, "kube-vip.yaml")},
		{name: "local-proxy.yaml unchanged", c: example(t, "local-proxy.yaml")},
		{name: "every field set, unchanged", c: parse(t, everything)},
		{
			name: "shown fields changed",
			c:    parse(t, everything),
			edit: func(t *testing.T) edits {
				return edits{
					StepCluster: func(m Model) Model { return fill(t, m, "cluster name", "lab2") },
					StepLB:      func(m Model) Model { return fill(t, m, "VIP", "10.0.0.101") },
					StepNetwork: func(m Model) Model { return fill(t, m, "Pod subnet", "10.40.0.0/16") },
				}
			},
			want: func(c *inventory.Cluster) {
				c.Metadata.Name = "lab2"
				c.Spec.LoadBalancer.VIP = "10.0.0.101"
				c.Spec.Network.PodSubnet = "10.40.0.0/16"
			},
		},
		{
			name: "the SSH user's kubeconfig turned off",
			c:    example(t, "keepalived-haproxy.yaml"),
			edit: func(t *testing.T) edits {
				return edits{StepCluster: func(m Model) Model { return press(focus(t, m, "SSH user's kubeconfig"), no) }}
			},
			want: func(c *inventory.Cluster) { c.Spec.AdminKubeconfig.CopyToSSHUser = false },
		},
		{
			name: "the SSH user's kubeconfig turned on",
			c:    example(t, "demo.yaml"),
			edit: func(t *testing.T) edits {
				return edits{StepCluster: func(m Model) Model { return press(focus(t, m, "SSH user's kubeconfig"), space) }}
			},
			want: func(c *inventory.Cluster) { c.Spec.AdminKubeconfig.CopyToSSHUser = true },
		},
		{
			name: "a host added",
			c:    parse(t, everything),
			edit: func(t *testing.T) edits {
				return edits{StepHosts: func(m Model) Model {
					m = typeText(m, "w2")
					m = press(m, tab)
					m = typeText(m, "10.0.0.22")
					m = press(m, tab)
					m = typeText(clear(m), "worker")
					return press(m, enter)
				}}
			},
			want: func(c *inventory.Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: "w2", Address: "10.0.0.22", InternalAddress: "10.0.0.22", Role: inventory.RoleWorker})
			},
		},
		{
			name: "another mode starts the load balancer afresh",
			c:    parse(t, everything),
			edit: func(t *testing.T) edits {
				return edits{StepLB: func(m Model) Model {
					m = press(press(m, right), right) // keepalived-haproxy → local-proxy → external
					return fill(t, m, "SLB address", "10.0.0.200")
				}}
			},
			want: func(c *inventory.Cluster) {
				c.Spec.LoadBalancer = inventory.LoadBalancer{Mode: inventory.ModeExternal, Address: "10.0.0.200", Placement: inventory.PlacementMasters}
			},
		},
		{
			name: "back to the file's mode keeps its load balancer",
			c:    parse(t, everything),
			edit: func(t *testing.T) edits {
				return edits{StepLB: func(m Model) Model { return press(press(press(press(m, right), right), right), right) }}
			},
		},
		{
			name: "kube-vip chosen for a keepalived-haproxy file",
			c:    parse(t, everything),
			edit: func(t *testing.T) edits {
				return edits{StepLB: func(m Model) Model { return fill(t, press(m, left), "VIP interface", "eth2") }}
			},
			want: func(c *inventory.Cluster) {
				c.Spec.ControlPlaneEndpoint.Port = inventory.APIServerPort
				c.Spec.LoadBalancer = inventory.LoadBalancer{Mode: inventory.ModeKubeVIP, VIP: "10.0.0.100", Interface: "eth2",
					Placement: inventory.PlacementMasters, Images: &inventory.LBImages{KubeVIP: inventory.DefaultKubeVIPImage}}
			},
		},
		{
			name: "kube-vip.yaml's interface set",
			c:    example(t, "kube-vip.yaml"),
			edit: func(t *testing.T) edits {
				return edits{StepLB: func(m Model) Model { return fill(t, m, "VIP interface", "bond0") }}
			},
			want: func(c *inventory.Cluster) { c.Spec.LoadBalancer.Interface = "bond0" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.c.DeepCopy()
			if tt.want != nil {
				tt.want(want)
			}
			var e edits
			if tt.edit != nil {
				e = tt.edit(t)
			}
			// The installer saves over the file it started from.
			dir := t.TempDir()
			path := filepath.Join(dir, "kubeha.yaml")
			orig, err := inventory.Marshal(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append([]byte("# a comment\n"), orig...), 0o644); err != nil {
				t.Fatal(err)
			}
			walk(t, NewFrom(&fakeChecker{}, path, tt.c), e)
			got, _, err := inventory.Load(path)
			if err != nil {
				t.Fatalf("the saved inventory does not load: %v", err)
			}
			if fi, err := os.Stat(path); err != nil {
				t.Error(err)
			} else if fi.Mode().Perm() != 0o644 {
				t.Errorf("saved file mode %v, want 0644", fi.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the directory holds %v; want only kubeha.yaml (the temp file renamed over it)", entries)
			}
			if !reflect.DeepEqual(got, want) {
				gotY, _ := inventory.Marshal(got)
				wantY, _ := inventory.Marshal(want)
				t.Fatalf("saved:\n%s\nwant:\n%s", gotY, wantY)
			}
		})
	}
}

// labHosts is an inventory with per-host SSH settings: m2 has its own
// user, key and port; the others use spec.ssh's port 2222.
const labHosts = `apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: lab}
spec:
  ssh: {user: ops, port: 2222, keyPath: /keys/id, knownHostsPath: /keys/known_hosts}
  hosts:
  - {name: m1, address: 10.0.0.11, role: master}
  - {name: m2, address: 10.0.0.12, role: master, ssh: {user: admin, port: 2200, keyPath: /keys/m2}}
  - {name: w1, address: WORKER, role: worker}
  loadBalancer: {vip: 10.0.0.100}
`

// The hosts from the file are checked when the hosts screen is reached: a
// key known_hosts holds is checked strictly by logging in, as apply does;
// a key it lacks is shown and must be accepted before the installer goes
// on; a key it contradicts is refused.
func TestHostsFromTheFileAreChecked(t *testing.T) {
	const (
		m1OK  = "  m1       10.0.0.11        master        ✓ ssh ok  host key already in known_hosts"
		m2OK  = "  m2       10.0.0.12        master        ✓ ssh ok  host key already in known_hosts"
		w1OK  = "  w1       10.0.0.21        worker        ✓ ssh ok  host key already in known_hosts"
		allIn = "login 10.0.0.11:2222,login 10.0.0.12:2200,login 10.0.0.21:2222"
	)
	tests := []struct {
		name           string
		worker         string // w1's address
		known, changed []string
		keys           []tea.KeyMsg // pressed on the hosts screen once the checks ran
		rows           []string
		dials          string // in order, comma-separated
		accepted       []string
		logins         []string
		goesOn         bool     // enter leaves the hosts screen
		hosts          []string // in the inventory
	}{
		{
			name: "every key known: checked strictly, nothing to accept", worker: "10.0.0.21",
			known: []string{"10.0.0.11", "10.0.0.12", "10.0.0.21"},
			rows:  []string{m1OK, m2OK, w1OK}, dials: allIn,
			logins: []string{"ops /keys/id", "admin /keys/m2", "ops /keys/id"},
			goesOn: true, hosts: []string{"m1", "m2", "w1"},
		},
		{
			name: "a key known_hosts lacks waits for the operator", worker: "10.0.0.21",
			known: []string{"10.0.0.11", "10.0.0.21"},
			rows: []string{m1OK,
				"  m2       10.0.0.12        master        host key SHA256:fp-10.0.0.12 — accept? [y/n]",
				w1OK},
			dials:  allIn + ",scan 10.0.0.12:2200",
			logins: []string{"ops /keys/id", "ops /keys/id"},
			goesOn: false, hosts: []string{"m1", "m2", "w1"},
		},
		{
			name: "accepted, it is recorded and logged into", worker: "10.0.0.21",
			known: []string{"10.0.0.11", "10.0.0.21"}, keys: []tea.KeyMsg{yes},
			rows: []string{m1OK,
				"  m2       10.0.0.12        master        ✓ ssh ok  SHA256:fp-10.0.0.12",
				w1OK},
			dials:    allIn + ",scan 10.0.0.12:2200,login 10.0.0.12:2200",
			accepted: []string{"SHA256:fp-10.0.0.12"},
			logins:   []string{"ops /keys/id", "ops /keys/id", "admin /keys/m2"},
			goesOn:   true, hosts: []string{"m1", "m2", "w1"},
		},
		{
			name: "refused, the host is dropped", worker: "10.0.0.21",
			known: []string{"10.0.0.11", "10.0.0.21"}, keys: []tea.KeyMsg{no},
			rows:   []string{m1OK, w1OK},
			dials:  allIn + ",scan 10.0.0.12:2200",
			logins: []string{"ops /keys/id", "ops /keys/id"},
			goesOn: true, hosts: []string{"m1", "w1"},
		},
		{
			name: "a key known_hosts contradicts is refused, not offered", worker: "10.0.0.21",
			known: []string{"10.0.0.11", "10.0.0.21"}, changed: []string{"10.0.0.12"}, keys: []tea.KeyMsg{yes},
			rows: []string{m1OK,
				"  m2       10.0.0.12        master        ✗ 10.0.0.12 (10.0.0.12:2200): HOST KEY CHANGED: offered SHA256:fp-10.0.0.12, /keys/known_hosts:1 records SHA256:old; if the host was reinstalled, remove that line (ssh-keygen -R [10.0.0.12]:2200 -f /keys/known_hosts) and connect again; otherwise someone may be intercepting the connection",
				w1OK},
			dials:  allIn,
			logins: []string{"ops /keys/id", "ops /keys/id"},
			goesOn: false, hosts: []string{"m1", "m2", "w1"},
		},
		{
			name: "an unreachable host says why and holds the installer", worker: "10.0.0.99",
			known: []string{"10.0.0.11", "10.0.0.12"},
			rows: []string{m1OK, m2OK,
				"  w1       10.0.0.99        worker        ✗ connect to 10.0.0.99:22: connection refused"},
			dials:  "login 10.0.0.11:2222,login 10.0.0.12:2200,login 10.0.0.99:2222",
			logins: []string{"ops /keys/id", "admin /keys/m2"},
			goesOn: false, hosts: []string{"m1", "m2", "w1"},
		},
		{
			name: "back to the cluster screen and on checks a failed host again", worker: "10.0.0.99",
			known: []string{"10.0.0.11", "10.0.0.12"}, keys: []tea.KeyMsg{esc, enter},
			rows: []string{m1OK, m2OK,
				"  w1       10.0.0.99        worker        ✗ connect to 10.0.0.99:22: connection refused"},
			dials:  "login 10.0.0.11:2222,login 10.0.0.12:2200,login 10.0.0.99:2222,login 10.0.0.99:2222",
			logins: []string{"ops /keys/id", "admin /keys/m2"},
			goesOn: false, hosts: []string{"m1", "m2", "w1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := &fakeChecker{known: map[string]bool{}, changed: map[string]bool{}}
			for _, a := range tt.known {
				fc.known[a] = true
			}
			for _, a := range tt.changed {
				fc.changed[a] = true
			}
			m := NewFrom(fc, "x.yaml", parse(t, strings.Replace(labHosts, "WORKER", tt.worker, 1)))
			if len(fc.dials) != 0 {
				t.Fatalf("checked before the hosts screen: %v", fc.dials)
			}
			m = press(m, enter)
			for _, k := range tt.keys {
				m = press(m, k)
			}
			if m.Step() != StepHosts {
				t.Fatalf("not on the hosts screen:\n%s", m.View())
			}
			if got := hostRows(m); !slices.Equal(got, tt.rows) {
				t.Errorf("hosts:\n%q\nwant\n%q", got, tt.rows)
			}
			if got := strings.Join(fc.dials, ","); got != tt.dials {
				t.Errorf("dials:\n%s\nwant\n%s", got, tt.dials)
			}
			if !slices.Equal(fc.accepted, tt.accepted) {
				t.Errorf("accepted %q, want %q", fc.accepted, tt.accepted)
			}
			if !slices.Equal(fc.logins, tt.logins) {
				t.Errorf("logins %q, want %q", fc.logins, tt.logins)
			}
			if got := m.Cluster().HostNames(); !slices.Equal(got, tt.hosts) {
				t.Errorf("hosts in the inventory %q, want %q", got, tt.hosts)
			}
			if got := press(m, enter).Step() != StepHosts; got != tt.goesOn {
				t.Errorf("enter goes on: %v, want %v", got, tt.goesOn)
			}
		})
	}
}

// The review says what saving does to the file: it is rewritten whole,
// keeping its comments; started without a file, it says only where it
// saves. It shows the endpoint's load balancer as apply runs it.
func TestReviewSaysTheFileIsRewritten(t *testing.T) {
	tests := []struct {
		name string
		m    Model
		want string
	}{
		{"from the file", NewFrom(&fakeChecker{}, "site.yaml", example(t, "demo.yaml")),
			"review (the whole inventory is saved to site.yaml, replacing the file; comments on what is still in it are kept)"},
		{"from the defaults", New(&fakeChecker{}, "site.yaml"),
			"review (the whole inventory is saved to site.yaml)"},
		// kube-vip's line says what apply runs, with no caveat.
		{"kube-vip", NewFrom(&fakeChecker{}, "site.yaml", example(t, "kube-vip.yaml")),
			"  endpoint  k8s-apiserver:6443 → kube-vip on the masters, VIP 192.168.20.150"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.step = StepReview
			lines := strings.Split(tt.m.View(), "\n")
			if !slices.Contains(lines, tt.want) {
				t.Fatalf("no line %q in:\n%s", tt.want, tt.m.View())
			}
		})
	}
}

// The check reaches a host as apply will: every call gets the inventory as
// the installer would save it at that moment, the file's bastion and SSH
// settings and the cluster screen as typed included, and the host as that
// inventory has it. (How the real Checker resolves them, ~/.ssh/config
// and the agent included, is tested with it in cmd/kubeha.)
func TestCheckGetsTheInventoryAsSaved(t *testing.T) {
	lab := strings.Replace(labHosts, "WORKER", "10.0.0.21", 1)
	withBastion := strings.Replace(lab, "knownHostsPath: /keys/known_hosts}",
		"knownHostsPath: /keys/known_hosts, bastion: {address: 10.0.0.2, user: jump}}", 1)
	tests := []struct {
		name  string
		m     func(t *testing.T, fc *fakeChecker) Model
		steps func(t *testing.T, m Model) Model // from the cluster screen to the checks
		check func(t *testing.T, c *inventory.Cluster, h inventory.Host)
	}{
		{
			name: "a host from the file: its own settings, spec.ssh and the bastion",
			m:    func(t *testing.T, fc *fakeChecker) Model { return NewFrom(fc, "x.yaml", parse(t, withBastion)) },
			steps: func(t *testing.T, m Model) Model {
				return press(m, enter)
			},
			check: func(t *testing.T, c *inventory.Cluster, h inventory.Host) {
				if b := c.Spec.SSH.Bastion; b == nil || *b != (inventory.Bastion{Address: "10.0.0.2", Port: 22, User: "jump"}) {
					t.Errorf("bastion %+v, want the file's", b)
				}
				if s := c.Spec.SSH; s.User != "ops" || s.Port != 2222 || s.KeyPath != "/keys/id" || s.KnownHostsPath != "/keys/known_hosts" {
					t.Errorf("spec.ssh %+v, want the file's", s)
				}
			},
		},
		{
			name: "the cluster screen as typed",
			m:    func(t *testing.T, fc *fakeChecker) Model { return NewFrom(fc, "x.yaml", parse(t, lab)) },
			steps: func(t *testing.T, m Model) Model {
				m = fill(t, m, "SSH user", "")
				m = fill(t, m, "SSH private key", "")
				m = fill(t, m, "known_hosts file", "/other/known_hosts")
				return press(m, enter)
			},
			check: func(t *testing.T, c *inventory.Cluster, h inventory.Host) {
				// Left empty, apply takes them from ~/.ssh/config: so
				// must the check.
				if s := c.Spec.SSH; s.User != "" || s.KeyPath != "" || s.Port != 2222 || s.KnownHostsPath != "/other/known_hosts" {
					t.Errorf("spec.ssh %+v, want the screen's with the file's port", s)
				}
			},
		},
		{
			name: "an added host",
			m:    func(_ *testing.T, fc *fakeChecker) Model { return New(fc, "x.yaml") },
			steps: func(t *testing.T, m Model) Model {
				m = fill(t, m, "SSH user", "")
				m = press(m, enter)
				m = fill(t, m, "name", "m1")
				m = fill(t, m, "address", "m1.lab")
				m = fill(t, m, "SSH user", "admin")
				return acceptAll(press(m, enter))
			},
			check: func(t *testing.T, c *inventory.Cluster, h inventory.Host) {
				want := inventory.Host{Name: "m1", Address: "m1.lab", Role: inventory.RoleMaster, SSH: &inventory.HostSSH{User: "admin"}}
				if !reflect.DeepEqual(h, want) {
					t.Errorf("host %+v, want %+v", h, want)
				}
				if c.Spec.SSH.User != "" || c.Spec.SSH.KeyPath != "~/.ssh/id_ed25519" || c.Spec.SSH.UseAgent == nil || !*c.Spec.SSH.UseAgent {
					t.Errorf("spec.ssh %+v", c.Spec.SSH)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := &fakeChecker{known: map[string]bool{"10.0.0.11": true, "10.0.0.12": true, "10.0.0.21": true}}
			m := tt.steps(t, tt.m(t, fc))
			if m.Step() != StepHosts {
				t.Fatalf("not on the hosts screen:\n%s", m.View())
			}
			if len(fc.calls) == 0 {
				t.Fatal("no host was checked")
			}
			saved := m.Cluster()
			for _, call := range fc.calls {
				if !reflect.DeepEqual(call.c, saved) {
					t.Errorf("checked %s with\n%+v\nwant the inventory as it would be saved\n%+v", call.h.Name, call.c.Spec, saved.Spec)
				}
				if !slices.ContainsFunc(call.c.Spec.Hosts, func(h inventory.Host) bool { return reflect.DeepEqual(h, call.h) }) {
					t.Errorf("checked host %+v, which the inventory given does not have", call.h)
				}
				tt.check(t, call.c, call.h)
			}
		})
	}
}
