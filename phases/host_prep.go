package phases

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// Files host-prep owns.
const (
	SysctlPath  = "/etc/sysctl.d/99-kubeha.conf"
	ModulesPath = "/etc/modules-load.d/kubeha.conf"
	hostsBegin  = "# BEGIN kubeha"
	hostsEnd    = "# END kubeha"
	// hostsPath holds kubeha's block between hostsBegin and hostsEnd.
	hostsPath = "/etc/hosts"
	// HostsBlockPath is where Files puts that block: it is part of a file
	// kubeha does not own, so render shows the block alone. Host-prep
	// leaves /etc/hosts as every line outside an earlier block, then this
	// file's content (hosts-block.sh.tmpl); benchmarks check hosts by that.
	HostsBlockPath = "/etc/hosts.kubeha-block"
	// firewalldPortsPath lists the firewalld ports host-prep opened, so
	// that reset closes those and no port the operator had opened.
	firewalldPortsPath = "/etc/kubeha/firewalld-ports"
)

// PrepareHosts makes every host fit for kubeadm: kernel settings, modules,
// swap off now and at boot, SELinux permissive where it was enforcing,
// firewalld ports, and the endpoint name in /etc/hosts.
type PrepareHosts struct{}

var _ Phase = (*PrepareHosts)(nil)
var _ FileRenderer = (*PrepareHosts)(nil)

func (PrepareHosts) ID() string { return "host-prep" }
func (PrepareHosts) Title() string {
	return "Prepare hosts (sysctl, modules, swap, SELinux, /etc/hosts)"
}

// Modules returns the kernel modules host needs with kube-proxy in
// proxyMode.
func Modules(h inventory.Host, proxyMode string) []string {
	switch h.Role {
	case inventory.RoleLoadBalancer:
		return nil
	case inventory.RoleEtcd:
		// containerd's snapshotter; the member's pod has the host's
		// network, so nothing bridges or proxies there.
		return []string{"overlay"}
	}
	m := []string{"overlay", "br_netfilter"}
	if proxyMode == inventory.ProxyModeIPVS {
		m = append(append(m, ipvsModules...), "nf_conntrack")
	}
	return m
}

func sysctlFile(c *inventory.Cluster, h inventory.Host) []byte {
	var b strings.Builder
	b.WriteString("# Managed by kubeha.\n")
	if isNode(h) {
		b.WriteString("net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n")
	}
	if runsVIP(c, h) && c.Spec.LoadBalancer.Mode == inventory.ModeKeepalivedHAProxy {
		// haproxy binds the VIP's port on hosts that do not hold the VIP.
		// kube-vip binds nothing on the VIP: the apiserver listens on
		// every address.
		b.WriteString("net.ipv4.ip_nonlocal_bind = 1\n")
	}
	return []byte(b.String())
}

func modulesFile(h inventory.Host, proxyMode string) []byte {
	mods := Modules(h, proxyMode)
	if len(mods) == 0 {
		return []byte("# Managed by kubeha: no modules needed on this host.\n")
	}
	return []byte("# Managed by kubeha.\n" + strings.Join(mods, "\n") + "\n")
}

// runsVIP reports whether h takes part in VIP election.
func runsVIP(c *inventory.Cluster, h inventory.Host) bool {
	lb := c.Spec.LoadBalancer
	if lb.Mode != inventory.ModeKeepalivedHAProxy && lb.Mode != inventory.ModeKubeVIP {
		return false
	}
	for _, x := range c.LBHosts() {
		if x.Name == h.Name {
			return true
		}
	}
	return false
}

// EndpointAddress is where the endpoint name points on host h: the VIP, the
// local proxy, or the SLB, except that masters behind an SLB point it at
// themselves (the hairpin rule: a backend reaching itself through the SLB
// times out, seeds 000 and 001), and masters behind a local proxy on the
// apiserver's own port reach their own apiserver.
func EndpointAddress(c *inventory.Cluster, h inventory.Host) string {
	lb := c.Spec.LoadBalancer
	switch lb.Mode {
	case inventory.ModeLocalProxy:
		return "127.0.0.1"
	case inventory.ModeExternal:
		if h.Role == inventory.RoleMaster {
			return h.InternalAddress
		}
		return lb.Address
	default:
		return lb.VIP
	}
}

