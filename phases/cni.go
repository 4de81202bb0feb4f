package phases

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// InstallCNI installs the pod network: the bridge plugin on each node's
// Pod CIDR slice (with the routes phase, a pod network without an overlay),
// or the operator's manifest with podSubnet substituted. Either way the
// distribution's CNI plugins are linked where containerd looks for them.
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
// containerd looks for them (/opt/cni/bin), if they are not there already
// (template phases/cni-plugins).
func cniPluginsScript() scripts.Script { return scripts.Render("phases/cni-plugins", nil) }

var _ FileRenderer = InstallCNI{}

// Files are the pod network's files: each node's bridge conflist on its
// Pod CIDR from the view (cni: bridge; a node without one yet has none), or
// the operator's manifest with podSubnet substituted on the first master
// (cni: manifest), the host kubeha render shows it on. Probe and Run take
// their files from cniFiles too, with the manifest on the control host they
// find.
func (InstallCNI) Files(ctx context.Context, v View) ([]HostFile, error) {
	first := ""
	if ms := v.Cluster().Masters(); len(ms) > 0 {
		first = ms[0].Name
	}
	return cniFiles(ctx, v, first)
}

// cniFiles are Files with the manifest, if any, on manifestHost.
func cniFiles(ctx context.Context, v View, manifestHost string) ([]HostFile, error) {
	c := v.Cluster()
	switch c.Spec.CNI.Plugin {
	case inventory.CNINone:
		return nil, nil
	case inventory.CNIManifest:
		data, err := manifest(c)
		if err != nil {
			return nil, err
		}
		return []HostFile{{Host: manifestHost, Path: manifestPath, Mode: 0o644, Content: data}}, nil
	}
	cidrs, err := v.PodCIDRs(ctx)
	if err != nil {
		return nil, err
	}
	var out []HostFile
	for _, n := range nodeNames(c) {
		if cidrs[n] != "" {
			out = append(out, HostFile{Host: n, Path: BridgeConfPath, Mode: 0o644, Content: bridgeConf(cidrs[n])})
		}
	}
	return out, nil
}

func (InstallCNI) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	w := Work{Reasons: map[string]string{}}
	switch c.Spec.CNI.Plugin {
	case inventory.CNINone:
		return w, nil
	case inventory.CNIManifest:
		return probeManifest(ctx, env)
	}
	v := env.View()
	cidrs, err := v.PodCIDRs(ctx)
	if err != nil {
		return w, err
	}
	files, err := cniFiles(ctx, v, "")
	if err != nil {
		return w, err
	}
	return ProbePending(ctx, env, nodeNames(c), func(ctx context.Context, host string) (string, error) {
		if cidrs[host] == "" {
			return "", fmt.Errorf("node %s has no Pod CIDR yet: is it joined, and does the controller-manager allocate node CIDRs?", host)
		}
		differ, err := env.filesDiffer(ctx, host, hostFileSpecs(files, host))
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

// linkPluginsReason is why a node needs the cni phase with a manifest
// CNI when its plugins are not where containerd looks.
const linkPluginsReason = "link the CNI plugins of /usr/lib/cni into /opt/cni/bin"

// probeManifest is Probe for cni: manifest. Every node is a target: one
// whose distribution put its CNI plugins in /usr/lib/cni and not where
// containerd looks (its facts say so) needs them linked, as with the
// bridge CNI, for flannel delegates each pod's interface to the bridge,
// host-local and portmap plugins and containerd itself needs loopback.
// The control host also needs the manifest applied when the copy kubeha
// uploaded there differs from the operator's, podSubnet substituted.
func probeManifest(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	cp, err := controlHost(ctx, env)
	if err != nil {
		return Work{}, err
	}
	files, err := cniFiles(ctx, env.View(), cp.Name)
	if err != nil {
		return Work{}, err
	}
	differ, err := env.filesDiffer(ctx, cp.Name, hostFileSpecs(files, cp.Name))
	if err != nil {
		return Work{}, err
	}
	return ProbePending(ctx, env, nodeNames(c), func(ctx context.Context, host string) (string, error) {
		f, err := env.Facts.Get(ctx, env, host)
		if err != nil {
			return "", err
		}
		var why []string
		if f.CNIUnlinked {
			why = append(why, linkPluginsReason)
		}
		if host == cp.Name && len(differ) > 0 {
			why = append(why, "apply "+c.Spec.CNI.Manifest)
		}
		return strings.Join(why, "; "), nil
	})
}

// runManifest is Run for cni: manifest: first the plugins linked on every
// pending node whose facts say they are not (none of the manifest's pods
// with a pod network can start on a node without them; its hostNetwork
// DaemonSet can), then, when the control host is pending, the manifest
// uploaded there and applied through the endpoint. A run the journal cannot
// vouch for has every node pending: the links are made only where missing,
// and the manifest is applied again, which changes nothing it already
// made.
func runManifest(ctx context.Context, env *Env, w Work) error {
	err := ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		f, err := env.Facts.Get(ctx, env, host)
		if err != nil || !f.CNIUnlinked {
			return err
		}
		if _, err := env.run(ctx, host, "CNI plugins", cniPluginsScript()); err != nil {
			return err
		}
		// The facts said the plugins were not linked: gathered again
		// when next asked.
		env.Facts.forget(host)
		return nil
	})
	if err != nil {
		return err
	}
	cp, err := controlHost(ctx, env)
	if err != nil {
		return err
	}
	if !slices.Contains(w.Pending, cp.Name) {
		return nil
	}
	return ForEachHost(ctx, env, []string{cp.Name}, 1, func(ctx context.Context, host string) error {
		files, err := cniFiles(ctx, env.View(), host)
		if err != nil {
			return err
		}
		if _, err := env.putFiles(ctx, host, hostFileSpecs(files, host)); err != nil {
			return err
		}
		_, err = env.ControlPlane.Kubectl(ctx, controlplane.Endpoint, "kubectl apply CNI manifest", applyManifestScript())
		return err
	})
}

