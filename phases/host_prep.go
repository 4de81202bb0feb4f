package phases

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// Files host-prep owns.
const (
	SysctlPath  = "/etc/sysctl.d/99-kubeha.conf"
	ModulesPath = "/etc/modules-load.d/kubeha.conf"
	hostsBegin  = "# BEGIN kubeha"
	hostsEnd    = "# END kubeha"
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
	if h.Role == inventory.RoleLoadBalancer {
		return nil
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
	if h.Role != inventory.RoleLoadBalancer {
		b.WriteString("net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n")
	}
	if runsVIP(c, h) {
		// haproxy binds the VIP's port on hosts that do not hold the VIP.
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

// readHostsBlock prints kubeha's block of /etc/hosts, markers included, as
// `sed -n '/^BEGIN$/,/^END$/p'` would, without starting a process.
var readHostsBlock = fmt.Sprintf(`p=0
while IFS= read -r l; do
  [ "$l" = %[1]s ] && p=1
  [ $p = 1 ] && printf '%%s\n' "$l"
  [ "$l" = %[2]s ] && p=0
done < /etc/hosts
true`, ssh.Quote(hostsBegin), ssh.Quote(hostsEnd))

func hostsBlock(c *inventory.Cluster, addr string) string {
	return fmt.Sprintf("%s\n%s %s\n%s\n", hostsBegin, addr, c.Spec.ControlPlaneEndpoint.Name, hostsEnd)
}

// hostsScript replaces (or adds) kubeha's block in /etc/hosts, leaving every
// other line alone. /etc/hosts is renamed into place, except where it is a
// bind mount (containers), which only an in-place write can change.
func hostsScript(block string) string {
	return fmt.Sprintf(`set -e
block=%s
cur=$(sed -n '/^%s$/,/^%s$/p' /etc/hosts)
if [ "$cur" = "$(printf '%%s' "$block" | sed '$ {/^$/d}')" ]; then exit 0; fi
tmp=$(mktemp /etc/.hosts.kubeha-XXXXXX)
trap 'rm -f "$tmp"' EXIT
sed '/^%s$/,/^%s$/d' /etc/hosts > "$tmp"
printf '%%s' "$block" >> "$tmp"
chmod 644 "$tmp"
if grep -q ' /etc/hosts ' /proc/self/mounts; then cat "$tmp" > /etc/hosts; else mv -f "$tmp" /etc/hosts; fi
echo "updated /etc/hosts"
`, ssh.Quote(block), hostsBegin, hostsEnd, hostsBegin, hostsEnd)
}

// prepScript turns swap off for good, relaxes SELinux, loads modules
// (treating built-in ones as present) and applies the sysctl file. Every step
// is a no-op when already done.
func prepScript(mods []string, ports []string) string {
	return fmt.Sprintf(`set -e
if [ "$(tail -n +2 /proc/swaps | wc -l)" != 0 ]; then swapoff -a; echo "swap turned off"; fi
if grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null; then
  sed -i -E 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# kubeha: \1/' /etc/fstab; echo "swap disabled in /etc/fstab"
fi
if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then
  setenforce 0
  sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/' /etc/selinux/config
  echo "SELinux set to permissive"
fi
present() {
  [ -d "/sys/module/$1" ] && return 0
  case "$1" in
    br_netfilter) [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ;;
    overlay) grep -qw overlay /proc/filesystems ;;
    ip_vs) [ -e /proc/net/ip_vs ] ;;
    *) return 1 ;;
  esac
}
missing=""
for m in %s; do
  present "$m" || modprobe "$m" 2>/dev/null || missing="$missing $m"
done
if [ -n "$missing" ]; then
  echo "kernel modules missing:$missing (not loadable and not built in); install them, or choose another spec.network.kubeProxyMode if these are the ip_vs modules" >&2
  exit 3
fi
sysctl -q -p %s >/dev/null
if systemctl is-active -q firewalld 2>/dev/null; then
  opened=""
  for p in %s; do
    if ! firewall-cmd -q --permanent --query-port="$p"; then
      # Recorded as soon as it is open, so reset closes it even if a later
      # port fails.
      mkdir -p %s; firewall-cmd -q --permanent --add-port="$p"; echo "$p" >> %s; opened="$opened $p"
    fi
  done
  if [ -n "$opened" ]; then firewall-cmd -q --reload; echo "firewalld ports opened:$opened"; fi
fi
`, strings.Join(mods, " "), SysctlPath, strings.Join(ports, " "), kubeadm.ConfigDir, firewalldPortsPath)
}

func firewallPorts(c *inventory.Cluster, h inventory.Host) []string {
	var p []string
	switch h.Role {
	case inventory.RoleMaster:
		p = append(p, "6443/tcp", "2379-2380/tcp", "10250/tcp", "10257/tcp", "10259/tcp")
	case inventory.RoleWorker:
		p = append(p, "10250/tcp", "30000-32767/tcp")
	}
	if runsVIP(c, h) {
		p = append(p, fmt.Sprintf("%d/tcp", c.Spec.ControlPlaneEndpoint.Port))
	}
	if len(p) == 0 {
		p = []string{"22/tcp"}
	}
	return p
}

func (PrepareHosts) files(c *inventory.Cluster, h inventory.Host, proxyMode string) []fileSpec {
	return []fileSpec{
		{Path: SysctlPath, Mode: 0o644, Content: sysctlFile(c, h)},
		{Path: ModulesPath, Mode: 0o644, Content: modulesFile(h, proxyMode)},
	}
}

// Files renders host-prep's files for `kubeha render`; /etc/hosts is shown
// as the block kubeha manages in it.
func (p PrepareHosts) Files(ctx context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	var out []HostFile
	for _, h := range c.Spec.Hosts {
		for _, f := range p.files(c, h, c.Spec.Network.KubeProxyMode) {
			out = append(out, HostFile{Host: h.Name, Path: f.Path, Mode: f.Mode, Content: f.Content})
		}
		out = append(out, HostFile{Host: h.Name, Path: "/etc/hosts.kubeha-block", Mode: 0o644, Content: []byte(hostsBlock(c, EndpointAddress(c, h)))})
	}
	return out, nil
}

func (p PrepareHosts) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	mode, err := EffectiveProxyMode(ctx, env)
	if err != nil {
		return Work{}, err
	}
	return ProbePending(ctx, env, c.HostNames(), func(ctx context.Context, host string) (string, error) {
		h, _ := c.Host(host)
		pr, err := env.probeHost(ctx, host, p.files(c, h, mode), readHostsBlock)
		if err != nil {
			return "", err
		}
		f := pr.Facts
		var why []string
		if len(pr.Differ) > 0 {
			why = append(why, "write "+strings.Join(pr.Differ, ", "))
		}
		if pr.Extra != hostsBlock(c, EndpointAddress(c, h)) {
			why = append(why, "set the /etc/hosts block")
		}
		if f.SwapOn {
			why = append(why, "turn swap off")
		}
		if f.SELinux == "Enforcing" {
			why = append(why, "set SELinux permissive")
		}
		return strings.Join(why, "; "), nil
	})
}

func (p PrepareHosts) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	mode, err := EffectiveProxyMode(ctx, env)
	if err != nil {
		return err
	}
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		if _, err := env.putFiles(ctx, host, p.files(c, h, mode)); err != nil {
			return err
		}
		// One command for the steps; the facts it changes (swap, SELinux)
		// are gathered again when a later phase asks.
		if _, err := env.run(ctx, host, "prepare host and set the /etc/hosts block",
			scripts.Legacy("set -e\n(\n"+prepScript(Modules(h, mode), firewallPorts(c, h))+")\n(\n"+hostsScript(hostsBlock(c, EndpointAddress(c, h)))+")")); err != nil {
			return err
		}
		env.Shared.Facts.forget(host)
		return nil
	})
}

// CleanUp removes host-prep's files, its /etc/hosts block, the firewalld
// ports it opened (only those it found closed), and kubeha's own directory
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
		RemoveHostsBlock: scripts.Legacy(hostsScript("")),
	})
}

// HostPrepScript is what host-prep does on host h, as one shell script: its
// files written through a temp file and a rename, the prep steps, the
// /etc/hosts block. kubeha itself does not run it (it uploads the files over
// SFTP and runs the steps separately); benchmarks give it to other tools so
// they do the same work.
func HostPrepScript(c *inventory.Cluster, h inventory.Host, proxyMode string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, f := range (PrepareHosts{}).files(c, h, proxyMode) {
		fmt.Fprintf(&b, "printf '%%s' %s > %s.kubeha-tmp && chmod %o %s.kubeha-tmp && mv -f %s.kubeha-tmp %s\n",
			ssh.Quote(string(f.Content)), f.Path, f.Mode, f.Path, f.Path, f.Path)
	}
	b.WriteString("(\n" + prepScript(Modules(h, proxyMode), firewallPorts(c, h)) + ")\n")
	b.WriteString("(\n" + hostsScript(hostsBlock(c, EndpointAddress(c, h))) + ")\n")
	return b.String()
}
