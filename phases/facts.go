package phases

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// Facts is what kubeha knows of one host, gathered by one script.
type Facts struct {
	OSID, OSVersion string
	Init            string // PID 1's name: systemd is required
	SELinux         string // Enforcing, Permissive, Disabled or "" (none)
	SwapOn          bool
	Interface       string // the interface holding the host's internalAddress
	HasAddress      bool   // internalAddress is on this host
	Kubeadm         string // kubeadm version, "" when missing
	Kubelet         string // kubelet version, "" when missing
	Containerd      bool   // containerd socket present
	AdminConf       bool   // /etc/kubernetes/admin.conf exists
	KubeletConf     bool   // /etc/kubernetes/kubelet.conf exists
	// KubeadmFiles: kubeadm has written something here (kubeconfigs, the
	// CA, control-plane manifests), whether or not it finished.
	KubeadmFiles bool
	// NodeDone and ControlPlaneDone are kubeha's own marks, written only
	// after kubeadm init or join succeeded: admin.conf and kubelet.conf
	// appear early in kubeadm's run, so their presence does not say that a
	// run cut short (SIGKILL, power loss) got anywhere.
	NodeDone, ControlPlaneDone bool
	Firewalld                  bool // firewalld active
	Resolvers                  []string
	IPVS                       bool // ip_vs loaded or loadable
	// CNIUnlinked: the distribution's CNI plugins are in /usr/lib/cni
	// (Debian's containernetworking-plugins) and not in /opt/cni/bin,
	// where containerd looks for them; the cni phase links them there.
	CNIUnlinked bool
}

// Marks kubeha writes once kubeadm init or join succeeded on a host.
const (
	NodeMark         = "/etc/kubeha/node.done"
	ControlPlaneMark = "/etc/kubeha/control-plane.done"
)

// Interrupted reports whether kubeadm left files here without kubeha's
// mark: an init or join that was cut short.
func (f *Facts) Interrupted() bool { return f.KubeadmFiles && !f.NodeDone }

// LoopbackResolversOnly reports whether every nameserver in the host's
// /etc/resolv.conf is a loopback address (systemd-resolved's 127.0.0.53,
// docker's 127.0.0.11): pods that inherit it, CoreDNS first, query
// themselves in a loop.
func (f *Facts) LoopbackResolversOnly() bool {
	if len(f.Resolvers) == 0 {
		return false
	}
	for _, r := range f.Resolvers {
		if !strings.HasPrefix(r, "127.") && r != "::1" {
			return false
		}
	}
	return true
}

// factsData is the facts script's data.
type factsData struct {
	// Address, when set, is the host's internal address, set as KH_ADDR;
	// when empty the script expects KH_ADDR from its caller.
	Address                    string
	NodeMark, ControlPlaneMark string
}

// factsScript is the facts script (templates/phases/facts.sh.tmpl): it
// prints key=value lines for parseFacts, only reads, and starts as few
// processes as it can, for at scale every host's facts are gathered on
// every run. address is the host's internal address; "" leaves KH_ADDR to
// the caller.
func factsScript(address string) scripts.Script {
	return scripts.Render("phases/facts", factsData{Address: address, NodeMark: NodeMark, ControlPlaneMark: ControlPlaneMark})
}

// FactsScript is the facts script as a host runs it, prelude included,
// reading the host's internal address from KH_ADDR, which the caller sets
// before it. Exported so benchmarks can give other tools the exact work the
// facts phase does.
var FactsScript = factsScript("").String()

// FactStore holds the facts of each host for one run. Facts are gathered
// on first use, so a phase run alone (kubeha phase X) has them too, and
// gathered again only where a phase says it changed them, with Refresh:
// after the facts phase, the artifacts phase, host-prep (swap, SELinux;
// it forgets them), and each kubeadm init and join. Safe for concurrent
// use.
type FactStore struct {
	mu    sync.Mutex
	facts map[string]*Facts
}

// Get returns host's facts, gathering them when not yet known this run.
func (s *FactStore) Get(ctx context.Context, env *Env, host string) (*Facts, error) {
	if f := s.known(host); f != nil {
		return f, nil
	}
	return s.Refresh(ctx, env, host)
}