func (InstallCNI) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	if c.Spec.CNI.Plugin == inventory.CNIManifest {
		return runManifest(ctx, env, w)
	}
	files, err := cniFiles(ctx, env.View(), "")
	if err != nil {
		return err
	}
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		if _, err := env.run(ctx, host, "CNI plugins", cniPluginsScript()); err != nil {
			return err
		}
		_, err := env.putFiles(ctx, host, hostFileSpecs(files, host))
		return err
	})
}

var _ CleanerUpper = InstallCNI{}

// cniCleanUpData is what phases/cni-cleanup removes beyond the bridge
// plugin's state: kubeha's conflist and manifest, and with ManifestCNI what
// flannel and calico leave.
type cniCleanUpData struct {
	BridgeConf, Manifest string
	ManifestCNI          bool
}

// cniCleanUp is the cni phase's verified clean-up script for plugin
// (template phases/cni-cleanup): it removes what the pod network left on a
// node once kubeadm reset has removed the pods, cni0 above all (a cni0 left
// with the old Pod CIDR's gateway address fails every pod sandbox of the
// next cluster on that node).
func cniCleanUp(plugin string) scripts.Script {
	return scripts.Render("phases/cni-cleanup", cniCleanUpData{
		BridgeConf: BridgeConfPath, Manifest: manifestPath, ManifestCNI: plugin == inventory.CNIManifest,
	})
}

// CleanUp removes the pod network's state from every node.
func (InstallCNI) CleanUp(ctx context.Context, env *Env) error {
	script := cniCleanUp(env.Cluster.Spec.CNI.Plugin)
	return ForEachHost(ctx, env, nodeNames(env.Cluster), 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove the pod network's state", script)
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
	if _, err := env.quiet(ctx, host, "CNI plugins", cniPluginsScript()); err != nil {
		return
	}
	if _, err := env.putFiles(ctx, host, []fileSpec{{Path: BridgeConfPath, Mode: 0o644, Content: bridgeConf(cidr)}}); err != nil {
		env.Log.ForHost(host).Warn("early CNI config: " + err.Error() + " (the cni phase writes it)")
	}
}

var _ JoinHooker = InstallCNI{}

// BeforeJoin: the pod network needs nothing before a join.
func (InstallCNI) BeforeJoin(context.Context, *Env, inventory.Host, bool) error { return nil }

// AfterJoin writes the node's bridge CNI config as soon as it has a Pod
// CIDR (earlyBridgeCNI); best effort, so never an error.
func (InstallCNI) AfterJoin(ctx context.Context, env *Env, h inventory.Host, _ bool) error {
	earlyBridgeCNI(ctx, env, h.Name)
	return nil
}

// applyManifestScript applies the CNI manifest that Run uploaded to the
// control host, through the endpoint.
func applyManifestScript() scripts.Script {
	return scripts.Render("phases/apply-manifest", struct{ Path string }{manifestPath})
}
