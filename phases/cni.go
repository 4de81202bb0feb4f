package phases

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// InstallCNI installs the pod network: the bridge plugin on each node's
// Pod CIDR slice (with the routes phase, a pod network without an overlay),
// or the operator's manifest with podSubnet substituted.
type InstallCNI struct{}

var _ Phase = (*InstallCNI)(nil)

func (InstallCNI) ID() string    { return "cni" }
func (InstallCNI) Title() string { return "Install the pod network (CNI)" }

func bridgeConf(podCIDR string) []byte {
	return []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "kubeha",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, podCIDR))
}

// cniPluginsScript makes Debian's plugins (/usr/lib/cni) visible where
// containerd looks for them (/opt/cni/bin), if they are not there already.
const cniPluginsScript = `set -e
if [ ! -x /opt/cni/bin/bridge ]; then
  if [ -x /usr/lib/cni/bridge ]; then mkdir -p /opt/cni/bin; for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done; echo "linked /usr/lib/cni plugins into /opt/cni/bin"
  else echo "CNI plugins missing: install containernetworking-plugins (bridge, host-local, portmap)" >&2; exit 3; fi
fi`

func (InstallCNI) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	w := Work{Reasons: map[string]string{}}
	switch c.Spec.CNI.Plugin {
	case inventory.CNINone:
		return w, nil
	case inventory.CNIManifest:
		cp, err := controlHost(ctx, env)
		if err != nil {
			return w, err
		}
		w.Targets = []string{cp.Name}
		data, err := manifest(c)
		if err != nil {
			return w, err
		}
		differ, err := env.filesDiffer(ctx, cp.Name, []fileSpec{{Path: manifestPath, Content: data}})
		if err != nil {
			return w, err
		}
		if len(differ) > 0 {
			w.Pending, w.Reasons[cp.Name] = []string{cp.Name}, "apply "+c.Spec.CNI.Manifest
		}
		return w, nil
	}
	cidrs, err := nodeCIDRs(ctx, env)
	if err != nil {
		return w, err
	}
	return ProbePending(ctx, env, nodeNames(c), func(ctx context.Context, host string) (string, error) {
		if cidrs[host] == "" {
			return "", fmt.Errorf("node %s has no Pod CIDR yet: is it joined, and does the controller-manager allocate node CIDRs?", host)
		}
		differ, err := env.filesDiffer(ctx, host, []fileSpec{{Path: BridgeConfPath, Content: bridgeConf(cidrs[host])}})
		if err != nil || len(differ) == 0 {
			return "", err
		}
		return "write " + BridgeConfPath + " for " + cidrs[host], nil
	})
}

// manifest reads the operator's CNI manifest and puts podSubnet where the
// common CNIs' defaults are (calico 192.168.0.0/16, flannel 10.244.0.0/16),
// as seed 001 does with sed.
func manifest(c *inventory.Cluster) ([]byte, error) {
	data, err := os.ReadFile(c.Spec.CNI.Manifest)
	if err != nil {
		return nil, fmt.Errorf("spec.cni.manifest: %w", err)
	}
	s := string(data)
	for _, def := range []string{"192.168.0.0/16", "10.244.0.0/16"} {
		s = strings.ReplaceAll(s, def, c.Spec.Network.PodSubnet)
	}
	return []byte(s), nil
}

func (InstallCNI) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	if c.Spec.CNI.Plugin == inventory.CNIManifest {
		data, err := manifest(c)
		if err != nil {
			return err
		}
		return ForEachHost(ctx, env, w.Pending, 1, func(ctx context.Context, host string) error {
			if _, err := env.putFiles(ctx, host, []fileSpec{{Path: manifestPath, Mode: 0o644, Content: data}}); err != nil {
				return err
			}
			_, err := env.ControlPlane.Kubectl(ctx, controlplane.Endpoint, "kubectl apply CNI manifest", applyManifestScript())
			return err
		})
	}
	cidrs, err := nodeCIDRs(ctx, env)
	if err != nil {
		return err
	}
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		if _, err := env.run(ctx, host, "CNI plugins", scripts.Legacy(cniPluginsScript)); err != nil {
			return err
		}
		_, err := env.putFiles(ctx, host, []fileSpec{{Path: BridgeConfPath, Mode: 0o644, Content: bridgeConf(cidrs[host])}})
		return err
	})
}

var _ CleanerUpper = InstallCNI{}

