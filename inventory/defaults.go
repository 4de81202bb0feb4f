package inventory

import "net/netip"

// Defaults that an operator sees in `kubeha inventory show` and in
// docs/inventory.md.
const (
	DefaultKubernetesVersion = "v1.37.2"
	DefaultKnownHostsPath    = "~/.ssh/known_hosts"
	// The images of the kubeadm HA guide's static-pod load balancer.
	DefaultHAProxyImage    = "docker.io/library/haproxy:2.8"
	DefaultKeepalivedImage = "docker.io/osixia/keepalived:2.0.20"
	// DefaultKubeVIPImage is kube-vip's release whose environment
	// variables and manifest shape lb.KubeVIP renders.
	DefaultKubeVIPImage    = "ghcr.io/kube-vip/kube-vip:v1.2.3"
	DefaultVirtualRouterID = 51
	DefaultPodSubnet       = "10.244.0.0/16"
	DefaultServiceSubnet   = "10.96.0.0/12"
	DefaultDNSDomain       = "cluster.local"
	// DefaultHAProxyOnMastersPort is the endpoint port when haproxy shares
	// the masters with the apiserver, which already holds 6443 (seed 001).
	DefaultHAProxyOnMastersPort = 16443
)

// Default fills every field the operator left empty. It is the only place
// defaults are set; it never overwrites a value that was given, and applying
// it twice gives the same result.
func Default(c *Cluster) {
	s := &c.Spec
	if s.KubernetesVersion == "" {
		s.KubernetesVersion = DefaultKubernetesVersion
	}
	if s.SSH.KnownHostsPath == "" {
		s.SSH.KnownHostsPath = DefaultKnownHostsPath
	}
	if s.SSH.UseAgent == nil {
		s.SSH.UseAgent = ptr(true)
	}
	if s.SSH.Sudo == nil {
		s.SSH.Sudo = ptr(false)
	}
	if b := s.SSH.Bastion; b != nil && b.Port == 0 {
		b.Port = 22
	}
	canonicalise(s)
	for i := range s.Hosts {
		h := &s.Hosts[i]
		if h.InternalAddress == "" {
			if _, err := netip.ParseAddr(h.Address); err == nil {
				h.InternalAddress = h.Address
			}
		}
	}

	lb := &s.LoadBalancer
	if lb.Mode == "" {
		lb.Mode = ModeKeepalivedHAProxy
	}
	if lb.Placement == "" {
		lb.Placement = PlacementMasters
	}
	if usesVRRP(lb.Mode) && lb.VirtualRouterID == 0 {
		lb.VirtualRouterID = DefaultVirtualRouterID
	}
	if lb.Mode == ModeLocalProxy && lb.Proxy == "" {
		lb.Proxy = ProxyHAProxy
	}
	if lb.StaticPods {
		if lb.Images == nil {
			lb.Images = &LBImages{}
		}
		if lb.Images.HAProxy == "" {
			lb.Images.HAProxy = DefaultHAProxyImage
		}
		if lb.Images.Keepalived == "" {
			lb.Images.Keepalived = DefaultKeepalivedImage
		}
	}
	if lb.Mode == ModeKubeVIP {
		if lb.Images == nil {
			lb.Images = &LBImages{}
		}
		if lb.Images.KubeVIP == "" {
			lb.Images.KubeVIP = DefaultKubeVIPImage
		}
	}

	ep := &s.ControlPlaneEndpoint
	if ep.Name == "" && c.Metadata.Name != "" {
		ep.Name = c.Metadata.Name + "-apiserver"
	}
	if ep.Port == 0 {
		// kube-vip (without its IPVS balancer) forwards nothing: the VIP
		// reaches the holder's own apiserver, on its port.
		ep.Port = APIServerPort
		if lb.Mode == ModeKeepalivedHAProxy && lb.Placement == PlacementMasters {
			ep.Port = DefaultHAProxyOnMastersPort
		}
	}

	if s.Etcd.Topology == "" {
		s.Etcd.Topology = EtcdStacked
	}
	n := &s.Network
	if n.PodSubnet == "" {
		n.PodSubnet = DefaultPodSubnet
	}
	if n.ServiceSubnet == "" {
		n.ServiceSubnet = DefaultServiceSubnet
	}
	if n.DNSDomain == "" {
		n.DNSDomain = DefaultDNSDomain
	}
	if n.KubeProxyMode == "" {
		n.KubeProxyMode = ProxyModeIPVS
	}
	if s.CNI.Plugin == "" {
		s.CNI.Plugin = CNIBridge
	}
}

// canonicalise rewrites every address, CIDR and etcd URL of s the way
// netip writes it (FD00::0010 → fd00::10), so that comparisons (duplicate
// addresses, the VIP against host addresses) and rendered files see one
// spelling. A value that is not an acceptable address (a zone, an
// IPv4-mapped address, a typo) is left as it is, for Validate to refuse.
func canonicalise(s *Spec) {
	for i := range s.Hosts {
		h := &s.Hosts[i]
		h.Address = canonicalIP(h.Address)
		h.InternalAddress = canonicalIP(h.InternalAddress)
	}
	if b := s.SSH.Bastion; b != nil {
		b.Address = canonicalIP(b.Address)
	}
	lb := &s.LoadBalancer
	lb.VIP = canonicalIP(lb.VIP)
	lb.Address = canonicalIP(lb.Address)
	n := &s.Network
	n.PodSubnet = canonicalCIDR(n.PodSubnet)
	n.ServiceSubnet = canonicalCIDR(n.ServiceSubnet)
	n.PodRoutes.Gateway = canonicalIP(n.PodRoutes.Gateway)
	if e := s.Etcd.External; e != nil {
		for i := range e.Endpoints {
			e.Endpoints[i] = canonicalEtcdURL(e.Endpoints[i])
		}
	}
}

// usesVRRP reports whether the mode elects a VIP holder over VRRP.
func usesVRRP(mode string) bool { return mode == ModeKeepalivedHAProxy }

func ptr[T any](v T) *T { return &v }
