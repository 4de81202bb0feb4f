package phases

import (
	"context"

	"github.com/kubeha/kubeha/inventory"
)

// View is what a phase computes its desired files from beyond the
// inventory: what only the hosts or the cluster know. Apply's view asks
// them; kubeha render's (OfflineView) answers with placeholders, so that
// Probe, Run and render compute every file by the same code and cannot
// disagree.
type View interface {
	// Cluster is the inventory.
	Cluster() *inventory.Cluster
	// Offline reports whether this is kubeha render's view: secrets are
	// placeholders and nothing is asked of any host.
	Offline() bool
	// ProxyMode is the kube-proxy mode the cluster gets: the inventory's,
	// or its fallback when a node lacks ip_vs.
	ProxyMode(ctx context.Context) (string, error)
	// Interface is the interface holding host's internal address.
	Interface(ctx context.Context, host string) (string, error)
	// PodCIDRs are the nodes' Pod CIDRs as the controller-manager
	// allocated them.
	PodCIDRs(ctx context.Context) (map[string]string, error)
	// ClusterExists reports whether kubeadm init has finished: a master
	// is a control-plane node already.
	ClusterExists(ctx context.Context) (bool, error)
}

// FileRenderer is implemented by every phase that writes files on hosts.
// Files is the phase's desired state: Probe compares it with the hosts,
// Run writes what differs, and `kubeha render` writes all of it to a
// directory, connecting to nothing. Secrets in an offline view's files are
// well-formed placeholders.
type FileRenderer interface {
	Files(ctx context.Context, v View) ([]HostFile, error)
}

// OfflineView is kubeha render's view of a cluster.
type OfflineView struct {
	C *inventory.Cluster
	// CIDRs stand in for the nodes' Pod CIDRs; nodes it lacks get
	// PodCIDRPlaceholder.
	CIDRs map[string]string
	// Initialised renders the files of a cluster that exists; by default
	// they are those of one about to be made (kube-vip's first master then
	// reads super-admin.conf).
	Initialised bool
}

var _ View = OfflineView{}

func (v OfflineView) Cluster() *inventory.Cluster { return v.C }
func (OfflineView) Offline() bool                 { return true }

// ProxyMode is the inventory's mode: whether a node lacks ip_vs is for
// the facts phase to find.
func (v OfflineView) ProxyMode(context.Context) (string, error) {
	return v.C.Spec.Network.KubeProxyMode, nil
}

// Interface is the inventory's VIP interface, or OfflineInterface where
// the facts phase would detect it.
func (v OfflineView) Interface(context.Context, string) (string, error) {
	if i := v.C.Spec.LoadBalancer.Interface; i != "" {
		return i, nil
	}
	return OfflineInterface, nil
}

// PodCIDRs are v.CIDRs, with PodCIDRPlaceholder for every other node.
func (v OfflineView) PodCIDRs(context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range nodeNames(v.C) {
		if c, ok := v.CIDRs[n]; ok {
			out[n] = c
		} else {
			out[n] = PodCIDRPlaceholder(n)
		}
	}
	return out, nil
}

// ClusterExists is v.Initialised.
func (v OfflineView) ClusterExists(context.Context) (bool, error) { return v.Initialised, nil }

// OfflineInterface stands for an interface the facts phase detects.
const OfflineInterface = "eth0"

// PodCIDRPlaceholder stands for node's Pod CIDR, which the
// controller-manager allocates when the node joins.
func PodCIDRPlaceholder(node string) string { return "POD-CIDR-OF-" + node }

// envView is apply's view: facts and Pod CIDRs from the hosts, gathered
// once per run where the phases already did.
type envView struct{ env *Env }

var _ View = envView{}

func (v envView) Cluster() *inventory.Cluster { return v.env.Cluster }
func (envView) Offline() bool                 { return false }
func (v envView) ProxyMode(ctx context.Context) (string, error) {
	return EffectiveProxyMode(ctx, v.env)
}
func (v envView) Interface(ctx context.Context, host string) (string, error) {
	if i := v.env.Cluster.Spec.LoadBalancer.Interface; i != "" {
		return i, nil
	}
	f, err := v.env.Facts.Get(ctx, v.env, host)
	if err != nil {
		return "", err
	}
	return f.Interface, nil
}
func (v envView) PodCIDRs(ctx context.Context) (map[string]string, error) {
	return nodeCIDRs(ctx, v.env)
}

// ClusterExists asks the masters' facts (kubeha's mark of a finished
// kubeadm init or control-plane join), as the kubeadm-init phase does.
func (v envView) ClusterExists(ctx context.Context) (bool, error) {
	_, done, err := initialised(ctx, v.env, false)
	return done, err
}

// View is the phase's view of the cluster in this run.
func (env *Env) View() View { return envView{env} }

// RenderAll returns the files of every phase in ps that renders files.
func RenderAll(ctx context.Context, ps []Phase, v View) ([]HostFile, error) {
	var out []HostFile
	for _, p := range ps {
		r, ok := p.(FileRenderer)
		if !ok {
			continue
		}
		files, err := r.Files(ctx, v)
		if err != nil {
			return nil, &PhaseError{Phase: p.ID(), Err: err}
		}
		out = append(out, files...)
	}
	return out, nil
}

// hostFileSpecs are the files of files that go on host, as putFiles and
// probe take them: how a phase's Probe and Run use its Files.
func hostFileSpecs(files []HostFile, host string) []fileSpec {
	var out []fileSpec
	for _, f := range files {
		if f.Host == host {
			out = append(out, fileSpec{Path: f.Path, Mode: f.Mode, Content: f.Content, Secret: f.Secret})
		}
	}
	return out
}