func hostsBlock(c *inventory.Cluster, addr string) string {
	return fmt.Sprintf("%s\n%s %s\n%s\n", hostsBegin, addr, c.Spec.ControlPlaneEndpoint.Name, hostsEnd)
}

// hostsData is the data of the hosts-block templates for the hosts file
// path: the same markers for reading and writing.
func hostsData(file, block string) any {
	return struct{ Hosts, Temp, Begin, End, Block string }{
		Hosts: file, Temp: path.Dir(file) + "/.hosts.kubeha-XXXXXX", Begin: hostsBegin, End: hostsEnd, Block: block}
}

// readHostsBlock prints kubeha's block of /etc/hosts, markers included, for
// the probe to compare byte for byte with hostsBlock; nothing when there is
// none.
func readHostsBlock() scripts.Script { return readHostsBlockIn(hostsPath) }

func readHostsBlockIn(file string) scripts.Script {
	return scripts.Render("phases/hosts-block-read", hostsData(file, ""))
}

// setHostsBlock replaces (or adds) kubeha's block in /etc/hosts with block,
// or removes it when block is "", leaving every other line alone. /etc/hosts
// is renamed into place, except where it is a bind mount (containers), which
// only an in-place write can change. It writes nothing when the block is
// already block, and prints "updated /etc/hosts" when it wrote.
func setHostsBlock(block string) scripts.Script { return setHostsBlockIn(hostsPath, block) }

func setHostsBlockIn(file, block string) scripts.Script {
	return scripts.Render("phases/hosts-block", hostsData(file, block))
}

// hostPrepData is the data of the host-prep template.
type hostPrepData struct {
	// Files are written by the script itself (HostPrepScript only).
	Files            []prepFile
	Modules          []string
	SysctlPath       string
	Firewalld, Hosts scripts.Script
}

type prepFile struct {
	Path, Temp, Content string
	Mode                os.FileMode
}

// prepScript turns swap off for good, relaxes SELinux, loads modules
// (treating built-in ones as present), applies the sysctl file, opens what
// the host needs in firewalld where it runs (firewalld, the template
// phases/firewalld with write) and sets the /etc/hosts block to block.
// Every step is a no-op when already done. files, for HostPrepScript, are
// written first.
func prepScript(mods []string, firewalld scripts.Script, block string, files []prepFile) scripts.Script {
	return scripts.Render("phases/host-prep", hostPrepData{Files: files, Modules: mods,
		SysctlPath: SysctlPath, Firewalld: firewalld, Hosts: setHostsBlock(block)})
}

// firewalldRule is one thing a host's role needs open in firewalld.
type firewalldRule struct {
	// Zone is "" for the zone of the interface that holds the host's
	// internal address (the default zone when it is in none).
	Zone string
	Kind string // port, protocol, source or forward, as firewall-cmd's --add-KIND
	// Value is what firewall-cmd's --add-KIND takes: 6443/tcp, vrrp, a
	// CIDR; "yes" for forward, which takes none.
	Value string
}

