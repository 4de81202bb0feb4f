package inventory

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// The Kubernetes minors kubeha renders configs for (kubeadm.k8s.io/v1beta4)
// and has built offline to test against.
const (
	MinKubernetesMinor = 34
	MaxKubernetesMinor = 37
)

var (
	versionRE = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)
	// dns1123Label is what Kubernetes accepts as a node name segment.
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// interfaceRE is what Linux accepts as an interface name.
	interfaceRE = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)
)

// Validate checks a defaulted inventory and returns every problem at once,
// warnings included. The inventory is usable when Problems.Errors() is empty.
// It reads nothing outside c: files the inventory names are checked by the
// commands that need them.
func Validate(c *Cluster) Problems {
	v := &validator{c: c}
	v.header()
	v.version()
	v.ssh()
	v.hosts()
	v.endpoint()
	v.loadBalancer()
	v.etcd()
	v.network()
	v.cni()
	if a := c.Spec.Artifacts; a != nil && a.Dir == "" {
		v.errorf("spec.artifacts.dir", "give the bundle directory (kubeha bundle create --from DIR), or remove artifacts", "missing")
	}
	return v.out
}

type validator struct {
	c   *Cluster
	out Problems
}

func (v *validator) errorf(path, fix, format string, args ...any) {
	v.out = append(v.out, Problem{Path: path, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (v *validator) warnf(path, fix, format string, args ...any) {
	v.out = append(v.out, Problem{Path: path, Message: fmt.Sprintf(format, args...), Fix: fix, Warning: true})
}

func (v *validator) oneOf(path, got string, allowed ...string) bool {
	for _, a := range allowed {
		if got == a {
			return true
		}
	}
	v.errorf(path, "use one of: "+strings.Join(allowed, ", "), "unknown value %q", got)
	return false
}

func (v *validator) port(path string, p int) {
	if p < 1 || p > 65535 {
		v.errorf(path, "use a port from 1 to 65535", "port %d is out of range", p)
	}
}

func (v *validator) ip(path, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		v.errorf(path, "write an IPv4 or IPv6 address such as 192.168.8.10", "%q is not an IP address", s)
		return netip.Addr{}, false
	}
	return a, true
}

func (v *validator) cidr(path, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		v.errorf(path, "write a CIDR such as 10.244.0.0/16", "%q is not a CIDR", s)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		v.errorf(path, "write the network address: "+p.Masked().String(), "%q has host bits set", s)
		return netip.Prefix{}, false
	}
	return p, true
}

func (v *validator) header() {
	c := v.c
	if c.APIVersion != APIVersion {
		v.errorf("apiVersion", "set apiVersion: "+APIVersion, "expected %q, found %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		v.errorf("kind", "set kind: "+Kind, "expected %q, found %q", Kind, c.Kind)
	}
	switch {
	case c.Metadata.Name == "":
		v.errorf("metadata.name", "name the cluster, e.g. metadata: {name: prod}", "missing")
	case len(c.Metadata.Name) > 63 || !dns1123Label.MatchString(c.Metadata.Name):
		v.errorf("metadata.name", "use lower-case letters, digits and '-', at most 63 characters", "%q is not a valid name", c.Metadata.Name)
	}
}

func (v *validator) version() {
	s := v.c.Spec.KubernetesVersion
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		v.errorf("spec.kubernetesVersion", "write it as v1.MINOR.PATCH, e.g. "+DefaultKubernetesVersion, "%q is not a Kubernetes version", s)
		return
	}
	minor, _ := strconv.Atoi(m[1])
	if minor < MinKubernetesMinor || minor > MaxKubernetesMinor {
		v.errorf("spec.kubernetesVersion", fmt.Sprintf("use a version from v1.%d to v1.%d", MinKubernetesMinor, MaxKubernetesMinor),
			"%s is outside the supported range", s)
	}
}

func (v *validator) ssh() {
	s := v.c.Spec.SSH
	if s.Port != 0 {
		v.port("spec.ssh.port", s.Port)
	}
	if b := s.Bastion; b != nil {
		if b.Address == "" {
			v.errorf("spec.ssh.bastion.address", "set the jump host's address, or remove bastion", "missing")
		}
		v.port("spec.ssh.bastion.port", b.Port)
	}
}

func (v *validator) hosts() {
	hosts := v.c.Spec.Hosts
	names := map[string]int{}
	addrs := map[string]string{}
	masters := 0
	for i, h := range hosts {
		p := fmt.Sprintf("spec.hosts[%d]", i)
		switch {
		case h.Name == "":
			v.errorf(p+".name", "give every host a name; it becomes the node name", "missing")
		case len(h.Name) > 63 || !dns1123Label.MatchString(h.Name):
			v.errorf(p+".name", "use lower-case letters, digits and '-' (it becomes the Kubernetes node name)", "%q is not a valid host name", h.Name)
		default:
			if j, dup := names[h.Name]; dup {
				v.errorf(p+".name", "give each host its own name", "%q is also the name of spec.hosts[%d]", h.Name, j)
			} else {
				names[h.Name] = i
			}
		}
		if h.Address == "" {
			v.errorf(p+".address", "set the address kubeha reaches this host at over SSH", "missing")
		} else if _, err := netip.ParseAddr(h.Address); err != nil && !isDNSName(h.Address) {
			v.errorf(p+".address", "write an IP address or a DNS name", "%q is neither an IP address nor a DNS name", h.Address)
		}
		if h.InternalAddress == "" {
			if h.Address != "" {
				v.errorf(p+".internalAddress", "set the IP this host uses inside the cluster; address is a name, so it cannot stand in", "missing")
			}
		} else {
			v.ip(p+".internalAddress", h.InternalAddress)
		}
		for _, a := range uniq(h.Address, h.InternalAddress) {
			if a == "" {
				continue
			}
			if other, dup := addrs[a]; dup {
				v.errorf(p+".address", "give each host its own address", "%s is also an address of %s", a, other)
			} else {
				addrs[a] = p
			}
		}
		if v.oneOf(p+".role", h.Role, RoleMaster, RoleWorker, RoleLoadBalancer) && h.Role == RoleMaster {
			masters++
		}
		if h.SSH != nil && h.SSH.Port != 0 {
			v.port(p+".ssh.port", h.SSH.Port)
		}
	}
	switch {
	case masters == 0:
		v.errorf("spec.hosts", "give at least one host role: master", "no host has role master")
	case masters%2 == 0:
		v.warnf("spec.hosts", "use an odd number of masters (3 or 5)",
			"%d masters: etcd tolerates %d failed members, the same as %d masters", masters, (masters-1)/2, masters-1)
	}
}

func (v *validator) endpoint() {
	ep := v.c.Spec.ControlPlaneEndpoint
	if ep.Name == "" {
		v.errorf("spec.controlPlaneEndpoint.name", "set a DNS-style name such as k8s-apiserver-vip", "missing")
	} else if !isDNSName(ep.Name) {
		v.errorf("spec.controlPlaneEndpoint.name", "use a DNS-style name such as k8s-apiserver-vip; kubeha maps it to the load balancer in /etc/hosts", "%q is not a DNS name", ep.Name)
	}
	v.port("spec.controlPlaneEndpoint.port", ep.Port)
}

func (v *validator) loadBalancer() {
	c := v.c
	lb := c.Spec.LoadBalancer
	const p = "spec.loadBalancer"
	if !v.oneOf(p+".mode", lb.Mode, ModeKeepalivedHAProxy, ModeKubeVIP, ModeLocalProxy, ModeExternal) {
		return
	}
	placementOK := v.oneOf(p+".placement", lb.Placement, PlacementMasters, PlacementDedicated)
	needsVIP := lb.Mode == ModeKeepalivedHAProxy || lb.Mode == ModeKubeVIP

	if needsVIP {
		if lb.VIP == "" {
			v.errorf(p+".vip", "set a free address on the masters' subnet for the VIP", "mode %s needs a vip", lb.Mode)
		} else if vip, ok := v.ip(p+".vip", lb.VIP); ok {
			for i, h := range c.Spec.Hosts {
				if h.Address == vip.String() || h.InternalAddress == vip.String() {
					v.errorf(p+".vip", "choose an address no host has: the VIP moves between hosts", "%s is the address of spec.hosts[%d] (%s)", vip, i, h.Name)
				}
			}
		}
		if lb.Interface != "" && !interfaceRE.MatchString(lb.Interface) {
			v.errorf(p+".interface", "name a network interface such as eth0, or leave it empty to use the one holding the host's internalAddress", "%q is not an interface name", lb.Interface)
		}
	} else {
		v.ignored(p+".vip", lb.VIP != "", lb.Mode)
		v.ignored(p+".interface", lb.Interface != "", lb.Mode)
	}
	if usesVRRP(lb.Mode) {
		if lb.VirtualRouterID < 1 || lb.VirtualRouterID > 255 {
			v.errorf(p+".virtualRouterID", "use 1 to 255, unique among VRRP routers on the subnet", "%d is out of range", lb.VirtualRouterID)
		}
	} else {
		v.ignored(p+".virtualRouterID", lb.VirtualRouterID != 0, lb.Mode)
	}
	if lb.Mode == ModeLocalProxy {
		v.oneOf(p+".proxy", lb.Proxy, ProxyHAProxy, ProxyNginx)
	} else {
		v.ignored(p+".proxy", lb.Proxy != "", lb.Mode)
	}
	if lb.Mode == ModeExternal {
		if lb.Address == "" {
			v.errorf(p+".address", "set the address of your SLB or F5 that forwards to every master's :6443", "mode external needs an address")
		} else if a, err := netip.ParseAddr(lb.Address); err != nil && !isDNSName(lb.Address) {
			v.errorf(p+".address", "write an IP address or a DNS name", "%q is neither an IP address nor a DNS name", lb.Address)
		} else if err == nil {
			for i, h := range c.Spec.Hosts {
				if h.Address == a.String() || h.InternalAddress == a.String() {
					v.errorf(p+".address", "the SLB must be its own address, not a host's", "%s is the address of spec.hosts[%d] (%s)", a, i, h.Name)
				}
			}
		}
	} else {
		v.ignored(p+".address", lb.Address != "", lb.Mode)
	}
	if lb.StaticPods && lb.Mode != ModeKeepalivedHAProxy {
		v.ignored(p+".staticPods", true, lb.Mode)
	}
	if lb.Images != nil && !lb.StaticPods {
		v.warnf(p+".images", "set staticPods: true, or remove it", "ignored unless staticPods is true")
	}

	if placementOK {
		dedicated := len(c.LoadBalancers())
		switch {
		case lb.Placement == PlacementDedicated && lb.Mode != ModeKeepalivedHAProxy:
			v.errorf(p+".placement", "use placement: masters, or mode keepalived-haproxy for dedicated hosts", "mode %s runs on the cluster nodes; dedicated placement is for keepalived-haproxy", lb.Mode)
		case lb.Placement == PlacementDedicated && dedicated == 0:
			v.errorf(p+".placement", "add hosts with role: loadbalancer, or use placement: masters", "placement dedicated needs hosts with role loadbalancer")
		case lb.Placement == PlacementDedicated && lb.StaticPods:
			v.errorf(p+".staticPods", "static pods need a kubelet: use placement masters, or staticPods: false", "static pods run only on masters")
		case lb.Placement == PlacementMasters && dedicated > 0:
			v.warnf("spec.hosts", "set spec.loadBalancer.placement: dedicated, or remove them", "%d hosts have role loadbalancer but placement is masters: they get nothing", dedicated)
		}
		if lb.Mode == ModeKeepalivedHAProxy && lb.Placement == PlacementMasters && c.Spec.ControlPlaneEndpoint.Port == APIServerPort {
			v.errorf("spec.controlPlaneEndpoint.port", fmt.Sprintf("use another port, e.g. %d (seed 001)", DefaultHAProxyOnMastersPort),
				"haproxy on the masters cannot listen on %d: the apiserver holds it there", APIServerPort)
		}
	}
}

func (v *validator) ignored(path string, set bool, mode string) {
	if set {
		v.warnf(path, "remove it", "ignored in mode %s", mode)
	}
}

func (v *validator) etcd() {
	e := v.c.Spec.Etcd
	if !v.oneOf("spec.etcd.topology", e.Topology, EtcdStacked, EtcdExternal) {
		return
	}
	if e.Topology == EtcdStacked {
		if e.External != nil {
			v.warnf("spec.etcd.external", "remove it, or set topology: external", "ignored with topology stacked")
		}
		return
	}
	const p = "spec.etcd.external"
	if e.External == nil {
		v.errorf(p, "give endpoints, caFile, certFile and keyFile of your etcd cluster", "topology external needs external")
		return
	}
	if len(e.External.Endpoints) == 0 {
		v.errorf(p+".endpoints", "list every etcd member's client URL, e.g. https://10.0.0.21:2379", "missing")
	}
	for i, ep := range e.External.Endpoints {
		if !strings.HasPrefix(ep, "https://") {
			v.errorf(fmt.Sprintf("%s.endpoints[%d]", p, i), "use an https:// client URL", "%q is not an https URL", ep)
		}
	}
	for _, f := range []struct{ name, val string }{{"caFile", e.External.CAFile}, {"certFile", e.External.CertFile}, {"keyFile", e.External.KeyFile}} {
		if f.val == "" {
			v.errorf(p+"."+f.name, "give the path of the file on this machine", "missing")
		}
	}
}

func (v *validator) network() {
	n := v.c.Spec.Network
	const p = "spec.network"
	pod, podOK := v.cidr(p+".podSubnet", n.PodSubnet)
	svc, svcOK := v.cidr(p+".serviceSubnet", n.ServiceSubnet)
	if podOK && svcOK && pod.Overlaps(svc) {
		v.errorf(p+".serviceSubnet", "choose subnets that do not overlap", "%s overlaps podSubnet %s", svc, pod)
	}
	if !isDNSName(n.DNSDomain) {
		v.errorf(p+".dnsDomain", "use a domain such as cluster.local", "%q is not a DNS domain", n.DNSDomain)
	}
	v.oneOf(p+".kubeProxyMode", n.KubeProxyMode, ProxyModeIPVS, ProxyModeIPTables, ProxyModeNFTables)
	if fb := n.KubeProxyFallbackMode; fb != "" {
		if v.oneOf(p+".kubeProxyFallbackMode", fb, ProxyModeIPTables, ProxyModeNFTables) && n.KubeProxyMode != ProxyModeIPVS {
			v.warnf(p+".kubeProxyFallbackMode", "remove it: only ipvs needs a fallback", "ignored with kubeProxyMode %s", n.KubeProxyMode)
		}
	}

	// Any address the cluster routes to directly must not hide inside a
	// cluster CIDR, or traffic to it is captured by kube-proxy or the CNI.
	check := func(path, addr string) {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		if podOK && pod.Contains(a) {
			v.errorf(path, "choose a podSubnet that does not contain host addresses", "%s is inside podSubnet %s", a, pod)
		}
		if svcOK && svc.Contains(a) {
			v.errorf(path, "choose a serviceSubnet that does not contain host addresses", "%s is inside serviceSubnet %s", a, svc)
		}
	}
	for i, h := range v.c.Spec.Hosts {
		check(fmt.Sprintf("spec.hosts[%d].address", i), h.Address)
		if h.InternalAddress != h.Address {
			check(fmt.Sprintf("spec.hosts[%d].internalAddress", i), h.InternalAddress)
		}
	}
	check("spec.loadBalancer.vip", v.c.Spec.LoadBalancer.VIP)
	check("spec.loadBalancer.address", v.c.Spec.LoadBalancer.Address)

	r := n.PodRoutes
	if r.Enabled {
		if r.Interface != "" && !interfaceRE.MatchString(r.Interface) {
			v.errorf(p+".podRoutes.interface", "name a network interface such as eth1", "%q is not an interface name", r.Interface)
		}
		if r.Gateway != "" {
			v.ip(p+".podRoutes.gateway", r.Gateway)
		}
		if r.Interface == "" && r.Gateway == "" {
			v.errorf(p+".podRoutes", "set interface, gateway or both (seed 003: via 192.168.20.1 dev eth1)", "enabled but neither interface nor gateway is set")
		}
	}
}

func (v *validator) cni() {
	c := v.c.Spec.CNI
	if !v.oneOf("spec.cni.plugin", c.Plugin, CNIBridge, CNIManifest, CNINone) {
		return
	}
	if c.Plugin == CNIManifest && c.Manifest == "" {
		v.errorf("spec.cni.manifest", "give the path of the CNI manifest (e.g. calico.yaml); its default Pod CIDR is replaced by podSubnet", "plugin manifest needs a manifest")
	}
	if c.Plugin != CNIManifest && c.Manifest != "" {
		v.warnf("spec.cni.manifest", "remove it, or set plugin: manifest", "ignored with plugin %s", c.Plugin)
	}
}

// isDNSName reports whether s is a DNS name of lower-case RFC 1123 labels.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) > 63 || !dns1123Label.MatchString(l) {
			return false
		}
	}
	// An all-numeric last label is a mistyped IP address (300.1.1.1), not a
	// name: no top-level domain is numeric (RFC 3696).
	_, err := strconv.Atoi(labels[len(labels)-1])
	return err != nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}
