package inventory

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// base returns a valid, defaulted three-master inventory that each case
// breaks in one way.
func base() *Cluster {
	c := &Cluster{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata:   Metadata{Name: "prod"},
		Spec: Spec{
			Hosts: []Host{
				{Name: "k1", Address: "192.168.8.191", Role: RoleMaster},
				{Name: "k2", Address: "192.168.8.187", Role: RoleMaster},
				{Name: "k3", Address: "192.168.8.186", Role: RoleMaster},
				{Name: "k4", Address: "192.168.8.188", Role: RoleWorker},
			},
			ControlPlaneEndpoint: Endpoint{Name: "k8s-apiserver-vip"},
			LoadBalancer:         LoadBalancer{VIP: "192.168.8.10"},
		},
	}
	return c
}

// vipInjection is the security review's payload: a zoned IPv6 address whose
// zone closes keepalived's virtual_ipaddress block and adds a notify_master
// script.
const vipInjection = "::ffff:10.0.0.20%x\n    }\n    notify_master \"/usr/bin/touch pwned\"\n    virtual_ipaddress {\n        10.0.0.20"

func TestValidateBaseIsClean(t *testing.T) {
	c := base()
	Default(c)
	if ps := Validate(c); len(ps) != 0 {
		t.Fatalf("base inventory has problems: %v", ps)
	}
	if c.Spec.ControlPlaneEndpoint.Port != 16443 {
		t.Errorf("haproxy on masters should default the endpoint port to 16443, got %d", c.Spec.ControlPlaneEndpoint.Port)
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Cluster)
		path    string
		contain string
		warning bool
	}{
		{"wrong apiVersion", func(c *Cluster) { c.APIVersion = "kubeha.io/v1" }, "apiVersion", "expected", false},
		{"wrong kind", func(c *Cluster) { c.Kind = "Clusters" }, "kind", "expected", false},
		{"missing name", func(c *Cluster) { c.Metadata.Name = "" }, "metadata.name", "missing", false},
		{"bad name", func(c *Cluster) { c.Metadata.Name = "Prod_1" }, "metadata.name", "not a valid name", false},
		{"malformed version", func(c *Cluster) { c.Spec.KubernetesVersion = "1.37" }, "spec.kubernetesVersion", "not a Kubernetes version", false},
		{"version too old", func(c *Cluster) { c.Spec.KubernetesVersion = "v1.28.3" }, "spec.kubernetesVersion", "outside the supported range", false},
		{"version too new", func(c *Cluster) { c.Spec.KubernetesVersion = "v1.40.0" }, "spec.kubernetesVersion", "outside the supported range", false},
		{"no master", func(c *Cluster) {
			for i := range c.Spec.Hosts {
				c.Spec.Hosts[i].Role = RoleWorker
			}
		}, "spec.hosts", "no host has role master", false},
		{"even masters warn", func(c *Cluster) { c.Spec.Hosts[2].Role = RoleWorker }, "spec.hosts", "etcd tolerates 0 failed members", true},
		{"duplicate name", func(c *Cluster) { c.Spec.Hosts[2].Name = "k1" }, "spec.hosts[2].name", "also the name of spec.hosts[0]", false},
		{"bad host name", func(c *Cluster) { c.Spec.Hosts[1].Name = "K2" }, "spec.hosts[1].name", "not a valid host name", false},
		{"duplicate address", func(c *Cluster) {
			c.Spec.Hosts[3].Address = "192.168.8.191"
			c.Spec.Hosts[3].InternalAddress = ""
		}, "spec.hosts[3].address", "also an address of spec.hosts[0]", false},
		{"internal address duplicates another host", func(c *Cluster) { c.Spec.Hosts[3].InternalAddress = "192.168.8.187" }, "spec.hosts[3].address", "also an address of spec.hosts[1]", false},
		{"bad address", func(c *Cluster) { c.Spec.Hosts[0].Address = "300.1.1.1" }, "spec.hosts[0].address", "neither an IP", false},
		{"missing address", func(c *Cluster) { c.Spec.Hosts[0].Address = "" }, "spec.hosts[0].address", "missing", false},
		{"name address needs internal", func(c *Cluster) {
			c.Spec.Hosts[0].Address = "k1.example.com"
			c.Spec.Hosts[0].InternalAddress = ""
		}, "spec.hosts[0].internalAddress", "missing", false},
		{"bad internal address", func(c *Cluster) { c.Spec.Hosts[0].InternalAddress = "10.0.0" }, "spec.hosts[0].internalAddress", "not an IP address", false},
		{"unknown role", func(c *Cluster) { c.Spec.Hosts[3].Role = "node" }, "spec.hosts[3].role", `unknown value "node"`, false},
		{"bad ssh port", func(c *Cluster) { c.Spec.SSH.Port = 70000 }, "spec.ssh.port", "out of range", false},
		{"bad host ssh port", func(c *Cluster) { c.Spec.Hosts[1].SSH = &HostSSH{Port: -1} }, "spec.hosts[1].ssh.port", "out of range", false},
		{"bastion without address", func(c *Cluster) { c.Spec.SSH.Bastion = &Bastion{User: "jump"} }, "spec.ssh.bastion.address", "missing", false},
		{"bad endpoint name", func(c *Cluster) { c.Spec.ControlPlaneEndpoint.Name = "K8S API" }, "spec.controlPlaneEndpoint.name", "not a DNS name", false},
		{"bad endpoint port", func(c *Cluster) { c.Spec.ControlPlaneEndpoint.Port = 99999 }, "spec.controlPlaneEndpoint.port", "out of range", false},
		{"haproxy on masters on 6443", func(c *Cluster) { c.Spec.ControlPlaneEndpoint.Port = 6443 }, "spec.controlPlaneEndpoint.port", "the apiserver holds it", false},
		{"unknown mode", func(c *Cluster) { c.Spec.LoadBalancer.Mode = "f5" }, "spec.loadBalancer.mode", `unknown value "f5"`, false},
		{"unknown placement", func(c *Cluster) { c.Spec.LoadBalancer.Placement = "workers" }, "spec.loadBalancer.placement", `unknown value "workers"`, false},
		{"keepalived without vip", func(c *Cluster) { c.Spec.LoadBalancer.VIP = "" }, "spec.loadBalancer.vip", "needs a vip", false},
		{"kube-vip without vip", func(c *Cluster) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeKubeVIP}
		}, "spec.loadBalancer.vip", "needs a vip", false},
		{"bad vip", func(c *Cluster) { c.Spec.LoadBalancer.VIP = "192.168.8" }, "spec.loadBalancer.vip", "not an IP address", false},
		{"vip is a host address", func(c *Cluster) { c.Spec.LoadBalancer.VIP = "192.168.8.187" }, "spec.loadBalancer.vip", "address of spec.hosts[1] (k2)", false},
		{"bad interface", func(c *Cluster) { c.Spec.LoadBalancer.Interface = "eth0 eth1" }, "spec.loadBalancer.interface", "not an interface name", false},
		{"router id too high", func(c *Cluster) { c.Spec.LoadBalancer.VirtualRouterID = 256 }, "spec.loadBalancer.virtualRouterID", "out of range", false},
		{"router id negative", func(c *Cluster) { c.Spec.LoadBalancer.VirtualRouterID = -3 }, "spec.loadBalancer.virtualRouterID", "out of range", false},
		{"external without address", func(c *Cluster) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeExternal}
		}, "spec.loadBalancer.address", "needs an address", false},
		{"external address is a host", func(c *Cluster) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeExternal, Address: "192.168.8.188"}
		}, "spec.loadBalancer.address", "address of spec.hosts[3]", false},
		{"external ignores vip", func(c *Cluster) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeExternal, Address: "192.168.8.210", VIP: "192.168.8.10"}
		}, "spec.loadBalancer.vip", "ignored in mode external", true},
		{"unknown proxy", func(c *Cluster) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeLocalProxy, Proxy: "envoy"}
		}, "spec.loadBalancer.proxy", `unknown value "envoy"`, false},
		{"dedicated without lb hosts", func(c *Cluster) {
			c.Spec.LoadBalancer.Placement = PlacementDedicated
			c.Spec.ControlPlaneEndpoint.Port = 6443
		}, "spec.loadBalancer.placement", "needs hosts with role loadbalancer", false},
		{"dedicated kube-vip", func(c *Cluster) {
			c.Spec.LoadBalancer.Mode = ModeKubeVIP
			c.Spec.LoadBalancer.Placement = PlacementDedicated
		}, "spec.loadBalancer.placement", "dedicated placement is for keepalived-haproxy", false},
		{"dedicated static pods", func(c *Cluster) {
			c.Spec.Hosts = append(c.Spec.Hosts, Host{Name: "lb1", Address: "192.168.8.200", Role: RoleLoadBalancer})
			c.Spec.LoadBalancer.Placement = PlacementDedicated
			c.Spec.LoadBalancer.StaticPods = true
		}, "spec.loadBalancer.staticPods", "static pods run only on masters", false},
		{"kube-vip on another port", func(c *Cluster) {
			c.Spec.LoadBalancer.Mode = ModeKubeVIP
			c.Spec.ControlPlaneEndpoint.Port = 16443
		}, "spec.controlPlaneEndpoint.port", "kube-vip only moves the VIP", false},
		{"kube-vip image in another mode", func(c *Cluster) {
			c.Spec.LoadBalancer.Images = &LBImages{KubeVIP: "ghcr.io/kube-vip/kube-vip:v1.2.3"}
		}, "spec.loadBalancer.images.kubeVip", "ignored in mode keepalived-haproxy", true},
		{"bad kube-vip image", func(c *Cluster) {
			c.Spec.LoadBalancer.Mode = ModeKubeVIP
			c.Spec.LoadBalancer.Images = &LBImages{KubeVIP: "kube-vip:v1 --evil"}
		}, "spec.loadBalancer.images.kubeVip", "not an image reference", false},
		{"images without static pods", func(c *Cluster) {
			c.Spec.LoadBalancer.Images = &LBImages{HAProxy: "haproxy:2.8"}
		}, "spec.loadBalancer.images", "ignored unless staticPods is true", true},
		{"lb hosts unused", func(c *Cluster) {
			c.Spec.Hosts = append(c.Spec.Hosts, Host{Name: "lb1", Address: "192.168.8.200", Role: RoleLoadBalancer})
		}, "spec.hosts", "placement is masters", true},
		{"unknown etcd topology", func(c *Cluster) { c.Spec.Etcd.Topology = "separate" }, "spec.etcd.topology", `unknown value "separate"`, false},
		{"external etcd without endpoints or etcd hosts", func(c *Cluster) { c.Spec.Etcd.Topology = EtcdExternal }, "spec.etcd.external.endpoints", "missing", false},
		{"two etcd hosts", func(c *Cluster) { withEtcdHosts(c, 2) }, "spec.hosts", "2 etcd hosts: etcd tolerates 0 failed members", false},
		{"one etcd host", func(c *Cluster) { withEtcdHosts(c, 1) }, "spec.hosts", "1 etcd host: etcd tolerates 0 failed members", false},
		{"four etcd hosts", func(c *Cluster) { withEtcdHosts(c, 4) }, "spec.hosts", "4 etcd hosts: etcd tolerates 1 failed member", false},
		{"seven etcd hosts", func(c *Cluster) { withEtcdHosts(c, 7) }, "spec.hosts", "7 etcd hosts: every write waits for a majority", true},
		{"etcd hosts with stacked etcd", func(c *Cluster) {
			withEtcdHosts(c, 3)
			c.Spec.Etcd.Topology = EtcdStacked
		}, "spec.hosts[5].role", "role etcd needs etcd topology external", false},
		{"etcd hosts beside the operator's etcd", func(c *Cluster) {
			withEtcdHosts(c, 3)
			c.Spec.Etcd.External = &ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379"}, CAFile: "a", CertFile: "b", KeyFile: "c"}
		}, "spec.hosts[4].role", "names the operator's", false},
		{"client files of an etcd kubeha builds", func(c *Cluster) {
			withEtcdHosts(c, 3)
			c.Spec.Etcd.External = &ExternalEtcd{CAFile: "a"}
		}, "spec.etcd.external", "kubeha issues the client certificate", true},
		{"external etcd http endpoint", func(c *Cluster) {
			c.Spec.Etcd = Etcd{Topology: EtcdExternal, External: &ExternalEtcd{Endpoints: []string{"http://10.0.0.21:2379"}, CAFile: "a", CertFile: "b", KeyFile: "c"}}
		}, "spec.etcd.external.endpoints[0]", "not an https URL", false},
		{"external etcd missing key", func(c *Cluster) {
			c.Spec.Etcd = Etcd{Topology: EtcdExternal, External: &ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379"}, CAFile: "a", CertFile: "b"}}
		}, "spec.etcd.external.keyFile", "missing", false},
		{"bad pod subnet", func(c *Cluster) { c.Spec.Network.PodSubnet = "10.244.0.0/33" }, "spec.network.podSubnet", "not a CIDR", false},
		{"pod subnet host bits", func(c *Cluster) { c.Spec.Network.PodSubnet = "10.244.1.0/16" }, "spec.network.podSubnet", "host bits set", false},
		{"bad service subnet", func(c *Cluster) { c.Spec.Network.ServiceSubnet = "ten/12" }, "spec.network.serviceSubnet", "not a CIDR", false},
		{"subnets overlap", func(c *Cluster) { c.Spec.Network.ServiceSubnet = "10.244.128.0/20" }, "spec.network.serviceSubnet", "overlaps podSubnet", false},
		{"host inside pod subnet", func(c *Cluster) { c.Spec.Network.PodSubnet = "192.168.0.0/16" }, "spec.hosts[0].address", "inside podSubnet", false},
		{"host inside service subnet", func(c *Cluster) { c.Spec.Network.ServiceSubnet = "192.168.8.0/24" }, "spec.hosts[2].address", "inside serviceSubnet", false},
		{"vip inside pod subnet", func(c *Cluster) { c.Spec.LoadBalancer.VIP = "10.244.0.10" }, "spec.loadBalancer.vip", "inside podSubnet", false},
		{"bad dns domain", func(c *Cluster) { c.Spec.Network.DNSDomain = "Cluster_Local" }, "spec.network.dnsDomain", "not a DNS domain", false},
		{"unknown proxy mode", func(c *Cluster) { c.Spec.Network.KubeProxyMode = "userspace" }, "spec.network.kubeProxyMode", `unknown value "userspace"`, false},
		{"fallback must not be ipvs", func(c *Cluster) { c.Spec.Network.KubeProxyFallbackMode = "ipvs" }, "spec.network.kubeProxyFallbackMode", `unknown value "ipvs"`, false},
		{"fallback without ipvs is ignored", func(c *Cluster) {
			c.Spec.Network.KubeProxyMode, c.Spec.Network.KubeProxyFallbackMode = "iptables", "nftables"
		}, "spec.network.kubeProxyFallbackMode", "ignored with kubeProxyMode iptables", true},
		{"pod routes without target", func(c *Cluster) { c.Spec.Network.PodRoutes.Enabled = true }, "spec.network.podRoutes", "neither interface nor gateway", false},
		{"pod routes bad gateway", func(c *Cluster) { c.Spec.Network.PodRoutes = PodRoutes{Enabled: true, Gateway: "gw"} }, "spec.network.podRoutes.gateway", "not an IP address", false},
		// Issue 14: netip.ParseAddr accepts IPv6%<anything>; the zone carried
		// lines into keepalived.conf, haproxy.cfg, /etc/hosts and the routes file.
		{"zoned vip injects config lines", func(c *Cluster) { c.Spec.LoadBalancer.VIP = vipInjection }, "spec.loadBalancer.vip", "zone", false},
		{"zoned gateway injects a route", func(c *Cluster) {
			c.Spec.Network.PodRoutes = PodRoutes{Enabled: true, Gateway: "fe80::1%x\n0.0.0.0/0 via 10.0.0.66"}
		}, "spec.network.podRoutes.gateway", "zone", false},
		{"zoned host address", func(c *Cluster) { c.Spec.Hosts[0].Address = "fe80::1%eth0" }, "spec.hosts[0].address", "zone", false},
		{"zoned internal address", func(c *Cluster) { c.Spec.Hosts[0].InternalAddress = "fe80::1%eth0" }, "spec.hosts[0].internalAddress", "zone", false},
		{"zoned external address", func(c *Cluster) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeExternal, Address: "fe80::1%x\n10.0.0.1 evil"}
		}, "spec.loadBalancer.address", "zone", false},
		// Issue 14: /etc/hosts needs an IP for the endpoint name.
		{"external address is a DNS name", func(c *Cluster) {
			c.Spec.LoadBalancer = LoadBalancer{Mode: ModeExternal, Address: "slb.example.com"}
		}, "spec.loadBalancer.address", "not an IP address", false},
		{"unknown cgroup driver", func(c *Cluster) {
			c.Spec.Kubeadm.KubeletConfiguration = map[string]any{"cgroupDriver": "systemd\nx"}
		}, "spec.kubeadm.kubeletConfiguration.cgroupDriver", "unknown value", false},
		{"unknown cni", func(c *Cluster) { c.Spec.CNI.Plugin = "flannel" }, "spec.cni.plugin", `unknown value "flannel"`, false},
		{"manifest cni without file", func(c *Cluster) { c.Spec.CNI.Plugin = CNIManifest }, "spec.cni.manifest", "needs a manifest", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(c)
			Default(c)
			ps := Validate(c)
			for _, p := range ps {
				if p.Path == tt.path && strings.Contains(p.Message, tt.contain) {
					if p.Warning != tt.warning {
						t.Fatalf("%s: warning=%v, want %v", p, p.Warning, tt.warning)
					}
					if p.Fix == "" {
						t.Errorf("%s: no fix given", p)
					}
					return
				}
			}
			t.Fatalf("no problem at %s containing %q; got:\n%v", tt.path, tt.contain, ps)
		})
	}
}