// firewalldRules is what h's role and the cluster's CNI need open where
// firewalld runs (kubeadm's "Ports and Protocols", the seeds' firewall-cmd
// lines), the ports first:
//   - masters: the apiserver, etcd's client and peer ports, the kubelet,
//     the controller-manager and the scheduler;
//   - workers: the kubelet and the NodePort range, TCP and UDP;
//   - etcd hosts: etcd's client and peer ports (their kubelet listens on
//     127.0.0.1 only);
//   - load-balancer holders: the endpoint's port, and VRRP (IP protocol
//     112) between keepalived peers; kube-vip needs only the apiserver's
//     6443 (its endpoint port), which masters have open already, as its
//     leader election goes through the apiserver and ARP is not filtered;
//   - every node, with a manifest CNI: the CNI's own ports, spec.cni.ports
//     (flannel's VXLAN 8472/udp), after the host's other ports and in
//     the inventory's order. One that a port before it opens already is
//     left out: the same port is nothing more to open, and one inside a
//     range firewalld refuses as enabled and never lists, so it would
//     never be found open, and reset, removing it, would cut a hole in
//     the range;
//   - every node: the Pod and Service CIDRs as sources of the node's own
//     zone, and forwarding within that zone. firewalld forwards a packet
//     only within one zone (or where a policy says so), and it puts a
//     forwarded packet in the zone of its source and the zone of its
//     destination: with the CIDRs in the trusted zone (k3s's advice), a
//     node's own request to a pod on another node, and a NodePort's
//     traffic to a pod, went from the node's zone to trusted and were
//     rejected (e2e TestDedicatedLoadBalancers). A policy from the node's
//     zone to trusted would do too, but a policy exists in the runtime
//     configuration only after a reload, which drops the operator's
//     runtime-only rules. In the node's zone, pods reach their node only
//     on the ports opened here, like any other client.
//
// The local proxy listens on 127.0.0.1 and needs nothing.
func firewalldRules(c *inventory.Cluster, h inventory.Host) []firewalldRule {
	var r []firewalldRule
	port := func(p string) { r = append(r, firewalldRule{Kind: "port", Value: p}) }
	switch h.Role {
	case inventory.RoleMaster:
		for _, p := range []string{fmt.Sprintf("%d/tcp", inventory.APIServerPort), "2379-2380/tcp", "10250/tcp", "10257/tcp", "10259/tcp"} {
			port(p)
		}
	case inventory.RoleWorker:
		for _, p := range []string{"10250/tcp", "30000-32767/tcp", "30000-32767/udp"} {
			port(p)
		}
	case inventory.RoleEtcd:
		port(fmt.Sprintf("%d-%d/tcp", inventory.EtcdClientPort, inventory.EtcdPeerPort))
	}
	vip := runsVIP(c, h)
	if vip && (h.Role != inventory.RoleMaster || c.Spec.ControlPlaneEndpoint.Port != inventory.APIServerPort) {
		port(fmt.Sprintf("%d/tcp", c.Spec.ControlPlaneEndpoint.Port))
	}
	if isNode(h) && c.Spec.CNI.Plugin == inventory.CNIManifest {
		// Beside the other ports: the script opens a run of rules of
		// one kind with one firewall-cmd.
		for _, p := range c.Spec.CNI.Ports {
			if !portOpened(r, p) {
				port(p)
			}
		}
	}
	if vip && c.Spec.LoadBalancer.Mode == inventory.ModeKeepalivedHAProxy {
		r = append(r, firewalldRule{Kind: "protocol", Value: "vrrp"})
	}
	if isNode(h) {
		for _, cidr := range []string{c.Spec.Network.PodSubnet, c.Spec.Network.ServiceSubnet} {
			if cidr != "" {
				r = append(r, firewalldRule{Kind: "source", Value: cidr})
			}
		}
		r = append(r, firewalldRule{Kind: "forward", Value: "yes"})
	}
	return r
}

// portOpened reports whether a port rule of rules opens p already: the
// same string, or a range that holds all of p. A p that is not a port
// (an inventory Validate has not seen) is compared as a string.
func portOpened(rules []firewalldRule, p string) bool {
	pr, ok := inventory.ParsePortRange(p)
	for _, x := range rules {
		if x.Kind != "port" {
			continue
		}
		if x.Value == p {
			return true
		}
		if xr, xok := inventory.ParsePortRange(x.Value); ok && xok && xr.Contains(pr) {
			return true
		}
	}
	return false
}

// firewalldData is the data of the phases/firewalld template.
type firewalldData struct {
	Address           string // the host's internal address: its zone is the zone ""
	Rules             []firewalldRule
	Record, RecordDir string // firewalldPortsPath and its directory
	Write             bool   // false: only print what is not open
}