// cniCleanUp removes what the pod network left on a node once kubeadm
// reset has removed the pods: the bridge plugin's cni0 with any veth still
// on it (a cni0 left with the gateway address of the node's old Pod CIDR
// makes every pod sandbox of the next cluster fail there with "cni0 already
// has an IP address different from …"), the IP allocations and cached
// results of kubeha's network, the portmap plugin's CNI-HOSTPORT-* and
// CNI-DN-* chains (not CNI-FORWARD and its kind: podman's firewall plugin's), and
// kubeha's conflist. For a manifest CNI it removes what flannel and calico,
// the CNIs kubeha's manifest substitution knows, leave on a node; another
// CNI's node state is named in the reset's output as left.
func cniCleanUp(plugin string) string {
	remove := netfilterFuncs + `if [ -d /sys/class/net/cni0/brif ]; then
  for l in $(ls /sys/class/net/cni0/brif); do ip link del "$l" 2>/dev/null || true; done
fi
if ip link show cni0 >/dev/null 2>&1; then ip link del cni0 && echo "removed cni0"; fi
rm -rf /var/lib/cni/networks/kubeha /var/lib/cni/results/kubeha-* /var/lib/cni/cache/results/kubeha-*
drop_chains CNI-HOSTPORT-
drop_chains CNI-DN-
rm -f ` + BridgeConfPath + ` ` + manifestPath + `
`
	left := []leftover{
		{`ip link show cni0 >/dev/null 2>&1`, "the cni0 bridge"},
		{`[ -e /var/lib/cni/networks/kubeha ]`, "IP allocations in /var/lib/cni/networks/kubeha"},
		{`[ -e ` + BridgeConfPath + ` ]`, BridgeConfPath},
		chainsLeft("CNI-HOSTPORT-"), chainsLeft("CNI-DN-"),
	}
	if plugin == inventory.CNIManifest {
		remove += `for l in flannel.1 flannel-v6.1 vxlan.calico vxlan-v6.calico $(ls /sys/class/net | grep '^cali'); do
  if ip link show "$l" >/dev/null 2>&1; then ip link del "$l" && echo "removed $l"; fi
done
rm -rf /etc/cni/net.d/10-flannel.conflist /etc/cni/net.d/10-calico.conflist /etc/cni/net.d/calico-kubeconfig \
  /var/lib/cni/networks/cbr0 /var/lib/cni/networks/k8s-pod-network /run/flannel /var/lib/calico /var/run/calico
drop_chains cali-
drop_chains FLANNEL-
`
		left = append(left,
			leftover{`ip link show flannel.1 >/dev/null 2>&1 || ip link show vxlan.calico >/dev/null 2>&1`, "flannel's or calico's interface"},
			chainsLeft("cali-"), chainsLeft("FLANNEL-"))
	}
	return verifiedCleanUp(remove, left...)
}

// CleanUp removes the pod network's state from every node.
func (InstallCNI) CleanUp(ctx context.Context, env *Env) error {
	script := cniCleanUp(env.Cluster.Spec.CNI.Plugin)
	return ForEachHost(ctx, env, nodeNames(env.Cluster), 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove the pod network's state", scripts.Legacy(script))
		return err
	})
}

// earlyBridgeCNI writes host's bridge CNI config right after it joined,
// when the controller-manager has already given the node its Pod CIDR: the
// kubelet reports a node Ready only once a CNI config exists, and it looks
// every few seconds, so a config written as each node joins has the cluster
// Ready by the time verify asks, instead of seconds after the cni phase. It
// is best effort: the cni phase writes (or confirms) every node's config.
func earlyBridgeCNI(ctx context.Context, env *Env, host string) {
	if env.Cluster.Spec.CNI.Plugin != inventory.CNIBridge {
		return
	}
	// Straight to the control host's own apiserver: right after init the
	// endpoint may not route yet, and this must cost a second or two at
	// most.
	cidr, err := env.ControlPlane.NodeCIDR(ctx, host)
	if err != nil || cidr == "" {
		return
	}
	if _, err := env.quiet(ctx, host, "CNI plugins", scripts.Legacy(cniPluginsScript)); err != nil {
		return
	}
	if _, err := env.putFiles(ctx, host, []fileSpec{{Path: BridgeConfPath, Mode: 0o644, Content: bridgeConf(cidr)}}); err != nil {
		env.Log.ForHost(host).Warn("early CNI config: " + err.Error() + " (the cni phase writes it)")
	}
}