// Refresh gathers host's facts again: a phase changed what they say.
func (s *FactStore) Refresh(ctx context.Context, env *Env, host string) (*Facts, error) {
	script, err := factsCommand(env, host)
	if err != nil {
		return nil, err
	}
	res, err := env.quiet(ctx, host, "gather facts", script)
	if err != nil {
		return nil, err
	}
	f := parseFacts(res.Stdout)
	s.put(host, f)
	return f, nil
}

// forget drops host's facts: a phase changed the host, and the next Get
// gathers them again.
func (s *FactStore) forget(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.facts, host)
}

// known returns host's facts when gathered this run, else nil.
func (s *FactStore) known(host string) *Facts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.facts[host]
}

func (s *FactStore) put(host string, f *Facts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.facts == nil {
		s.facts = map[string]*Facts{}
	}
	s.facts[host] = f
}

// factsCommand is the facts script for host, with its address set.
func factsCommand(env *Env, host string) (scripts.Script, error) {
	h, ok := env.Cluster.Host(host)
	if !ok {
		return scripts.Script{}, fmt.Errorf("%s: not in the inventory", host)
	}
	return factsScript(h.InternalAddress), nil
}

func parseFacts(out string) *Facts {
	f := &Facts{}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "os":
			f.OSID = v
		case "osversion":
			f.OSVersion = v
		case "init":
			f.Init = v
		case "selinux":
			f.SELinux = v
		case "swap":
			f.SwapOn = v != "0" && v != ""
		case "iface":
			f.Interface, f.HasAddress = v, v != ""
		case "kubeadm":
			f.Kubeadm = v
		case "kubelet":
			f.Kubelet = v
		case "containerd":
			f.Containerd = v == "1"
		case "adminconf":
			f.AdminConf = v == "1"
		case "kubeletconf":
			f.KubeletConf = v == "1"
		case "kubeadmfiles":
			f.KubeadmFiles = v == "1"
		case "nodedone":
			f.NodeDone = v == "1"
		case "cpdone":
			f.ControlPlaneDone = v == "1"
		case "firewalld":
			f.Firewalld = v == "1"
		case "ipvs":
			f.IPVS = v == "1"
		case "cniunlinked":
			f.CNIUnlinked = v == "1"
		case "resolvers":
			f.Resolvers = strings.Fields(v)
		}
	}
	return f
}

// GatherFacts connects to every host, gathers its facts and refuses hosts
// kubeha cannot work on, each with the reason and the fix.
type GatherFacts struct{}

var _ Phase = (*GatherFacts)(nil)

func (GatherFacts) ID() string    { return "facts" }
func (GatherFacts) Title() string { return "Gather host facts" }

// Probe: facts are always gathered afresh; it is one cheap script per host.
func (GatherFacts) Probe(ctx context.Context, env *Env) (Work, error) {
	names := env.Cluster.HostNames()
	w := Work{Targets: names, Pending: names, Reasons: map[string]string{}}
	for _, h := range names {
		w.Reasons[h] = "gather facts"
	}
	return w, nil
}

func (GatherFacts) Inputs(c *inventory.Cluster) any { return c.Spec.Hosts }