// firewalldScript checks (write false: prints each rule of h's role that
// is not open, one a line) or opens what h's role needs in firewalld,
// where firewalld runs.
func firewalldScript(c *inventory.Cluster, h inventory.Host, write bool) scripts.Script {
	return scripts.Render("phases/firewalld", firewalldData{Address: h.InternalAddress, Rules: firewalldRules(c, h),
		Record: firewalldPortsPath, RecordDir: path.Dir(firewalldPortsPath), Write: write})
}

// hostFiles is host-prep's desired state on h with kube-proxy in
// proxyMode: its files, and kubeha's /etc/hosts block as HostsBlockPath.
func (PrepareHosts) hostFiles(c *inventory.Cluster, h inventory.Host, proxyMode string) []HostFile {
	return []HostFile{
		{Host: h.Name, Path: SysctlPath, Mode: 0o644, Content: sysctlFile(c, h)},
		{Host: h.Name, Path: ModulesPath, Mode: 0o644, Content: modulesFile(h, proxyMode)},
		{Host: h.Name, Path: HostsBlockPath, Mode: 0o644, Content: []byte(hostsBlock(c, EndpointAddress(c, h)))},
	}
}

// splitHostsBlock parts one host's hostFiles into the files kubeha writes
// whole and the /etc/hosts block.
func splitHostsBlock(files []HostFile) (specs []fileSpec, block string) {
	for _, f := range files {
		if f.Path == HostsBlockPath {
			block = string(f.Content)
			continue
		}
		specs = append(specs, fileSpec{Path: f.Path, Mode: f.Mode, Content: f.Content})
	}
	return specs, block
}

// Files is host-prep's desired state, with kube-proxy in the view's mode:
// Probe compares each host's part of it (hostFiles) with the host, Run
// writes what differs, and render writes it all. /etc/hosts is shown as
// the block kubeha manages in it (HostsBlockPath).
func (p PrepareHosts) Files(ctx context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	mode, err := v.ProxyMode(ctx)
	if err != nil {
		return nil, err
	}
	var out []HostFile
	for _, h := range c.Spec.Hosts {
		out = append(out, p.hostFiles(c, h, mode)...)
	}
	return out, nil
}

func (p PrepareHosts) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	mode, err := env.View().ProxyMode(ctx)
	if err != nil {
		return Work{}, err
	}
	return ProbePending(ctx, env, c.HostNames(), func(ctx context.Context, host string) (string, error) {
		h, _ := c.Host(host)
		files, block := splitHostsBlock(p.hostFiles(c, h, mode))
		pr, err := env.probe(ctx, host, files, readHostsBlock())
		if err != nil {
			return "", err
		}
		f := pr.Facts
		var why []string
		if len(pr.Differ) > 0 {
			why = append(why, "write "+strings.Join(pr.Differ, ", "))
		}
		if pr.Extra != block {
			why = append(why, "set the /etc/hosts block")
		}
		if f.SwapOn {
			why = append(why, "turn swap off")
		}
		if f.SELinux == "Enforcing" {
			why = append(why, "set SELinux permissive")
		}
		if f.Firewalld {
			res, err := env.quiet(ctx, host, "check firewalld", firewalldScript(c, h, false))
			if err != nil {
				return "", err
			}
			if closed := strings.TrimSpace(res.Stdout); closed != "" {
				why = append(why, "open in firewalld "+strings.Join(strings.Split(closed, "\n"), ", "))
			}
		}
		return strings.Join(why, "; "), nil
	})
}

func (p PrepareHosts) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	mode, err := env.View().ProxyMode(ctx)
	if err != nil {
		return err
	}
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		files, block := splitHostsBlock(p.hostFiles(c, h, mode))
		if _, err := env.putFiles(ctx, host, files); err != nil {
			return err
		}
		// One command for the steps; the facts it changes (swap, SELinux)
		// are gathered again when a later phase asks.
		if _, err := env.run(ctx, host, "prepare host and set the /etc/hosts block",
			prepScript(Modules(h, mode), firewalldScript(c, h, true), block, nil)); err != nil {
			return err
		}
		env.Facts.forget(host)
		return nil
	})
}

