package inventory

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// fieldCase is one string field of the schema: how to set it on base(),
// values its form accepts and values it refuses. Every bad value, and every
// good value with a hostile character added, must give an error at path
// whose Fix states the form.
type fieldCase struct {
	// field is the schema path ([] a list item, {key}/{value} a map's
	// keys/values); TestEveryStringFieldHasAForm matches it against the
	// Cluster type, so a new field cannot go without a form.
	field string
	// path is the YAML path problems name; pathOf replaces it when the path
	// depends on the value (a map key).
	path   string
	pathOf func(s string) string
	set    func(c *Cluster, s string)
	good   []string
	bad    []string
	// local marks a path on this machine: kubeha never sends it to a host,
	// so only control characters are refused, not shell characters.
	local bool
}

var (
	// controlChars break a line-oriented file or a terminal: refused in
	// every field.
	controlChars = []string{"\n", "\r", "\t", "\x00", "\x1b[2J", "\x7f", "\u2028", "\u202e", "\u00a0"}
	// shellChars mean something to sh, haproxy, keepalived, nginx, YAML or
	// systemd: refused in every field that reaches a host.
	shellChars = []string{" ", "'", `"`, "`", "$", "$(id)", ";", "|", "&", "<", ">", "(", ")", "{", "}", `\`, "#", "*", "?", "[", "]", "!", "^"}
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func fieldCases() []fieldCase {
	localPath := func(field, path string, set func(c *Cluster, s string)) fieldCase {
		return fieldCase{field: field, path: path, set: set, local: true,
			good: []string{"~/.ssh/id_ed25519", "/etc/kubeha/x.yaml", "relative/dir", "/home/John Smith/keys (old)/id;$x", "/ü/日本"},
			bad:  []string{"/tmp/a\nb", "~/\x1b]0;title\x07"}}
	}
	ip := []string{"fe80::1%eth0", vipInjection, "::ffff:192.168.8.99", "192.168.8.99/32", "192.168.008.99", "ip.example.com", "1.2.3"}
	user := func(field, path string, set func(c *Cluster, s string)) fieldCase {
		return fieldCase{field: field, path: path, set: set,
			good: []string{"root", "ubuntu", "ec2-user", "svc_k8s", "John.Doe", "_ops"},
			bad:  []string{"-oProxyCommand=sh", ".hidden", "a@b", "a/b", strings.Repeat("u", 33)}}
	}
	image := func(field, path string, set func(c *Cluster, s string)) fieldCase {
		return fieldCase{field: field, path: path, set: set,
			good: []string{"docker.io/library/haproxy:2.8", "haproxy", "registry.local:5000/lb/haproxy:2.8-alpine",
				"haproxy@sha256:" + sha, "quay.io/a/b__c:v1.0@sha256:" + sha, "localhost/ka"},
			bad: []string{"HAProxy:2.8", "haproxy:", "haproxy:2.8 --foo", "-haproxy", "haproxy:2.8/x", "haproxy@sha256:abc", "a//b", strings.Repeat("a", 600)}}
	}
	iface := func(field, path string, set func(c *Cluster, s string)) fieldCase {
		return fieldCase{field: field, path: path, set: set,
			good: []string{"eth1", "enp0s31f6", "br-lan", "eth0.100", "bond_0", "ETH0", "123456789012345"},
			bad:  []string{"eth0 eth1", "-eth0", "eth0:1", "a/b", "1234567890123456", ".", "..", "eth0@if5"}}
	}
	args := func(name string, get func(c *Cluster) *map[string]string) []fieldCase {
		p := "spec.kubeadm." + name
		return []fieldCase{{
			field: p + "{key}", path: p + ".audit-log-path",
			pathOf: func(s string) string { return p + "[" + strconv.Quote(s) + "]" },
			set:    func(c *Cluster, s string) { *get(c) = map[string]string{s: "x"} },
			good:   []string{"audit-log-path", "v", "feature-gates", "node-labels"},
			bad:    []string{"--v", "Audit", "a=b", "a.b", "-v", strings.Repeat("a", 129)},
		}, {
			field: p + "{value}", path: p + ".audit-log-path",
			set:  func(c *Cluster, s string) { *get(c) = map[string]string{"audit-log-path": s} },
			good: []string{"/var/log/kubernetes/audit.log", "", "Node,RBAC", "RotateKubeletServerCertificate=true,Foo=false", "10.0.0.0/8", "https://kubernetes.default.svc.cluster.local:443", "fd00::1", "key=value:NoSchedule", "100%", "~x+y@z"},
			bad:  []string{"x --config=/evil", "x\n--config=/evil", "memory.available<100Mi", strings.Repeat("a", 4097)},
		}}
	}
	etcd := func(set func(x *ExternalEtcd, s string)) func(c *Cluster, s string) {
		return func(c *Cluster, s string) {
			x := &ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379"}, CAFile: "ca.crt", CertFile: "c.crt", KeyFile: "c.key"}
			set(x, s)
			c.Spec.Etcd = Etcd{Topology: EtcdExternal, External: x}
		}
	}
	cases := []fieldCase{
		{field: "apiVersion", path: "apiVersion", set: func(c *Cluster, s string) { c.APIVersion = s },
			good: []string{APIVersion}, bad: []string{"kubeha.io/v1"}},
		{field: "kind", path: "kind", set: func(c *Cluster, s string) { c.Kind = s },
			good: []string{Kind}, bad: []string{"cluster"}},
		{field: "metadata.name", path: "metadata.name", set: func(c *Cluster, s string) { c.Metadata.Name = s },
			good: []string{"prod", "a", "prod-2", strings.Repeat("a", 63)}, bad: []string{"Prod", "-x", "x-", "x_y", "x.y", strings.Repeat("a", 64)}},
		{field: "spec.kubernetesVersion", path: "spec.kubernetesVersion", set: func(c *Cluster, s string) { c.Spec.KubernetesVersion = s },
			good: []string{"v1.37.2", "v1.34.0"}, bad: []string{"1.37.2", "v1.37.2-rc.0", "v1.37.２", "v1.37"}},
		user("spec.ssh.user", "spec.ssh.user", func(c *Cluster, s string) { c.Spec.SSH.User = s }),
		localPath("spec.ssh.keyPath", "spec.ssh.keyPath", func(c *Cluster, s string) { c.Spec.SSH.KeyPath = s }),
		localPath("spec.ssh.knownHostsPath", "spec.ssh.knownHostsPath", func(c *Cluster, s string) { c.Spec.SSH.KnownHostsPath = s }),
		{field: "spec.ssh.bastion.address", path: "spec.ssh.bastion.address", set: func(c *Cluster, s string) { c.Spec.SSH.Bastion = &Bastion{Address: s} },
			good: []string{"10.0.0.5", "jump.example.com", "fd00::5", "jump"}, bad: append([]string{"Jump.example.com", "jump..example.com"}, ip[:4]...)},
		user("spec.ssh.bastion.user", "spec.ssh.bastion.user", func(c *Cluster, s string) { c.Spec.SSH.Bastion = &Bastion{Address: "10.0.0.5", User: s} }),
		localPath("spec.ssh.bastion.keyPath", "spec.ssh.bastion.keyPath", func(c *Cluster, s string) {
			c.Spec.SSH.Bastion = &Bastion{Address: "10.0.0.5", KeyPath: s}
		}),
		{field: "spec.hosts[].name", path: "spec.hosts[3].name", set: func(c *Cluster, s string) { c.Spec.Hosts[3].Name = s },
			good: []string{"k4", "worker-1", "w"}, bad: []string{"K4", "k4.example.com", "k_4", "-k4"}},
		{field: "spec.hosts[].address", path: "spec.hosts[3].address", set: func(c *Cluster, s string) {
			c.Spec.Hosts[3].Address, c.Spec.Hosts[3].InternalAddress = s, "192.168.8.188"
		}, good: []string{"192.168.8.188", "10.1.2.3", "k4.example.com", "fd00::4"}, bad: append([]string{"K4.example.com", "300.1.1.1"}, ip[:5]...)},
		{field: "spec.hosts[].internalAddress", path: "spec.hosts[3].internalAddress", set: func(c *Cluster, s string) { c.Spec.Hosts[3].InternalAddress = s },
			good: []string{"192.168.8.188", "10.1.2.3", "fd00::4"}, bad: ip},
		{field: "spec.hosts[].role", path: "spec.hosts[3].role", set: func(c *Cluster, s string) { c.Spec.Hosts[3].Role = s },
			good: []string{RoleWorker, RoleMaster, RoleLoadBalancer}, bad: []string{"node", "Worker"}},
		user("spec.hosts[].ssh.user", "spec.hosts[3].ssh.user", func(c *Cluster, s string) { c.Spec.Hosts[3].SSH = &HostSSH{User: s} }),
		localPath("spec.hosts[].ssh.keyPath", "spec.hosts[3].ssh.keyPath", func(c *Cluster, s string) { c.Spec.Hosts[3].SSH = &HostSSH{KeyPath: s} }),
		{field: "spec.controlPlaneEndpoint.name", path: "spec.controlPlaneEndpoint.name", set: func(c *Cluster, s string) { c.Spec.ControlPlaneEndpoint.Name = s },
			good: []string{"k8s-apiserver-vip", "api.prod.example.com"}, bad: []string{"API", "api_vip", "1.2.3.4", "api.", "192.168.8.10"}},
		{field: "spec.loadBalancer.mode", path: "spec.loadBalancer.mode", set: func(c *Cluster, s string) { c.Spec.LoadBalancer.Mode = s },
			good: []string{ModeKeepalivedHAProxy, ModeKubeVIP, ModeLocalProxy, ModeExternal}, bad: []string{"f5", "External"}},
		{field: "spec.loadBalancer.placement", path: "spec.loadBalancer.placement", set: func(c *Cluster, s string) { c.Spec.LoadBalancer.Placement = s },
			good: []string{PlacementMasters}, bad: []string{"workers"}},
		{field: "spec.loadBalancer.vip", path: "spec.loadBalancer.vip", set: func(c *Cluster, s string) { c.Spec.LoadBalancer.VIP = s },
			good: []string{"192.168.8.10", "192.168.9.1", "fd00::10"}, bad: ip},
		iface("spec.loadBalancer.interface", "spec.loadBalancer.interface", func(c *Cluster, s string) { c.Spec.LoadBalancer.Interface = s }),
		{field: "spec.loadBalancer.proxy", path: "spec.loadBalancer.proxy", set: func(c *Cluster, s string) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeLocalProxy, Proxy: s}
		}, good: []string{ProxyHAProxy, ProxyNginx}, bad: []string{"envoy"}},
		{field: "spec.loadBalancer.address", path: "spec.loadBalancer.address", set: func(c *Cluster, s string) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeExternal, Address: s}
		}, good: []string{"192.168.8.210", "fd00::210"}, bad: append([]string{"slb.example.com", "slb"}, ip...)},
		image("spec.loadBalancer.images.haproxy", "spec.loadBalancer.images.haproxy", func(c *Cluster, s string) {
			c.Spec.LoadBalancer.StaticPods, c.Spec.LoadBalancer.Images = true, &LBImages{HAProxy: s}
		}),
		image("spec.loadBalancer.images.keepalived", "spec.loadBalancer.images.keepalived", func(c *Cluster, s string) {
			c.Spec.LoadBalancer.StaticPods, c.Spec.LoadBalancer.Images = true, &LBImages{Keepalived: s}
		}),
		image("spec.loadBalancer.images.kubeVip", "spec.loadBalancer.images.kubeVip", func(c *Cluster, s string) {
			c.Spec.LoadBalancer.Mode, c.Spec.LoadBalancer.Images = ModeKubeVIP, &LBImages{KubeVIP: s}
		}),
		{field: "spec.etcd.topology", path: "spec.etcd.topology", set: func(c *Cluster, s string) {
			etcd(func(*ExternalEtcd, string) {})(c, s)
			c.Spec.Etcd.Topology = s
		},
			good: []string{EtcdExternal}, bad: []string{"separate"}},
		{field: "spec.etcd.external.endpoints[]", path: "spec.etcd.external.endpoints[0]", set: etcd(func(x *ExternalEtcd, s string) { x.Endpoints = []string{s} }),
			good: []string{"https://10.0.0.21:2379", "https://etcd-1.example.com:2379", "https://[fd00::21]:2379", "https://10.0.0.21:2379/"},
			bad: []string{"http://10.0.0.21:2379", "https://10.0.0.21", "https://[fe80::1%eth0]:2379", "https://a.example:2379/path", "https://u@a.example:2379",
				"https://a.example:2379?x", "https://fd00::21:2379", "https://10.0.0.21:99999", "https://10.0.0.21:02379", "https://A.example:2379", "https://[::ffff:10.0.0.21]:2379"}},
		localPath("spec.etcd.external.caFile", "spec.etcd.external.caFile", etcd(func(x *ExternalEtcd, s string) { x.CAFile = s })),
		localPath("spec.etcd.external.certFile", "spec.etcd.external.certFile", etcd(func(x *ExternalEtcd, s string) { x.CertFile = s })),
		localPath("spec.etcd.external.keyFile", "spec.etcd.external.keyFile", etcd(func(x *ExternalEtcd, s string) { x.KeyFile = s })),
		{field: "spec.network.podSubnet", path: "spec.network.podSubnet", set: func(c *Cluster, s string) { c.Spec.Network.PodSubnet = s },
			good: []string{"10.244.0.0/16", "172.16.0.0/12", "fd00:10:244::/56"}, bad: []string{"10.244.1.0/16", "fe80::%x/64", "::ffff:10.244.0.0/112", "10.244.0.0", "10.244.0.0/33"}},
		{field: "spec.network.serviceSubnet", path: "spec.network.serviceSubnet", set: func(c *Cluster, s string) { c.Spec.Network.ServiceSubnet = s },
			good: []string{"10.96.0.0/12", "fd00:10:96::/112"}, bad: []string{"10.96.0.1/12", "ten/12"}},
		{field: "spec.network.dnsDomain", path: "spec.network.dnsDomain", set: func(c *Cluster, s string) { c.Spec.Network.DNSDomain = s },
			good: []string{"cluster.local", "k8s.example"}, bad: []string{"Cluster.local", "cluster_local", "cluster.local.", "cluster.1"}},
		{field: "spec.network.kubeProxyMode", path: "spec.network.kubeProxyMode", set: func(c *Cluster, s string) { c.Spec.Network.KubeProxyMode = s },
			good: []string{ProxyModeIPVS, ProxyModeIPTables, ProxyModeNFTables}, bad: []string{"userspace"}},
		{field: "spec.network.kubeProxyFallbackMode", path: "spec.network.kubeProxyFallbackMode", set: func(c *Cluster, s string) { c.Spec.Network.KubeProxyFallbackMode = s },
			good: []string{ProxyModeIPTables, ProxyModeNFTables}, bad: []string{"ipvs"}},
		iface("spec.network.podRoutes.interface", "spec.network.podRoutes.interface", func(c *Cluster, s string) {
			c.Spec.Network.PodRoutes = PodRoutes{Enabled: true, Interface: s}
		}),
		{field: "spec.network.podRoutes.gateway", path: "spec.network.podRoutes.gateway", set: func(c *Cluster, s string) {
			c.Spec.Network.PodRoutes = PodRoutes{Enabled: true, Gateway: s}
		}, good: []string{"192.168.20.1", "fd00::1"}, bad: append([]string{"fe80::1%x\n0.0.0.0/0 via 10.0.0.66"}, ip...)},
		{field: "spec.cni.plugin", path: "spec.cni.plugin", set: func(c *Cluster, s string) { c.Spec.CNI.Plugin = s },
			good: []string{CNIBridge, CNINone}, bad: []string{"flannel"}},
		localPath("spec.cni.manifest", "spec.cni.manifest", func(c *Cluster, s string) { c.Spec.CNI = CNI{Plugin: CNIManifest, Manifest: s} }),
		{field: "spec.cni.ports[]", path: "spec.cni.ports[1]", set: func(c *Cluster, s string) {
			c.Spec.CNI = CNI{Plugin: CNIManifest, Manifest: "calico.yaml", Ports: []string{"179/tcp", s}}
		}, good: []string{"8472/udp", "4789/udp", "179/udp", "30000-32767/tcp", "1/sctp", "65535/tcp", "180-65535/tcp", "1-178/tcp"},
			bad: []string{"8472", "udp", "/udp", "8472/", "8472:udp", "8472/udp/tcp", "8472/UDP", "8472/Udp", "8472/icmp", "8472/udp6",
				"0/udp", "65536/udp", "99999999999/udp", "08472/udp", "8472-08473/udp", "8472-8472/udp", "8500-8400/udp", "-8472/udp", "8472-/udp",
				"8472,8473/udp", "179/tcp", "100-200/tcp", "179-180/tcp", "1-65535/tcp", "８４７２/udp"}},
		localPath("spec.kubeadm.patchesDir", "spec.kubeadm.patchesDir", func(c *Cluster, s string) { c.Spec.Kubeadm.PatchesDir = s }),
		{field: "spec.kubeadm.ignorePreflightErrors[]", path: "spec.kubeadm.ignorePreflightErrors[1]", set: func(c *Cluster, s string) {
			c.Spec.Kubeadm.IgnorePreflightErrors = []string{"Swap", s}
		}, good: []string{"all", "NumCPU", "DirAvailable--etc-kubernetes-manifests", "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml", "Port-6443"},
			bad: []string{"Swap,NumCPU", "-Swap", "Swap=true"}},
		localPath("spec.artifacts.dir", "spec.artifacts.dir", func(c *Cluster, s string) { c.Spec.Artifacts = &Artifacts{Dir: s} }),
		{field: "spec.kubeadm.apiServerCertSANs[]", path: "spec.kubeadm.apiServerCertSANs[1]", set: func(c *Cluster, s string) {
			c.Spec.Kubeadm.APIServerCertSANs = []string{"api.example.com", s}
		}, good: []string{"k8s.example.com", "192.0.2.7", "2001:db8::7", "api"},
			bad: []string{"API.example.com", "192.0.2.7/32", "fe80::1%eth0", "a b", "*.example.com", "x\nkey: v"}},
	}
	cases = append(cases, args("apiServerExtraArgs", func(c *Cluster) *map[string]string { return &c.Spec.Kubeadm.APIServerExtraArgs })...)
	cases = append(cases, args("kubeletExtraArgs", func(c *Cluster) *map[string]string { return &c.Spec.Kubeadm.KubeletExtraArgs })...)
	return cases
}

// problemsAt validates base() with tc's field set to s and returns the
// errors and all problems at the field's path.
func problemsAt(tc fieldCase, s string) (errs, all Problems) {
	c := base()
	tc.set(c, s)
	Default(c)
	path := tc.path
	if tc.pathOf != nil {
		path = tc.pathOf(s)
	}
	for _, p := range Validate(c) {
		if p.Path == path {
			all = append(all, p)
			if !p.Warning {
				errs = append(errs, p)
			}
		}
	}
	return errs, all
}

func TestFieldForms(t *testing.T) {
	for _, tc := range fieldCases() {
		t.Run(tc.field, func(t *testing.T) {
			if len(tc.good) == 0 || len(tc.bad) == 0 {
				t.Fatal("a case needs good and bad values")
			}
			for _, s := range tc.good {
				if errs, _ := problemsAt(tc, s); len(errs) > 0 {
					t.Errorf("%q refused: %v", s, errs)
				}
			}
			bad := append([]string(nil), tc.bad...)
			hostile := controlChars
			if !tc.local {
				hostile = append(append([]string(nil), controlChars...), shellChars...)
			}
			for _, h := range hostile {
				bad = append(bad, tc.good[0]+h+"x", h+tc.good[0])
			}
			for _, s := range bad {
				errs, _ := problemsAt(tc, s)
				if len(errs) == 0 {
					t.Errorf("%q accepted", s)
					continue
				}
				for _, p := range errs {
					if p.Fix == "" {
						t.Errorf("%q: %s: no fix stating the allowed form", s, p)
					}
					// The value is shown quoted: nothing it holds reaches
					// the terminal raw.
					if strings.ContainsAny(p.Path+p.Message, "\n\r\x00\x1b\u2028\u202e") {
						t.Errorf("%q: problem shows the value raw: %q", s, p.String())
					}
				}
			}
		})
	}
}

// TestEveryStringFieldHasAForm walks the Cluster type: each string, each
// list of strings and each map of strings must have a case in fieldCases,
// except the free-form kubeadm configuration maps (see validator.kubeadm).
func TestEveryStringFieldHasAForm(t *testing.T) {
	freeForm := map[string]bool{
		"spec.kubeadm.kubeletConfiguration{any}":   true,
		"spec.kubeadm.kubeProxyConfiguration{any}": true,
	}
	var fields []string
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		switch typ.Kind() {
		case reflect.Pointer:
			walk(typ.Elem(), path)
		case reflect.Struct:
			for i := 0; i < typ.NumField(); i++ {
				tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
				p := tag
				if path != "" {
					p = path + "." + tag
				}
				walk(typ.Field(i).Type, p)
			}
		case reflect.Slice:
			walk(typ.Elem(), path+"[]")
		case reflect.Map:
			if typ.Elem().Kind() == reflect.Interface {
				fields = append(fields, path+"{any}")
				return
			}
			fields = append(fields, path+"{key}")
			walk(typ.Elem(), path+"{value}")
		case reflect.String:
			fields = append(fields, path)
		case reflect.Interface:
			fields = append(fields, path+"{any}")
		}
	}
	walk(reflect.TypeOf(Cluster{}), "")
	covered := map[string]bool{}
	for _, tc := range fieldCases() {
		covered[tc.field] = true
	}
	sort.Strings(fields)
	for _, f := range fields {
		switch {
		case freeForm[f]:
			delete(freeForm, f)
		case covered[f]:
			delete(covered, f)
		default:
			t.Errorf("%s has no form case in fieldCases", f)
		}
	}
	for f := range covered {
		t.Errorf("fieldCases names %s, which the schema does not have", f)
	}
	for f := range freeForm {
		t.Errorf("free-form %s is not in the schema any more", f)
	}
	if len(fields) < 40 {
		t.Fatalf("walked only %d fields", len(fields))
	}
}

func TestDefaultCanonicalisesAddresses(t *testing.T) {
	c := base()
	c.Spec.Hosts[3].Address = "FD00:0::0004"
	c.Spec.Hosts[2].InternalAddress = "fd00:0:0::3"
	c.Spec.LoadBalancer.VIP = "FD00::10"
	c.Spec.SSH.Bastion = &Bastion{Address: "FD00::5"}
	c.Spec.Network.PodSubnet = "FD00:10:244::/56"
	c.Spec.Network.PodRoutes = PodRoutes{Enabled: true, Gateway: "FD00::1"}
	c.Spec.Etcd = Etcd{Topology: EtcdExternal, External: &ExternalEtcd{
		Endpoints: []string{"https://[FD00::21]:2379", "https://10.0.0.21:2379/"}, CAFile: "a", CertFile: "b", KeyFile: "c"}}
	Default(c)
	if ps := Validate(c).Errors(); len(ps) > 0 {
		t.Fatalf("canonicalised inventory refused: %v", ps)
	}
	got := []string{c.Spec.Hosts[3].Address, c.Spec.Hosts[3].InternalAddress, c.Spec.Hosts[2].InternalAddress, c.Spec.LoadBalancer.VIP,
		c.Spec.SSH.Bastion.Address, c.Spec.Network.PodSubnet, c.Spec.Network.PodRoutes.Gateway, c.Spec.Etcd.External.Endpoints[0], c.Spec.Etcd.External.Endpoints[1]}
	want := []string{"fd00::4", "fd00::4", "fd00::3", "fd00::10", "fd00::5", "fd00:10:244::/56", "fd00::1", "https://[fd00::21]:2379", "https://10.0.0.21:2379"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("canonical forms:\n got %q\nwant %q", got, want)
	}
	// Validate alone (no Default) refuses a spelling it would have had to
	// canonicalise, rather than let it reach a rendered file.
	c.Spec.LoadBalancer.VIP = "FD00::10"
	found := false
	for _, p := range Validate(c).Errors() {
		found = found || (p.Path == "spec.loadBalancer.vip" && strings.Contains(p.Message, "write fd00::10"))
	}
	if !found {
		t.Fatalf("non-canonical VIP accepted by Validate: %v", Validate(c))
	}
}
