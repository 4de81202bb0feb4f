package inventory

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// The Kubernetes minors kubeha renders configs for (kubeadm.k8s.io/v1beta4)
// and has built offline to test against.
const (
	MinKubernetesMinor = 34
	MaxKubernetesMinor = 37
)

// Validate checks a defaulted inventory and returns every problem at once,
// warnings included. The inventory is usable when Problems.Errors() is empty.
// It reads nothing outside c: files the inventory names are checked by the
// commands that need them.
//
// Every string field is checked against its form (forms.go) whatever the
// mode: a field a mode ignores may still reach a host (the VIP is in the
// apiserver's certSANs in every mode), so "ignored" never means "unchecked".
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
	v.kubeadm()
	if a := c.Spec.Artifacts; a != nil {
		if a.Dir == "" {
			v.errorf("spec.artifacts.dir", "give the bundle directory (kubeha bundle create --from DIR), or remove artifacts", "missing")
		} else {
			v.is("spec.artifacts.dir", a.Dir, formLocalPath)
		}
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

// is reports whether s has form f, and records a problem at path if not.
func (v *validator) is(path, s string, f form) bool {
	if msg := f.check(s); msg != "" {
		v.errorf(path, f.fix, "%s", msg)
		return false
	}
	return true
}

// optional is is for a field that may be empty.
func (v *validator) optional(path, s string, f form) bool {
	return s == "" || v.is(path, s, f)
}

// intRange is the values an integer field of the inventory accepts. None
// accepts 0: a field holds 0 only when the operator left it out, for Default
// (or ~/.ssh/config) to fill, so the decoder refuses a 0 that was written
// rather than let it turn silently into the default.
type intRange struct {
	min, max int
	fix      string
}

// intRanges holds each integer field's range by its YAML key; the decoder
// and Validate both read it. TestEveryIntFieldHasARange keeps it complete.
var intRanges = map[string]intRange{
	"port":            {1, 65535, "use a port from 1 to 65535"},
	"virtualRouterID": {1, 255, "use 1 to 255, unique among VRRP routers on the subnet"},
}

// inRange records a problem at path when n is outside the range of the
// field path ends in.
func (v *validator) inRange(path string, n int) {
	r := intRanges[lastKey(path)]
	if n < r.min || n > r.max {
		v.errorf(path, r.fix, "%d is out of range", n)
	}
}

// ParseInt reads s, the value an operator typed for the integer field at
// path in a form (the installer) rather than wrote in a file, by the rules a
// file's value meets: a decimal whole number in the field's range
// (intRanges). A form has no "left out": an empty s is refused like 0, so a
// field the operator emptied or got wrong never turns silently into the
// default. On a problem the number is 0. path must end in an integer field's
// key; another path is a programming error and panics.
func ParseInt(path, s string) (int, *Problem) {
	r, ok := intRanges[lastKey(path)]
	if !ok {
		panic("inventory.ParseInt: " + path + " is not an integer field")
	}
	problem := func(msg string) (int, *Problem) {
		return 0, &Problem{Path: path, Message: msg, Fix: r.fix}
	}
	if s == "" {
		return problem("empty")
	}
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return problem(fmt.Sprintf("%q is out of range", truncate(s, 40)))
	case err != nil:
		return problem(fmt.Sprintf("%q is not a whole number", truncate(s, 40)))
	case n < r.min || n > r.max:
		// The message Validate gives a file's value out of range.
		return problem(fmt.Sprintf("%d is out of range", n))
	}
	return n, nil
}