// CleanUp removes host-prep's files, its /etc/hosts block, what it opened
// in firewalld (only what it found closed), and kubeha's own directory
// (/etc/kubeha, where every phase keeps its files; host-prep is the first
// phase to write there and the last to be undone). Swap and SELinux are
// left as they are: turning them back on is the operator's call.
func (PrepareHosts) CleanUp(ctx context.Context, env *Env) error {
	script := hostPrepCleanUp()
	return ForEachHost(ctx, env, env.Cluster.HostNames(), 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove host prep", script)
		return err
	})
}

// hostPrepCleanUpData is what phases/host-prep-cleanup removes.
type hostPrepCleanUpData struct {
	FirewalldPorts             string
	Sysctl, Modules, ConfigDir string
	HostsBegin                 string
	// RemoveHostsBlock is the hosts script with an empty block.
	RemoveHostsBlock scripts.Script
}

// hostPrepCleanUp is host-prep's verified clean-up script (template
// phases/host-prep-cleanup). The firewalld ports come first: while one is
// still open the record of them stays and the script stops, naming the fix,
// so a later reset can close them.
func hostPrepCleanUp() scripts.Script {
	return scripts.Render("phases/host-prep-cleanup", hostPrepCleanUpData{
		FirewalldPorts: firewalldPortsPath,
		Sysctl:         SysctlPath, Modules: ModulesPath, ConfigDir: kubeadm.ConfigDir,
		HostsBegin:       hostsBegin,
		RemoveHostsBlock: setHostsBlock(""),
	})
}

// HostPrepScript is what host-prep does on host h, as one shell script,
// prelude included: its files written through a temp file and a rename,
// the prep steps, the /etc/hosts block, all from the same desired state and
// template as the phase. kubeha itself does not run it (it uploads the files
// and runs the steps separately); benchmarks give it to other tools so they
// do the same work.
func HostPrepScript(c *inventory.Cluster, h inventory.Host, proxyMode string) string {
	return hostPrepScript(c, h, proxyMode).String()
}

func hostPrepScript(c *inventory.Cluster, h inventory.Host, proxyMode string) scripts.Script {
	files, block := splitHostsBlock((PrepareHosts{}).hostFiles(c, h, proxyMode))
	var pf []prepFile
	for _, f := range files {
		pf = append(pf, prepFile{Path: f.Path, Temp: f.Path + ".kubeha-tmp", Content: string(f.Content), Mode: f.Mode})
	}
	return prepScript(Modules(h, proxyMode), firewalldScript(c, h, true), block, pf)
}

var _ JoinHooker = PrepareHosts{}

// joinThroughFirst reports whether a joining master must reach the
// endpoint through the first master: where host-prep points a master's
// endpoint name at the master itself (external SLB's hairpin rule, local
// proxy on 6443), its own apiserver does not exist until the join is done.
func joinThroughFirst(c *inventory.Cluster) bool {
	m := c.Masters()[0]
	return EndpointAddress(c, m) == m.InternalAddress || EndpointAddress(c, m) == "127.0.0.1"
}

// BeforeJoin points a joining master's endpoint name at the first master
// where the master's own would not answer yet (joinThroughFirst).
func (PrepareHosts) BeforeJoin(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) error {
	c := env.Cluster
	if !controlPlane || !joinThroughFirst(c) {
		return nil
	}
	_, err := env.run(ctx, h.Name, "point the endpoint at the first master for the join",
		setHostsBlock(hostsBlock(c, c.Masters()[0].InternalAddress)))
	return err
}

// AfterJoin points the endpoint name back where host-prep wants it, once
// the master's own apiserver answers.
func (PrepareHosts) AfterJoin(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) error {
	c := env.Cluster
	if !controlPlane || !joinThroughFirst(c) || h.Name == c.Masters()[0].Name {
		return nil
	}
	_, err := env.run(ctx, h.Name, "set /etc/hosts block", setHostsBlock(hostsBlock(c, EndpointAddress(c, h))))
	return err
}