func (GatherFacts) Run(ctx context.Context, env *Env, w Work) error {
	want := env.Cluster.Spec.KubernetesVersion
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		f, err := env.Facts.Refresh(ctx, env, host)
		if err != nil {
			return err
		}
		h, _ := env.Cluster.Host(host)
		var problems []string
		if f.Init != "systemd" {
			problems = append(problems, fmt.Sprintf("PID 1 is %q: kubeha needs systemd", f.Init))
		}
		if !f.HasAddress {
			problems = append(problems, fmt.Sprintf("no interface holds internalAddress %s: fix spec.hosts[].internalAddress", h.InternalAddress))
		} else if !inventory.IsInterfaceName(f.Interface) && env.Cluster.Spec.LoadBalancer.Interface == "" && runsVIP(env.Cluster, h) {
			// The name goes into keepalived.conf: a host does not get to
			// write config lines either.
			problems = append(problems, fmt.Sprintf("the interface holding %s is named %q, which kubeha will not write into a config: set spec.loadBalancer.interface", h.InternalAddress, f.Interface))
		}
		if runsKubelet(h) {
			if !f.Containerd {
				problems = append(problems, "containerd is not running (/run/containerd/containerd.sock missing): install and start containerd")
			}
			// With a bundle, the artifacts phase installs or replaces them.
			if env.Cluster.Spec.Artifacts == nil {
				if f.Kubeadm == "" || f.Kubelet == "" {
					problems = append(problems, "kubeadm or kubelet missing: install them, or set spec.artifacts to upload them from a bundle")
				} else if f.Kubeadm != want {
					problems = append(problems, fmt.Sprintf("kubeadm is %s, the inventory wants %s: install kubeadm %s, or set spec.artifacts to a bundle of %s (kubeha bundle create), from which an upgrade installs kubeadm, kubelet and kubectl node by node", f.Kubeadm, want, want, want))
				}
			}
		}
		log := env.Log.ForHost(host)
		if msg, fatal := ipvsCheck(env.Cluster, h, f); fatal {
			problems = append(problems, msg)
		} else if msg != "" {
			log.Warn(msg)
		}
		if len(problems) > 0 {
			return fmt.Errorf("unsupported host: %s", strings.Join(problems, "; "))
		}
		if _, set := env.Cluster.Spec.Kubeadm.KubeletConfiguration["resolvConf"]; f.LoopbackResolversOnly() && !set && isNode(h) {
			log.Warn(fmt.Sprintf("/etc/resolv.conf names only loopback nameservers (%s): CoreDNS will detect a forwarding loop and crash; set spec.kubeadm.kubeletConfiguration.resolvConf to a file with real upstreams (with systemd-resolved: /run/systemd/resolve/resolv.conf)", strings.Join(f.Resolvers, " ")))
		}
		log.Info(fmt.Sprintf("%s %s, %s, interface %s, kubeadm %s", f.OSID, f.OSVersion, f.Init, f.Interface, f.Kubeadm))
		return nil
	})
}

// ipvsModules are what kube-proxy's ipvs mode needs.
var ipvsModules = []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh"}

// ipvsCheck says what a node without ip_vs means for kube-proxy: nothing in
// other modes, a warning when the inventory names a fallback mode, and an
// error naming the modules otherwise.
func ipvsCheck(c *inventory.Cluster, h inventory.Host, f *Facts) (msg string, fatal bool) {
	n := c.Spec.Network
	if n.KubeProxyMode != inventory.ProxyModeIPVS || f.IPVS || !isNode(h) {
		return "", false
	}
	if n.KubeProxyFallbackMode != "" {
		return fmt.Sprintf("the kernel has no ip_vs: kube-proxy runs in %s mode cluster-wide (spec.network.kubeProxyFallbackMode)", n.KubeProxyFallbackMode), false
	}
	return fmt.Sprintf("kube-proxy mode ipvs needs kernel modules %s, which this kernel can neither load nor has built in: load them, or set spec.network.kubeProxyFallbackMode: iptables (or nftables)", strings.Join(ipvsModules, ", ")), true
}

// EffectiveProxyMode is the kube-proxy mode the cluster gets: the
// inventory's, or its fallback when any node lacks ip_vs.
func EffectiveProxyMode(ctx context.Context, env *Env) (string, error) {
	n := env.Cluster.Spec.Network
	if n.KubeProxyMode != inventory.ProxyModeIPVS || n.KubeProxyFallbackMode == "" {
		return n.KubeProxyMode, nil
	}
	// Every node's facts at once: one after another is a connect per host
	// in series when a phase runs alone.
	var mu sync.Mutex
	fallback := false
	err := fanOut(ctx, nodeNames(env.Cluster), max(env.Concurrency, 1), func(ctx context.Context, host string) error {
		f, err := env.Facts.Get(ctx, env, host)
		if err != nil {
			return err // fanOut names the host
		}
		if !f.IPVS {
			mu.Lock()
			fallback = true
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if fallback {
		return n.KubeProxyFallbackMode, nil
	}
	return n.KubeProxyMode, nil
}