// lastKey is the last key of a YAML path: port for spec.hosts[1].ssh.port.
func lastKey(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

// ip checks s against form f, which must be an IP form, and returns it.
func (v *validator) ip(path, s string, f form) (netip.Addr, bool) {
	if !v.is(path, s, f) {
		return netip.Addr{}, false
	}
	a, _ := parseIP(s)
	return a, true
}

func (v *validator) cidr(path, s string) (netip.Prefix, bool) {
	if !v.is(path, s, formCIDR) {
		return netip.Prefix{}, false
	}
	p, _ := parseCIDR(s)
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
	if c.Metadata.Name == "" {
		v.errorf("metadata.name", "name the cluster, e.g. metadata: {name: prod}", "missing")
	} else {
		v.is("metadata.name", c.Metadata.Name, formClusterName)
	}
}

func (v *validator) version() {
	s := v.c.Spec.KubernetesVersion
	if !v.is("spec.kubernetesVersion", s, formVersion) {
		return
	}
	minor, _ := strconv.Atoi(versionRE.FindStringSubmatch(s)[1])
	if minor < MinKubernetesMinor || minor > MaxKubernetesMinor {
		v.errorf("spec.kubernetesVersion", fmt.Sprintf("use a version from v1.%d to v1.%d", MinKubernetesMinor, MaxKubernetesMinor),
			"%s is outside the supported range", s)
	}
}

func (v *validator) ssh() {
	s := v.c.Spec.SSH
	const p = "spec.ssh"
	if s.Port != 0 {
		v.inRange(p+".port", s.Port)
	}
	v.optional(p+".user", s.User, formUser)
	v.optional(p+".keyPath", s.KeyPath, formLocalPath)
	v.optional(p+".knownHostsPath", s.KnownHostsPath, formLocalPath)
	if b := s.Bastion; b != nil {
		if b.Address == "" {
			v.errorf(p+".bastion.address", "set the jump host's address, or remove bastion", "missing")
		} else {
			v.is(p+".bastion.address", b.Address, formSSHAddress)
		}
		v.inRange(p+".bastion.port", b.Port)
		v.optional(p+".bastion.user", b.User, formUser)
		v.optional(p+".bastion.keyPath", b.KeyPath, formLocalPath)
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
		case !v.is(p+".name", h.Name, formHostName):
		default:
			if j, dup := names[h.Name]; dup {
				v.errorf(p+".name", "give each host its own name", "%q is also the name of spec.hosts[%d]", h.Name, j)
			} else {
				names[h.Name] = i
			}
		}
		addrOK, internalOK := false, false
		if h.Address == "" {
			v.errorf(p+".address", "set the address kubeha reaches this host at over SSH", "missing")
		} else {
			addrOK = v.is(p+".address", h.Address, formSSHAddress)
		}
		if h.InternalAddress == "" {
			if h.Address != "" {
				v.errorf(p+".internalAddress", "set the IP this host uses inside the cluster; address is a name, so it cannot stand in", "missing")
			}
		} else {
			_, internalOK = v.ip(p+".internalAddress", h.InternalAddress, formIP)
		}
		// Only well-formed addresses are compared: a refused one has its
		// problem already, and its text is not repeated here.
		for _, a := range uniq(h.Address, h.InternalAddress) {
			if a == "" || (a == h.Address && !addrOK) || (a == h.InternalAddress && a != h.Address && !internalOK) {
				continue
			}
			if other, dup := addrs[a]; dup {
				v.errorf(p+".address", "give each host its own address", "%s is also an address of %s", a, other)
			} else {
				addrs[a] = p
			}
		}
		if v.oneOf(p+".role", h.Role, RoleMaster, RoleWorker, RoleLoadBalancer, RoleEtcd) && h.Role == RoleMaster {
			masters++
		}
		if hs := h.SSH; hs != nil {
			if hs.Port != 0 {
				v.inRange(p+".ssh.port", hs.Port)
			}
			v.optional(p+".ssh.user", hs.User, formUser)
			v.optional(p+".ssh.keyPath", hs.KeyPath, formLocalPath)
		}
	}
	switch {
	case masters == 0:
		v.errorf("spec.hosts", "give at least one host role: master", "no host has role master")
	case masters%2 == 0:
		v.warnf("spec.hosts", "use an odd number of masters (3 or 5)",
			"%s: etcd tolerates %s, the same as %s", count(masters, "master"), count((masters-1)/2, "failed member"), count(masters-1, "master"))
	}
}

// count is n and the noun, plural unless n is 1: "1 master", "0 failed
// members". Every command that loads the inventory prints its warnings,
// with counts of 1 among them (2 masters are "the same as 1 master").
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (v *validator) endpoint() {
	ep := v.c.Spec.ControlPlaneEndpoint
	if ep.Name == "" {
		v.errorf("spec.controlPlaneEndpoint.name", "set a DNS-style name such as k8s-apiserver-vip", "missing")
	} else {
		v.is("spec.controlPlaneEndpoint.name", ep.Name, formEndpointName)
	}
	v.inRange("spec.controlPlaneEndpoint.port", ep.Port)
}