// withEtcdHosts gives c n hosts with role etcd, for an etcd cluster kubeha
// builds.
func withEtcdHosts(c *Cluster, n int) {
	for i := range n {
		c.Spec.Hosts = append(c.Spec.Hosts, Host{Name: fmt.Sprintf("etcd-%d", i+1), Address: fmt.Sprintf("192.168.8.%d", 21+i), Role: RoleEtcd})
	}
	c.Spec.Etcd.Topology = EtcdExternal
}

// TestEtcdHostsBuildEtcd: three or five etcd hosts with topology external
// and no endpoints are an etcd cluster kubeha builds, with no problem; its
// endpoints are the hosts' internal addresses on the client port.
func TestEtcdHostsBuildEtcd(t *testing.T) {
	for _, n := range []int{3, 5} {
		c := base()
		withEtcdHosts(c, n)
		Default(c)
		if ps := Validate(c); len(ps) != 0 {
			t.Errorf("%d etcd hosts: %v", n, ps)
		}
		if !c.BuildsEtcd() || len(c.EtcdEndpoints()) != n || c.EtcdEndpoints()[0] != "https://192.168.8.21:2379" {
			t.Errorf("%d etcd hosts: builds %v, endpoints %v", n, c.BuildsEtcd(), c.EtcdEndpoints())
		}
	}
	c := base()
	c.Spec.Etcd = Etcd{Topology: EtcdExternal, External: &ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379"}}}
	if c.BuildsEtcd() || len(c.EtcdEndpoints()) != 1 {
		t.Errorf("the operator's etcd: builds %v, endpoints %v", c.BuildsEtcd(), c.EtcdEndpoints())
	}
}

// TestKubeVIPDefaults: mode kube-vip alone is a valid inventory: the
// endpoint port is the apiserver's (the VIP reaches the holder's own
// apiserver) and kube-vip's image is the one lb renders for; a port the
// operator wrote is kept, and refused unless it is 6443.
func TestKubeVIPDefaults(t *testing.T) {
	tests := []struct {
		name     string
		port     int
		wantPort int
		problem  string
	}{
		{"port left out", 0, APIServerPort, ""},
		{"port 6443 written", 6443, APIServerPort, ""},
		{"another port written", 8443, 8443, "spec.controlPlaneEndpoint.port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			c.Spec.LoadBalancer.Mode = ModeKubeVIP
			c.Spec.ControlPlaneEndpoint.Port = tt.port
			Default(c)
			if got := c.Spec.ControlPlaneEndpoint.Port; got != tt.wantPort {
				t.Errorf("endpoint port %d, want %d", got, tt.wantPort)
			}
			if im := c.Spec.LoadBalancer.Images; im == nil || im.KubeVIP != DefaultKubeVIPImage || im.HAProxy != "" || im.Keepalived != "" {
				t.Errorf("images %+v, want only kubeVip %s", im, DefaultKubeVIPImage)
			}
			ps := Validate(c)
			switch {
			case tt.problem == "" && len(ps) != 0:
				t.Errorf("problems: %v", ps)
			case tt.problem != "" && (len(ps) != 1 || ps[0].Path != tt.problem || ps[0].Warning):
				t.Errorf("problems %v, want one error at %s", ps, tt.problem)
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := base()
	c.Spec.Hosts[1].Address = "bad address"
	c.Spec.LoadBalancer.VIP = ""
	c.Spec.Network.PodSubnet = "nope"
	Default(c)
	ps := Validate(c).Errors()
	want := []string{"spec.hosts[1].address", "spec.loadBalancer.vip", "spec.network.podSubnet"}
	for _, w := range want {
		found := false
		for _, p := range ps {
			found = found || p.Path == w
		}
		if !found {
			t.Errorf("missing problem at %s in %v", w, ps)
		}
	}
}

func TestDefaultIsIdempotent(t *testing.T) {
	a := base()
	Default(a)
	first, err := Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	Default(a)
	second, _ := Marshal(a)
	if string(first) != string(second) {
		t.Fatalf("Default changed a defaulted inventory:\n%s\n---\n%s", first, second)
	}
}

// TestEvenMastersWarning pins the even-masters warning whole, as every
// command that loads the inventory prints it (kubeha etcd restore after a
// master was taken out, among them): its counts read right for 1 and for
// more.
func TestEvenMastersWarning(t *testing.T) {
	tests := []struct {
		masters int
		want    string
	}{
		{2, "warning: spec.hosts: 2 masters: etcd tolerates 0 failed members, the same as 1 master (fix: use an odd number of masters (3 or 5))"},
		{4, "warning: spec.hosts: 4 masters: etcd tolerates 1 failed member, the same as 3 masters (fix: use an odd number of masters (3 or 5))"},
		{6, "warning: spec.hosts: 6 masters: etcd tolerates 2 failed members, the same as 5 masters (fix: use an odd number of masters (3 or 5))"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d masters", tt.masters), func(t *testing.T) {
			c := base()
			c.Spec.Hosts = nil
			for i := range tt.masters {
				c.Spec.Hosts = append(c.Spec.Hosts, Host{Name: fmt.Sprintf("k%d", i+1), Address: fmt.Sprintf("192.168.8.%d", 191+i), Role: RoleMaster})
			}
			Default(c)
			var got []string
			for _, p := range Validate(c) {
				got = append(got, p.String())
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("problems %q\nwant [%q]", got, tt.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		n    int
		noun string
		want string
	}{
		{0, "failed member", "0 failed members"},
		{1, "failed member", "1 failed member"},
		{1, "master", "1 master"},
		{2, "master", "2 masters"},
		{12, "master", "12 masters"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := count(tt.n, tt.noun); got != tt.want {
				t.Fatalf("count(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
			}
		})
	}
}

// TestCNIPorts pins every problem spec.cni.ports can have, whole: the
// path with the index, the message and the fix.
func TestCNIPorts(t *testing.T) {
	form := func(i int, msg string) Problem {
		return Problem{Path: fmt.Sprintf("spec.cni.ports[%d]", i), Message: msg, Fix: formPort.fix}
	}
	ignored := func(plugin string) Problem {
		return Problem{Path: "spec.cni.ports", Message: "ignored with plugin " + plugin, Fix: "remove them, or set plugin: manifest", Warning: true}
	}
	tests := []struct {
		name   string
		plugin string
		ports  []string
		want   Problems
	}{
		{"single port", CNIManifest, []string{"8472/udp"}, nil},
		{"range", CNIManifest, []string{"30000-30100/udp"}, nil},
		{"sctp", CNIManifest, []string{"9899/sctp"}, nil},
		{"calico's VXLAN and BGP", CNIManifest, []string{"4789/udp", "179/tcp"}, nil},
		{"one port in two protocols", CNIManifest, []string{"179/tcp", "179/udp"}, nil},
		{"ranges that touch", CNIManifest, []string{"8000-8099/tcp", "8100-8199/tcp"}, nil},
		{"the lowest and the highest port", CNIManifest, []string{"1/tcp", "65535/tcp"}, nil},
		{"no protocol", CNIManifest, []string{"8472"}, Problems{form(0, `"8472" is not PORT/PROTO or FROM-TO/PROTO`)}},
		{"unknown protocol", CNIManifest, []string{"8472/icmp"}, Problems{form(0, `"8472/icmp" has protocol "icmp", not tcp, udp or sctp`)}},
		{"upper-case protocol", CNIManifest, []string{"8472/UDP"}, Problems{form(0, `"8472/UDP" has its protocol in upper case`)}},
		{"port 0", CNIManifest, []string{"0/udp"}, Problems{form(0, `"0/udp": port 0 is out of range`)}},
		{"port 65536", CNIManifest, []string{"65536/udp"}, Problems{form(0, `"65536/udp": port 65536 is out of range`)}},
		{"range to 65536", CNIManifest, []string{"65000-65536/udp"}, Problems{form(0, `"65000-65536/udp": port 65536 is out of range`)}},
		{"leading zero", CNIManifest, []string{"08472/udp"}, Problems{form(0, `"08472/udp": 08472 has a leading zero`)}},
		{"leading zero at the end of a range", CNIManifest, []string{"8000-08100/udp"}, Problems{form(0, `"8000-08100/udp": 08100 has a leading zero`)}},
		{"reversed range", CNIManifest, []string{"8500-8400/udp"}, Problems{form(0, `"8500-8400/udp" runs backwards; write 8400-8500/udp`)}},
		{"range with equal ends", CNIManifest, []string{"8472-8472/udp"}, Problems{form(0, `"8472-8472/udp" is a range of one port; write 8472/udp`)}},
		{"two ports in one entry", CNIManifest, []string{"8472/udp 4789/udp"}, Problems{form(0, `"8472/udp 4789/udp" is not PORT/PROTO or FROM-TO/PROTO`)}},
		{"leading space", CNIManifest, []string{" 8472/udp"}, Problems{form(0, `" 8472/udp" is not PORT/PROTO or FROM-TO/PROTO`)}},
		{"a command after it", CNIManifest, []string{"8472/udp;reboot"}, Problems{form(0, `"8472/udp;reboot" is not PORT/PROTO or FROM-TO/PROTO`)}},
		{"a command substitution", CNIManifest, []string{"$(reboot)/udp"}, Problems{form(0, `"$(reboot)/udp" is not PORT/PROTO or FROM-TO/PROTO`)}},
		{"a newline", CNIManifest, []string{"8472/udp\nreboot"}, Problems{form(0, `"8472/udp\nreboot" is not PORT/PROTO or FROM-TO/PROTO`)}},
		{"the second one wrong", CNIManifest, []string{"4789/udp", "179"}, Problems{form(1, `"179" is not PORT/PROTO or FROM-TO/PROTO`)}},
		{"duplicate", CNIManifest, []string{"8472/udp", "4789/udp", "8472/udp"}, Problems{
			{Path: "spec.cni.ports[2]", Message: "8472/udp is also spec.cni.ports[0]", Fix: "list each port once"}}},
		{"overlap", CNIManifest, []string{"179/tcp", "8400-8500/udp", "8472/udp"}, Problems{
			{Path: "spec.cni.ports[2]", Message: "8472/udp overlaps spec.cni.ports[1] (8400-8500/udp)", Fix: "list each port once: make the two one range, or ranges that do not overlap"}}},
		{"a wrong one is not compared", CNIManifest, []string{"8472/udp", "08472/udp"}, Problems{form(1, `"08472/udp": 08472 has a leading zero`)}},
		{"with plugin bridge", CNIBridge, []string{"8472/udp"}, Problems{ignored(CNIBridge)}},
		{"with plugin none", CNINone, []string{"8472/udp"}, Problems{ignored(CNINone)}},
		{"wrong with plugin bridge", CNIBridge, []string{"8472"}, Problems{form(0, `"8472" is not PORT/PROTO or FROM-TO/PROTO`), ignored(CNIBridge)}},
		{"none with plugin bridge", CNIBridge, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			c.Spec.CNI = CNI{Plugin: tt.plugin, Ports: tt.ports}
			if tt.plugin == CNIManifest {
				c.Spec.CNI.Manifest = "kube-flannel.yml"
			}
			Default(c)
			var got Problems
			for _, p := range Validate(c) {
				if strings.HasPrefix(p.Path, "spec.cni.ports") {
					got = append(got, p)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%v\nwant:\n%v", got, tt.want)
			}
		})
	}
}

// TestPortRange pins what ParsePortRange reads and how ranges compare:
// firewalldRules leaves out a CNI port that a role's port contains.
func TestPortRange(t *testing.T) {
	parse := func(s string) PortRange {
		r, ok := ParsePortRange(s)
		if !ok {
			t.Fatalf("%q refused", s)
		}
		return r
	}
	if got, want := parse("8472/udp"), (PortRange{From: 8472, To: 8472, Proto: "udp"}); got != want {
		t.Errorf("8472/udp: %+v, want %+v", got, want)
	}
	if got, want := parse("30000-32767/tcp"), (PortRange{From: 30000, To: 32767, Proto: "tcp"}); got != want {
		t.Errorf("30000-32767/tcp: %+v, want %+v", got, want)
	}
	if r, ok := ParsePortRange("8472-8472/udp"); ok {
		t.Errorf("8472-8472/udp read as %+v", r)
	}
	tests := []struct {
		r, q               string
		overlaps, contains bool
	}{
		{"30000-32767/udp", "30080/udp", true, true},
		{"30000-32767/udp", "30000-32767/udp", true, true},
		{"30000-32767/udp", "29000-30000/udp", true, false},
		{"30000-32767/udp", "32767-33000/udp", true, false},
		{"30000-32767/udp", "30080/tcp", false, false},
		{"30080/udp", "30000-32767/udp", true, false},
		{"8472/udp", "8473/udp", false, false},
		{"8000-8099/tcp", "8100-8199/tcp", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.r+" "+tt.q, func(t *testing.T) {
			r, q := parse(tt.r), parse(tt.q)
			if got := r.Overlaps(q); got != tt.overlaps {
				t.Errorf("Overlaps: %v, want %v", got, tt.overlaps)
			}
			if got := q.Overlaps(r); got != tt.overlaps {
				t.Errorf("Overlaps the other way: %v, want %v", got, tt.overlaps)
			}
			if got := r.Contains(q); got != tt.contains {
				t.Errorf("Contains: %v, want %v", got, tt.contains)
			}
		})
	}
}