func (v *validator) loadBalancer() {
	c := v.c
	lb := c.Spec.LoadBalancer
	const p = "spec.loadBalancer"
	// Forms first, whatever the mode: an ignored VIP or address still goes
	// into the apiserver's certSANs.
	vip, vipOK := netip.Addr{}, false
	if lb.VIP != "" {
		vip, vipOK = v.ip(p+".vip", lb.VIP, formIP)
	}
	slb, slbOK := netip.Addr{}, false
	if lb.Address != "" {
		slb, slbOK = v.ip(p+".address", lb.Address, formSLBAddress)
	}
	v.optional(p+".interface", lb.Interface, formInterface)
	if im := lb.Images; im != nil {
		v.optional(p+".images.haproxy", im.HAProxy, formImage)
		v.optional(p+".images.keepalived", im.Keepalived, formImage)
		v.optional(p+".images.kubeVip", im.KubeVIP, formImage)
	}
	if !v.oneOf(p+".mode", lb.Mode, ModeKeepalivedHAProxy, ModeKubeVIP, ModeLocalProxy, ModeExternal) {
		return
	}
	placementOK := v.oneOf(p+".placement", lb.Placement, PlacementMasters, PlacementDedicated)
	needsVIP := lb.Mode == ModeKeepalivedHAProxy || lb.Mode == ModeKubeVIP

	if needsVIP {
		if lb.VIP == "" {
			v.errorf(p+".vip", "set a free address on the masters' subnet for the VIP", "mode %s needs a vip", lb.Mode)
		} else if vipOK {
			for i, h := range c.Spec.Hosts {
				if h.Address == vip.String() || h.InternalAddress == vip.String() {
					v.errorf(p+".vip", "choose an address no host has: the VIP moves between hosts", "%s is the address of spec.hosts[%d] (%s)", vip, i, shown(h.Name))
				}
			}
		}
	} else {
		v.ignored(p+".vip", lb.VIP != "", lb.Mode)
		v.ignored(p+".interface", lb.Interface != "", lb.Mode)
	}
	if usesVRRP(lb.Mode) {
		v.inRange(p+".virtualRouterID", lb.VirtualRouterID)
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
			v.errorf(p+".address", "set the IP address of your SLB or F5 that forwards to every master's :6443", "mode external needs an address")
		} else if slbOK {
			for i, h := range c.Spec.Hosts {
				if h.Address == slb.String() || h.InternalAddress == slb.String() {
					v.errorf(p+".address", "the SLB must be its own address, not a host's", "%s is the address of spec.hosts[%d] (%s)", slb, i, shown(h.Name))
				}
			}
		}
	} else {
		v.ignored(p+".address", lb.Address != "", lb.Mode)
	}
	if lb.StaticPods && lb.Mode != ModeKeepalivedHAProxy {
		v.ignored(p+".staticPods", true, lb.Mode)
	}
	if im := lb.Images; im != nil {
		if (im.HAProxy != "" || im.Keepalived != "") && !lb.StaticPods {
			v.warnf(p+".images", "set staticPods: true, or remove it", "ignored unless staticPods is true")
		}
		if im.KubeVIP != "" && lb.Mode != ModeKubeVIP {
			v.ignored(p+".images.kubeVip", true, lb.Mode)
		}
	}
	if lb.Mode == ModeKubeVIP && c.Spec.ControlPlaneEndpoint.Port != APIServerPort {
		// kube-vip's own IPVS balancer (lb_enable) would forward another
		// port, but it needs ip_vs, which kubeha does not ask of the
		// masters' kernels.
		v.errorf("spec.controlPlaneEndpoint.port", fmt.Sprintf("set port: %d, or leave it out (%d is the default in mode kube-vip)", APIServerPort, APIServerPort),
			"kube-vip only moves the VIP: a client of the VIP reaches the holder's own apiserver, which listens on %d, not %d", APIServerPort, c.Spec.ControlPlaneEndpoint.Port)
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
	if x := e.External; x != nil {
		const p = "spec.etcd.external"
		for i, ep := range x.Endpoints {
			v.is(fmt.Sprintf("%s.endpoints[%d]", p, i), ep, formEtcdURL)
		}
		v.optional(p+".caFile", x.CAFile, formLocalPath)
		v.optional(p+".certFile", x.CertFile, formLocalPath)
		v.optional(p+".keyFile", x.KeyFile, formLocalPath)
	}
	if !v.oneOf("spec.etcd.topology", e.Topology, EtcdStacked, EtcdExternal) {
		return
	}
	etcdHosts := v.etcdHostPaths()
	if e.Topology == EtcdStacked {
		if e.External != nil {
			v.warnf("spec.etcd.external", "remove it, or set topology: external", "ignored with topology stacked")
		}
		for _, p := range etcdHosts {
			v.errorf(p, "set spec.etcd.topology: external for kubeha to build etcd on the hosts with role etcd, or give this host another role",
				"role etcd needs etcd topology external")
		}
		return
	}
	const p = "spec.etcd.external"
	if v.c.BuildsEtcd() {
		// kubeha builds etcd on the etcd hosts and issues the apiservers'
		// client certificate itself.
		switch n := len(etcdHosts); {
		case n == 0:
			v.errorf(p+".endpoints", "list every etcd member's client URL with caFile, certFile and keyFile, e.g. https://10.0.0.21:2379, "+
				"or add 3 hosts with role etcd for kubeha to build etcd on", "missing")
		case n%2 == 0 || n == 1:
			v.errorf("spec.hosts", "use 3 or 5 hosts with role etcd", "%s: etcd tolerates %s",
				count(n, "etcd host"), count((n-1)/2, "failed member"))
		case n > 5:
			v.warnf("spec.hosts", "use 3 or 5 hosts with role etcd, as etcd advises", "%s: every write waits for a majority of them", count(n, "etcd host"))
		}
		if x := e.External; x != nil && (x.CAFile != "" || x.CertFile != "" || x.KeyFile != "") {
			v.warnf(p, "remove caFile, certFile and keyFile, or list the endpoints of your own etcd",
				"ignored without endpoints: kubeha issues the client certificate of the etcd it builds")
		}
		return
	}
	for _, hp := range etcdHosts {
		v.errorf(hp, "remove spec.etcd.external.endpoints for kubeha to build etcd on the hosts with role etcd, or give this host another role",
			"role etcd is for an etcd cluster kubeha builds, but spec.etcd.external.endpoints names the operator's")
	}
	for _, f := range []struct{ name, val string }{{"caFile", e.External.CAFile}, {"certFile", e.External.CertFile}, {"keyFile", e.External.KeyFile}} {
		if f.val == "" {
			v.errorf(p+"."+f.name, "give the path of the file on this machine", "missing")
		}
	}
}

// etcdHostPaths are the YAML paths of the roles of the etcd hosts.
func (v *validator) etcdHostPaths() []string {
	var out []string
	for i, h := range v.c.Spec.Hosts {
		if h.Role == RoleEtcd {
			out = append(out, fmt.Sprintf("spec.hosts[%d].role", i))
		}
	}
	return out
}

func (v *validator) network() {
	n := v.c.Spec.Network
	const p = "spec.network"
	pod, podOK := v.cidr(p+".podSubnet", n.PodSubnet)
	svc, svcOK := v.cidr(p+".serviceSubnet", n.ServiceSubnet)
	if podOK && svcOK && pod.Overlaps(svc) {
		v.errorf(p+".serviceSubnet", "choose subnets that do not overlap", "%s overlaps podSubnet %s", svc, pod)
	}
	v.is(p+".dnsDomain", n.DNSDomain, formDNSDomain)
	v.oneOf(p+".kubeProxyMode", n.KubeProxyMode, ProxyModeIPVS, ProxyModeIPTables, ProxyModeNFTables)
	if fb := n.KubeProxyFallbackMode; fb != "" {
		if v.oneOf(p+".kubeProxyFallbackMode", fb, ProxyModeIPTables, ProxyModeNFTables) && n.KubeProxyMode != ProxyModeIPVS {
			v.warnf(p+".kubeProxyFallbackMode", "remove it: only ipvs needs a fallback", "ignored with kubeProxyMode %s", n.KubeProxyMode)
		}
	}

	// Any address the cluster routes to directly must not hide inside a
	// cluster CIDR, or traffic to it is captured by kube-proxy or the CNI.
	check := func(path, addr string) {
		a, msg := parseIP(addr)
		if msg != "" {
			return // not an address, or refused with its own problem
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
	v.optional(p+".podRoutes.interface", r.Interface, formInterface)
	if r.Gateway != "" {
		v.ip(p+".podRoutes.gateway", r.Gateway, formIP)
	}
	if r.Enabled {
		if r.Interface == "" && r.Gateway == "" {
			v.errorf(p+".podRoutes", "set interface, gateway or both (seed 003: via 192.168.20.1 dev eth1)", "enabled but neither interface nor gateway is set")
		}
	}
}

func (v *validator) cni() {
	c := v.c.Spec.CNI
	v.optional("spec.cni.manifest", c.Manifest, formLocalPath)
	v.cniPorts(c.Ports)
	if !v.oneOf("spec.cni.plugin", c.Plugin, CNIBridge, CNIManifest, CNINone) {
		return
	}
	if c.Plugin == CNIManifest && c.Manifest == "" {
		v.errorf("spec.cni.manifest", "give the path of the CNI manifest (e.g. calico.yaml); its default Pod CIDR is replaced by podSubnet", "plugin manifest needs a manifest")
	}
	if c.Plugin != CNIManifest && c.Manifest != "" {
		v.warnf("spec.cni.manifest", "remove it, or set plugin: manifest", "ignored with plugin %s", c.Plugin)
	}
	if c.Plugin != CNIManifest && len(c.Ports) > 0 {
		v.warnf("spec.cni.ports", "remove them, or set plugin: manifest", "ignored with plugin %s", c.Plugin)
	}
}

// cniPorts checks each of spec.cni.ports against its form, and refuses
// one that repeats or overlaps an earlier one: firewalld merges ports of
// a zone that overlap into one range, so at least one of the two would
// never be listed as written, and host-prep would try to open it again on
// every run.
func (v *validator) cniPorts(ports []string) {
	type port struct {
		r PortRange
		i int // the index in ports
	}
	var earlier []port
	for i, s := range ports {
		path := fmt.Sprintf("spec.cni.ports[%d]", i)
		if !v.is(path, s, formPort) {
			continue
		}
		r, _ := parsePortRange(s)
		for _, q := range earlier {
			if s == ports[q.i] {
				v.errorf(path, "list each port once", "%s is also spec.cni.ports[%d]", s, q.i)
				break
			}
			if r.Overlaps(q.r) {
				v.errorf(path, "list each port once: make the two one range, or ranges that do not overlap", "%s overlaps spec.cni.ports[%d] (%s)", s, q.i, ports[q.i])
				break
			}
		}
		earlier = append(earlier, port{r, i})
	}
}

// kubeadm checks the pass-through settings. Flag names and values and
// preflight check names have forms: kubeadm writes kubelet flags into
// kubeadm-flags.env, which systemd splits into the kubelet's argv.
//
// kubeletConfiguration and kubeProxyConfiguration stay free-form: kubeha
// only marshals them into kubeadm's configuration with the yaml.v3 encoder,
// which quotes any string that needs it (newlines included), so no value
// can add a key or a document. The one key kubeha itself reads,
// kubeletConfiguration.cgroupDriver, is checked.
func (v *validator) kubeadm() {
	k := v.c.Spec.Kubeadm
	const p = "spec.kubeadm"
	for _, m := range []struct {
		name string
		args map[string]string
	}{{"apiServerExtraArgs", k.APIServerExtraArgs}, {"kubeletExtraArgs", k.KubeletExtraArgs}} {
		keys := make([]string, 0, len(m.args))
		for key := range m.args {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			// The path names the key as written only when it is safe to
			// show; a refused key is named by its position.
			path := p + "." + m.name + "." + key
			if !argNameRE.MatchString(key) {
				path = fmt.Sprintf("%s.%s[%q]", p, m.name, key)
				v.errorf(path, formArgName.fix, "%s", formArgName.check(key))
				continue
			}
			v.is(path, m.args[key], formArgValue)
		}
	}
	v.optional(p+".patchesDir", k.PatchesDir, formLocalPath)
	for i, e := range k.IgnorePreflightErrors {
		v.is(fmt.Sprintf("%s.ignorePreflightErrors[%d]", p, i), e, formPreflight)
	}
	for i, san := range k.APIServerCertSANs {
		v.is(fmt.Sprintf("%s.apiServerCertSANs[%d]", p, i), san, formCertSAN)
	}
	if d, set := k.KubeletConfiguration["cgroupDriver"]; set {
		if s, ok := d.(string); !ok || (s != "systemd" && s != "cgroupfs") {
			v.errorf(p+".kubeletConfiguration.cgroupDriver", "use systemd or cgroupfs, the driver containerd uses", "unknown value %q", fmt.Sprint(d))
		}
	}
}

// shown is a host name as a message shows it: as written when it is a valid
// name, quoted (control characters escaped) otherwise.
func shown(name string) string {
	if isLabel(name) {
		return name
	}
	return strconv.Quote(name)
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}
